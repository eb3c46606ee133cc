"""The test suite's wall time divided by one full default-config synth, measured in the same run.

    python benchmarks/suite_ratio.py    (or `make benchmark-suite`)

The suite must synthesize the app once and share it, not once per test. Target: under 4.
Also prints the test files that take the most time (setup + call + teardown, summed over the
workers, so they add up to more than the wall time when pytest runs on several cores; a file
that waited for the shared synth of the shipped app counts the wait in its setup).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.synth import FULL_APP, ROOT, time_synth, use_pinned_node

DURATION = re.compile(r"^\s*([\d.]+)s (?:setup|call|teardown)\s+(tests/[^:]+)::", re.MULTILINE)


def seconds_per_file(pytest_output: str, top: int = 8) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for seconds, test_file in DURATION.findall(pytest_output):
        totals[test_file] += float(seconds)
    ranked = sorted(totals.items(), key=lambda item: -item[1])[:top]
    return {test_file: round(seconds, 1) for test_file, seconds in ranked}


def main() -> None:
    use_pinned_node()
    synth = time_synth(FULL_APP.format(root=str(ROOT), cdk_json=str(ROOT / "cdk.json")))
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=0"],
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
                "slowest_files_s": seconds_per_file(result.stdout),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
