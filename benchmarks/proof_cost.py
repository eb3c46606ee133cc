"""What the call-path proof adds to synth: the shipped app and 1,000 secrets, in one run.

    python benchmarks/proof_cost.py [--runs 3] [--secrets 1000]

Each run synthesizes in a fresh interpreter (as `cdk synth` does) and then runs the proof on
the assembly it wrote, timing both in that child; the ratio is proof time over synth time.
Targets (issue 18): at most 0.20 for the shipped app and 0.30 at 1,000 secrets.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.synth import ROOT, use_pinned_node

CHILD = """
import json, sys, time
from pathlib import Path
import aws_cdk as cdk
sys.path.insert(0, {root!r})
from app import build_app
from benchmarks.large_config import large_config
from strongbox.access.proof import check
context = json.loads(open({cdk_json!r}).read())["context"]
if len(sys.argv) > 2:
    context["strongbox"] = large_config(int(sys.argv[2]))
started = time.perf_counter()
app = cdk.App(context=context, outdir=sys.argv[1])
build_app(app)
app.synth()
synthesized = time.perf_counter()
proof = check(Path(sys.argv[1]))
checked = time.perf_counter()
assert proof.ok, proof.failures()[:5]
print(json.dumps([synthesized - started, checked - synthesized, len(proof.calls)]))
"""

TARGETS = {"shipped": 0.20, "secrets": 0.30}


def measure(secrets: int | None) -> tuple[float, float, int]:
    source = CHILD.format(root=str(ROOT), cdk_json=str(ROOT / "cdk.json"))
    with tempfile.TemporaryDirectory() as outdir:
        arguments = [sys.executable, "-c", source, outdir, *([str(secrets)] if secrets else [])]
        done = subprocess.run(arguments, check=True, cwd=ROOT, capture_output=True, text=True)
    synth, proof, calls = json.loads(done.stdout.strip().splitlines()[-1])
    return float(synth), float(proof), int(calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--secrets", type=int, default=1000)
    arguments = parser.parse_args()
    use_pinned_node()
    results = {}
    for name, secrets in (("shipped", None), ("secrets", arguments.secrets)):
        runs = [measure(secrets) for _ in range(arguments.runs)]
        ratio = statistics.median(proof / synth for synth, proof, _ in runs)
        results[name if secrets is None else f"{secrets}_secrets"] = {
            "calls": runs[0][2],
            "synth_median_s": round(statistics.median(r[0] for r in runs), 2),
            "proof_median_s": round(statistics.median(r[1] for r in runs), 2),
            "median_ratio_proof_over_synth": round(ratio, 3),
            "target": TARGETS[name],
            "within_target": ratio <= TARGETS[name],
        }
    print(json.dumps({"runs": arguments.runs, **results}, indent=2))


if __name__ == "__main__":
    main()
