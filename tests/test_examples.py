"""examples/ as a user runs them: synthesized from an installed wheel (not this source tree), all
four compliance packs on, then proved: every declared call allowed, and each secret readable by
exactly the roles the example means to read it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import NODE_BIN, ROOT

EXAMPLES = ROOT / "examples"

# Secret name -> the roles (by construct id) that may read it; nothing else may.
READERS = {
    "quickstart": {
        "dev/shop/payment-token": ["CheckoutExecutionRole", "RefundsRole", "RotationRole"],
        "dev/shop/session-key": ["CheckoutExecutionRole"],
    },
    "custom_rotation": {
        "dev/shop/webhook-signing-key": ["SigningKeyRotationRole"],
    },
}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A virtualenv holding the wheel built from this checkout and its pinned dependencies
    only; its Python is the one the examples run with."""
    build = tmp_path_factory.mktemp("installed")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(build / "dist"), str(ROOT)],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = (build / "dist").glob("cdk_strongbox-*.whl")
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    venv = build / "venv"
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
         "--constraint", str(ROOT / "requirements.lock"), str(wheel)],
        check=True, capture_output=True,
    )  # fmt: skip
    yield venv


def run(venv: Path, *arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`arguments` with the virtualenv's tools, outside this checkout, on the pinned Node."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    environment.update(
        PATH=f"{venv / 'bin'}:{NODE_BIN}:{environment['PATH']}",
        JSII_NODE=str(NODE_BIN / "node"),
        CDK_OUTDIR=str(cwd / "cdk.out"),
        VIRTUAL_ENV=str(venv),
    )
    return subprocess.run(
        arguments, cwd=cwd, env=environment, capture_output=True, text=True, timeout=600
    )


def test_the_examples_import_strongbox_from_the_installed_wheel(
    installed: Path, tmp_path: Path
) -> None:
    shown = run(installed, "python", "-I", "-c", "import strongbox; print(strongbox.__file__)",
                cwd=tmp_path)  # fmt: skip

    assert shown.returncode == 0, shown.stderr
    assert Path(shown.stdout.strip()).is_relative_to(installed)


@pytest.mark.parametrize("example", sorted(READERS))
def test_example_synthesizes_clean_and_is_least_privilege(
    example: str, installed: Path, tmp_path: Path
) -> None:
    work = tmp_path / example
    shutil.copytree(EXAMPLES / example, work)
    synth = run(installed, "python", "-I", "app.py", cwd=work)
    assert synth.returncode == 0, synth.stderr[-3000:]
    assert "Traceback" not in synth.stderr

    proof = run(installed, "strongbox", "check", "cdk.out", cwd=work)
    assert proof.returncode == 0, proof.stdout
    counts = proof.stdout.strip().splitlines()[-1]
    assert re.search(
        r": (\d+) allowed, 0 denied, 0 unknown; .* 0 undeclared readers; 0 stack", counts
    )

    report = run(installed, "strongbox", "report", "cdk.out", "--format", "json", cwd=work)
    assert report.returncode == 0, report.stderr
    readers = {
        secret["name"]: sorted(
            re.sub(r"^.*/[A-Za-z]+-|[0-9A-F]{8}-<generated>$", "", reader["principal"])
            for reader in secret["readers"]
        )
        for environment in json.loads(report.stdout)["environments"]
        for secret in environment["environment"]["secrets"]
    }
    assert readers == READERS[example]
