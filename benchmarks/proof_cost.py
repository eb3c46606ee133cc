"""What the call-path proof adds to synth: the shipped app and 1,000 secrets, in one run.

    python benchmarks/proof_cost.py [--runs 3] [--secrets 1000]

Each run synthesizes in a fresh interpreter (as `cdk synth` does), once as shipped and once with
the declarations turned off (`declare_runtime` a no-op), interleaved; the shipped run then
proves the assembly it wrote, timed in the same child. The cost of the proof is what the
declarations add to synth plus the proof itself, over the synth without declarations.
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
import strongbox.access.declare
from strongbox.access.proof import check
declared = sys.argv[2] == "declared"
if not declared:
    original = strongbox.access.declare.declare_runtime
    for module in list(sys.modules.values()):
        if getattr(module, "declare_runtime", None) is original:
            module.declare_runtime = lambda scope, runtime: None
context = json.loads(open({cdk_json!r}).read())["context"]
if int(sys.argv[3]):
    context["strongbox"] = large_config(int(sys.argv[3]))
started = time.perf_counter()
app = cdk.App(context=context, outdir=sys.argv[1])
build_app(app)
app.synth()
synthesized = time.perf_counter()
proof = check(Path(sys.argv[1])) if declared else None
checked = time.perf_counter()
assert proof is None or proof.ok, proof.failures()[:5]
print(json.dumps([synthesized - started, checked - synthesized, len(proof.calls) if proof else 0]))
"""

TARGETS = {"shipped": 0.20, "secrets": 0.30}


def measure(secrets: int, *, declared: bool) -> tuple[float, float, int]:
    """(synth seconds, proof seconds, calls proven) of one synth in a fresh interpreter."""
    source = CHILD.format(root=str(ROOT), cdk_json=str(ROOT / "cdk.json"))
    with tempfile.TemporaryDirectory() as outdir:
        mode = "declared" if declared else "undeclared"
        arguments = [sys.executable, "-c", source, outdir, mode, str(secrets)]
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
    for name, secrets in (("shipped", 0), ("secrets", arguments.secrets)):
        with_proof, without = [], []
        for _ in range(arguments.runs):  # interleaved, so drift in load hits both alike
            without.append(measure(secrets, declared=False))
            with_proof.append(measure(secrets, declared=True))
        ratios = [
            (synth + proof - bare) / bare
            for (synth, proof, _), (bare, _, _) in zip(with_proof, without, strict=True)
        ]
        ratio = statistics.median(ratios)
        results["shipped" if not secrets else f"{secrets}_secrets"] = {
            "calls": with_proof[0][2],
            "synth_without_declarations_median_s": round(
                statistics.median(r[0] for r in without), 2
            ),
            "synth_with_declarations_median_s": round(
                statistics.median(r[0] for r in with_proof), 2
            ),
            "proof_median_s": round(statistics.median(r[1] for r in with_proof), 2),
            "median_ratio_added_over_synth": round(ratio, 3),
            "target": TARGETS[name],
            "within_target": ratio <= TARGETS[name],
        }
    print(json.dumps({"runs": arguments.runs, **results}, indent=2))


if __name__ == "__main__":
    main()
