"""Full-app synth (every environment, four nag packs) vs an empty CDK app, timed in the same run."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Each synth runs in a fresh interpreter, as `cdk synth` does: jsii start-up is part of the cost.
FULL_APP = """
import json, sys
import aws_cdk as cdk
sys.path.insert(0, {root!r})
from app import build_app
context = json.loads(open({cdk_json!r}).read())["context"]
app = cdk.App(context=context, outdir=sys.argv[1])
build_app(app)
app.synth()
"""

EMPTY_APP = """
import sys
import aws_cdk as cdk
app = cdk.App(outdir=sys.argv[1])
cdk.Stack(app, "Empty")
app.synth()
"""


def use_pinned_node() -> None:
    """Run jsii (and any `cdk`) on the Node of package.json, as `make` does, also when a
    benchmark is started directly with python."""
    node_bin = ROOT / "node_modules" / ".bin"
    os.environ["PATH"] = f"{node_bin}{os.pathsep}{os.environ['PATH']}"
    os.environ.setdefault("JSII_NODE", str(node_bin / "node"))


def child_measures(source: str, *args: str) -> dict[str, float]:
    """Run `source` in a fresh interpreter as `python -c source <outdir> *args`, in a temporary
    output directory, and return the JSON object it prints last (its own measurements)."""
    with tempfile.TemporaryDirectory() as outdir:
        result = subprocess.run(
            [sys.executable, "-c", source, outdir, *args],
            check=True,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    measured: dict[str, float] = json.loads(result.stdout.splitlines()[-1])
    return measured


def time_synth(source: str) -> float:
    with tempfile.TemporaryDirectory() as outdir:
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", source, outdir], check=True, cwd=ROOT, capture_output=True
        )
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    use_pinned_node()
    full_source = FULL_APP.format(root=str(ROOT), cdk_json=str(ROOT / "cdk.json"))

    full, empty = [], []
    for _ in range(args.runs):  # interleaved, so drift in machine load hits both alike
        empty.append(time_synth(EMPTY_APP))
        full.append(time_synth(full_source))
    ratios = [f / e for f, e in zip(full, empty, strict=True)]
    result = {
        "runs": args.runs,
        "empty_app_median_s": round(statistics.median(empty), 2),
        "full_app_median_s": round(statistics.median(full), 2),
        "median_ratio_full_over_empty": round(statistics.median(ratios), 2),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
