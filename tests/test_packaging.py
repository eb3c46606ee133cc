"""Packaging: `constructs/` is a source root, never a package; the wheel ships `strongbox` only."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import ROOT


def test_constructs_resolves_to_the_pypi_package_not_the_source_folder() -> None:
    import importlib

    import constructs

    jsii_module = importlib.import_module("constructs._jsii")  # what a shadowing folder would hide

    assert not (ROOT / "constructs" / "__init__.py").exists()
    resolved = Path(constructs.__file__).resolve()
    assert "site-packages" in resolved.parts
    assert not resolved.is_relative_to(ROOT / "constructs")
    assert Path(jsii_module.__file__ or "").resolve().is_relative_to(resolved.parent)


def test_wheel_is_cdk_strongbox_with_strongbox_and_py_typed(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("cdk_strongbox-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = next(
            archive.read(n).decode() for n in names if n.endswith(".dist-info/METADATA")
        )
        entry_points = next(
            archive.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt")
        )

    assert {
        "strongbox/__init__.py",
        "strongbox/py.typed",
        "strongbox/keys.py",
        "strongbox/secrets.py",
        "strongbox/compliance.py",
        # The Lambda assets: synth of a RotationFunction, ParameterTree or
        # SecretReadingFunction needs them.
        "strongbox/rotation/handler.py",
        "strongbox/parameters/handler.py",
        "strongbox/reader/handler.py",
        # The Guard rules add_compliance_plugins loads.
        "strongbox/guard/strongbox.guard",
        # `strongbox report`: its price file and the console script.
        "strongbox/report/prices.json",
        "strongbox/cli.py",
    } <= names
    top_levels = {
        name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")
    }
    assert top_levels == {"strongbox"}, "only strongbox ships: no constructs/, stacks/ or tests/"
    assert "strongbox = strongbox.cli:main" in entry_points
    assert "Name: cdk-strongbox" in metadata
    assert "Requires-Dist: aws-cdk-lib<3,>=2.275.0" in metadata
    assert "Requires-Dist: cdk-nag<4,>=3.0.2" in metadata

    # Installed on its own (dependencies from this venv), it imports as `strongbox`.
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    probe = _run_installed(
        target, "import strongbox; from strongbox import ManagedSecret; print(strongbox.__file__)"
    )
    assert Path(probe).is_relative_to(target)

    # The installed report finds its packaged prices (a wheel without prices.json fails here).
    prices = _run_installed(
        target, "from strongbox.report.cost import load_prices; print(load_prices().as_of)"
    )
    assert prices == "2026-11-24"


def _run_installed(target: Path, code: str) -> str:
    """What `code` prints with only the installed wheel (and this venv's packages) importable."""
    completed = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        cwd=target.parent,
        check=True,
        capture_output=True,
        text=True,
    )
    return completed.stdout.strip()


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under `root` with its size and modification time."""
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in root.rglob("*")
    }


def _set_writable(root: Path, *, writable: bool) -> None:
    """chmod -R a-w (or u+w) `root`: as root the bits do not stop a write, the tree check does."""
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(
            mode | stat.S_IWUSR
            if writable
            else mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
        )


def test_building_a_wheel_writes_nothing_into_the_checkout(tmp_path: Path) -> None:
    """A read-only checkout (a CI cache, a vendored copy) builds: no build/ or egg-info in it."""
    checkout = tmp_path / "checkout"
    git = shutil.which("git") or "git"
    tracked = subprocess.run(
        [git, "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split("\0")
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, checkout / name)
    _set_writable(checkout, writable=False)
    before = _tree(checkout)
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--no-build-isolation",
                "--wheel-dir",
                str(tmp_path / "dist"),
                str(checkout),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        after = _tree(checkout)
    finally:
        _set_writable(checkout, writable=True)

    assert result.returncode == 0, result.stdout + result.stderr
    assert len(list((tmp_path / "dist").glob("cdk_strongbox-*.whl"))) == 1
    assert sorted(set(after) - set(before)) == [], "the build wrote into the checkout"
    assert after == before
