"""Where Strongbox's per-secret synth time goes, phase by phase, at 10 and 1,000 secrets.

    python benchmarks/per_secret_profile.py

One fresh interpreter per size and per variant (as `cdk synth` runs). Phases:
- build: `build_app`, Python and its jsii round trips (counted, and the time spent waiting on
  Node for them);
- synth: `app.synth()`, Node writing the templates and running the validation plugins (the four
  nag packs and the Guard rules); measured again with the plugins off, the difference is theirs;
- proof: `strongbox check` over what synth wrote.
Printed: each phase's milliseconds per added secret (1,000 minus 10, over 990).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.synth import ROOT, child_measures, use_pinned_node

SIZES = (10, 1000)

PHASES = """
import json, sys, time
sys.path.insert(0, {root!r})
import aws_cdk as cdk
import jsii._kernel.providers.process as process
calls = [0, 0.0]
send = process._NodeProcess.send
def counted(self, request, response_type):
    started = time.perf_counter()
    try:
        return send(self, request, response_type)
    finally:
        calls[0] += 1
        calls[1] += time.perf_counter() - started
process._NodeProcess.send = counted
import app as entry
from benchmarks.large_config import large_config
from strongbox.access.proof import check
from strongbox.synth import FAIL_SYNTH_ON_VALIDATION_ERRORS
if sys.argv[3] == "without-plugins":
    entry.add_compliance_plugins = lambda app: None
context = json.loads(open({cdk_json!r}).read())["context"]
context["strongbox"] = large_config(int(sys.argv[2]))
app = cdk.App(context={{**context, FAIL_SYNTH_ON_VALIDATION_ERRORS: False}}, outdir=sys.argv[1])
started = time.perf_counter()
entry.build_app(app)
built = time.perf_counter()
build_calls = list(calls)
from pathlib import Path
directory = Path(app.synth().directory)
synthesized = time.perf_counter()
check(directory)
proved = time.perf_counter()
print(json.dumps({{
    "build": built - started, "build_jsii_calls": build_calls[0],
    "build_jsii_wait": build_calls[1], "synth": synthesized - built, "proof": proved - synthesized,
}}))
"""


def phases(size: int, variant: str) -> dict[str, float]:
    source = PHASES.format(root=str(ROOT), cdk_json=str(ROOT / "cdk.json"))
    return child_measures(source, str(size), variant)


def main() -> None:
    use_pinned_node()
    runs = {
        (size, variant): phases(size, variant)
        for size in SIZES
        for variant in ("with-plugins", "without-plugins")
    }
    added = SIZES[1] - SIZES[0]

    def per_secret(variant: str, name: str, scale: float = 1000) -> float:
        return round(
            (runs[SIZES[1], variant][name] - runs[SIZES[0], variant][name]) / added * scale, 2
        )

    build_wait = per_secret("with-plugins", "build_jsii_wait")
    build = per_secret("with-plugins", "build")
    synth = per_secret("with-plugins", "synth")
    bare = per_secret("without-plugins", "synth")
    print(
        json.dumps(
            {
                "ms_per_added_secret": {
                    "build, Python side": round(build - build_wait, 2),
                    "build, waiting on jsii round trips": build_wait,
                    "synth, templates (Node)": bare,
                    "synth, validation plugins (nag packs and Guard)": round(synth - bare, 2),
                    "call-path proof": per_secret("with-plugins", "proof"),
                },
                "jsii_round_trips_per_added_secret": per_secret(
                    "with-plugins", "build_jsii_calls", 1
                ),
                "raw": {f"{size} {variant}": runs[size, variant] for size, variant in runs},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
