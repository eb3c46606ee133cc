"""The test suite's wall time divided by one full default-config synth, measured in the same run.

    python benchmarks/suite_ratio.py    (or `make benchmark-suite`)

The suite must synthesize the app once and share it, not once per test. Target: under 4.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.synth import FULL_APP, ROOT, time_synth


def main() -> None:
    node_bin = ROOT / "node_modules" / ".bin"
    os.environ["PATH"] = f"{node_bin}{os.pathsep}{os.environ['PATH']}"
    os.environ.setdefault("JSII_NODE", str(node_bin / "node"))
    synth = time_synth(FULL_APP.format(root=str(ROOT), cdk_json=str(ROOT / "cdk.json")))
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    suite = time.perf_counter() - started
    print(
        json.dumps(
            {
                "full_synth_s": round(synth, 2),
                "suite_s": round(suite, 1),
                "suite_passed": result.returncode == 0,
                "ratio_suite_over_synth": round(suite / synth, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
