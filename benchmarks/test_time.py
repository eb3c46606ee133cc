"""`make test` wall time, warm and on a fresh clone, each against its target, in one run.

    python benchmarks/test_time.py [--skip-warm-up]    (or `make benchmark-test-time`)

Warm: `make test` in this checkout (its working tree as it is), timed on the second of two runs;
the first only warms the venvs, node_modules and the mypy, pytest and bytecode caches
(`--skip-warm-up` times the first run when the checkout is known to be warm). Target 180 s.

Fresh: `git clone` of HEAD (committed work only) into a temporary directory and `make test`
there: no venvs, node_modules, mypy or bytecode caches. Package caches are as on a machine that
has installed these packages before (a developer's laptop, CI with a cached package directory):
uv's and npm's caches (and pip's, for uv itself) are this user's, warm. jsii's cache of unpacked
npm packages starts empty, as it does on a new machine. Target 360 s.

Takes about 12 minutes on 2 cores: run it on an otherwise idle machine. Logs stay in the
temporary directory it prints.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WARM_TARGET_S = 180.0
FRESH_TARGET_S = 360.0


@dataclass(frozen=True)
class Timing:
    name: str
    seconds: float
    target: float
    passed: bool
    log: Path

    def line(self) -> str:
        ratio = self.seconds / self.target
        verdict = "within target" if ratio <= 1 else "OVER TARGET"
        tests = "" if self.passed else f"; make test FAILED, see {self.log}"
        return (
            f"{self.name}: {self.seconds:.0f} s, target {self.target:.0f} s, "
            f"ratio {ratio:.2f} ({verdict}){tests}"
        )


def clean_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This shell's environment without what a parent make or pytest put in it: a checkout's
    Makefile sets its own PATH entries and JSII_NODE."""
    ours = {str(ROOT / "node_modules" / ".bin"), str(ROOT / ".venv" / "bin")}
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"MAKEFLAGS", "MAKELEVEL", "MFLAGS", "JSII_NODE", "VIRTUAL_ENV"}
        and not key.startswith("PYTEST")
    }
    environment["PATH"] = os.pathsep.join(
        entry for entry in os.environ.get("PATH", "").split(os.pathsep) if entry not in ours
    )
    return {**environment, **(extra or {})}


def make_test(checkout: Path, log: Path, environment: dict[str, str]) -> tuple[float, bool]:
    """Seconds `make test` took in `checkout`, and whether it passed; its output goes to `log`."""
    make = shutil.which("make") or "make"
    started = time.perf_counter()
    with log.open("w") as output:
        result = subprocess.run(
            [make, "test"],
            cwd=checkout,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            check=False,
        )
    return time.perf_counter() - started, result.returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--skip-warm-up", action="store_true", help="time the first run in this checkout"
    )
    arguments = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="strongbox-test-time-"))
    print(f"strongbox: logs in {workdir}", flush=True)

    if not arguments.skip_warm_up:
        print("strongbox: warming up: make test in this checkout (untimed)", flush=True)
        make_test(ROOT, workdir / "warm-up.log", clean_environment())
    print("strongbox: timing make test in this checkout (warm)", flush=True)
    seconds, passed = make_test(ROOT, workdir / "warm.log", clean_environment())
    warm = Timing("make test, warm", seconds, WARM_TARGET_S, passed, workdir / "warm.log")
    print(warm.line(), flush=True)

    clone = workdir / "clone"
    git = shutil.which("git") or "git"
    subprocess.run(
        [git, "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)],
        check=True,
    )
    head = subprocess.run(
        [git, "rev-parse", "--short", "HEAD"],
        cwd=clone,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    print(f"strongbox: timing make test in a fresh clone of {head}", flush=True)
    jsii_cache = workdir / "jsii-package-cache"
    seconds, passed = make_test(
        clone,
        workdir / "fresh.log",
        clean_environment({"JSII_RUNTIME_PACKAGE_CACHE_ROOT": str(jsii_cache)}),
    )
    fresh = Timing(
        f"make test, fresh clone of {head}", seconds, FRESH_TARGET_S, passed, workdir / "fresh.log"
    )

    print()
    print(warm.line())
    print(fresh.line())
    shutil.rmtree(clone, ignore_errors=True)  # venvs and node_modules: about 1 GB
    shutil.rmtree(jsii_cache, ignore_errors=True)
    return 0 if all(t.passed and t.seconds <= t.target for t in (warm, fresh)) else 1


if __name__ == "__main__":
    sys.exit(main())
