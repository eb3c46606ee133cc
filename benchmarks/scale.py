"""Synth time and peak memory of one environment with 10, 100 and 1,000 secrets.

    python benchmarks/scale.py [--runs 3]    (or `make benchmark-scale`)

Each synth runs in a fresh interpreter, as `cdk synth` does, with the four nag packs. The sizes
are interleaved run by run so drift in machine load hits all of them alike. Printed: the median
time and peak memory (the largest process of the synth, which is Node) per size, the median marginal
cost per secret between sizes, and the ratio of the 1,000-secret synth to the 10-secret synth
measured in the same run. Targets: ratio under 4; growth linear, not quadratic (the marginal
cost per secret from 100 to 1,000 no more than twice that from 10 to 100).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.synth import ROOT, use_pinned_node

SIZES = (10, 100, 1000)

SYNTH = """
import json, sys
import aws_cdk as cdk
sys.path.insert(0, {root!r})
from app import build_app
from benchmarks.large_config import large_config
context = json.loads(open({cdk_json!r}).read())["context"]
context["strongbox"] = large_config(int(sys.argv[2]))
app = cdk.App(context=context, outdir=sys.argv[1])
build_app(app)
app.synth()
"""


# Runs one synth in a child and prints the largest resident set of its processes (the synth's
# Python and the Node process jsii starts), so each synth's peak is measured on its own.
MEASURE = """
import resource, subprocess, sys
subprocess.run([sys.executable, "-c", sys.argv[1], *sys.argv[2:]], check=True, capture_output=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def synth(source: str, secrets: int) -> tuple[float, float]:
    """(seconds, MiB of the largest process) for one synth with `secrets` generated."""
    with tempfile.TemporaryDirectory() as outdir:
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", MEASURE, source, outdir, str(secrets)],
            check=True,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        return time.perf_counter() - started, int(result.stdout.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    use_pinned_node()
    source = SYNTH.format(root=str(ROOT), cdk_json=str(ROOT / "cdk.json"))

    times: dict[int, list[float]] = {size: [] for size in SIZES}
    memory: dict[int, list[float]] = {size: [] for size in SIZES}
    ratios = []
    for _ in range(args.runs):
        run: dict[int, float] = {}
        for size in SIZES:
            seconds, mebibytes = synth(source, size)
            run[size] = seconds
            times[size].append(seconds)
            memory[size].append(mebibytes)
        ratios.append(run[1000] / run[10])
    median = {size: statistics.median(values) for size, values in times.items()}
    low = (median[100] - median[10]) / 90
    high = (median[1000] - median[100]) / 900
    print(
        json.dumps(
            {
                "runs": args.runs,
                "median_seconds": {str(s): round(median[s], 2) for s in SIZES},
                "peak_mib_largest_process": {
                    str(s): round(statistics.median(memory[s])) for s in SIZES
                },
                "marginal_ms_per_secret_10_to_100": round(low * 1000, 1),
                "marginal_ms_per_secret_100_to_1000": round(high * 1000, 1),
                "growth_high_over_low": round(high / low, 2) if low > 0 else None,
                "median_ratio_1000_over_10": round(statistics.median(ratios), 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
