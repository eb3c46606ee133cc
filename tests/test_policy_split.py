"""The shipped app with more grants than one managed policy holds: a workload reading 120
parameters and 60 secrets rotated by one function spread them over further policies of the same
roles, each within IAM's limit, and the compliance packs and the call-path proof still pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.limits import breaches
from strongbox.cli import main
from tests.conftest import Synthesized, cdk_json_context, synthesize

PURPOSE_LENGTH = 63  # the longest purpose the config accepts: about 33 grants fit one policy


@pytest.fixture(scope="module")
def crowded(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    context = cdk_json_context()
    prod = context["strongbox"]["environments"]["prod"]
    prod["secrets"] += [
        {
            "purpose": f"rot-{index:02d}-" + "k" * (PURPOSE_LENGTH - 7),
            "kind": "api-key",
            "owner": "team-partners",
            "description": "A partner's API key, rotated by Strongbox",
            "rotation": {"schedule": "rate(30 days)"},
        }
        for index in range(60)
    ]
    prod["parameters"] += [
        {"name": f"app/setting-{index:03d}", "type": "String", "value": "on", "consumers": ["api"]}
        for index in range(120)
    ]
    context["env"] = "prod"
    return synthesize(context, tmp_path_factory.mktemp("crowded"))


def policies_by_owner(synthesized: Synthesized, stack: str, prefix: str) -> dict[str, int]:
    """How many managed policies each construct whose logical ids start `prefix` has."""
    counts: dict[str, int] = {}
    for logical_id in synthesized.stack(stack).resources("AWS::IAM::ManagedPolicy"):
        if logical_id.startswith(prefix):
            owner = logical_id[: logical_id.index("Policy")]
            counts[owner] = counts.get(owner, 0) + 1
    return counts


def test_grants_spread_over_policies_within_every_limit(crowded: Synthesized) -> None:
    found, _ = breaches(crowded.outdir)

    assert found == []
    # The session signing key's function (a generation of its own), and the partners' one.
    rotation = policies_by_owner(crowded, "Strongbox-Prod/Secrets", "TokenRotation")
    assert sorted(rotation.values()) == [1, 2]
    assert policies_by_owner(crowded, "Strongbox-Prod/Workload", "Secrets") == {"Secrets": 3}


def test_split_policies_pass_the_packs_and_the_proof(
    crowded: Synthesized, capsys: pytest.CaptureFixture[str]
) -> None:
    assert crowded.synth_error is None
    assert crowded.findings() == []
    status = main(["check", str(Path(crowded.outdir))])
    counts = capsys.readouterr().out.splitlines()[-1]
    assert status == 0, counts
    assert "0 denied, 0 unknown" in counts
