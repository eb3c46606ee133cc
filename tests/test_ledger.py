"""docs/COMPLIANCE.md is what the ledger generator writes for the shipped app, and it says what
matters: every acknowledgment and checkov skip with its reason, and the controls' evidence."""

from __future__ import annotations

from stacks.compliance_ledger import ledger
from tests.conftest import ROOT, Synthesized

LEDGER = ROOT / "docs" / "COMPLIANCE.md"


def test_ledger_is_current(synthesized: Synthesized) -> None:
    assert LEDGER.read_text() == ledger(synthesized.outdir), (
        "docs/COMPLIANCE.md is stale: run `make ledger` and commit it"
    )


def test_ledger_lists_acknowledgments_skips_and_controls(synthesized: Synthesized) -> None:
    text = ledger(synthesized.outdir)
    prod = text.split("## prod", 1)[1]
    dev = text.split("## dev", 1)[1].split("## staging", 1)[0]

    for control in ("SecretsManager.1", "SecretsManager.4", "KMS.1", "KMS.3", "KMS.4", "ECS.8"):
        assert f"| {control} " in prod
    assert "| KMS.4 (key rotation enabled) | 1 of 1 keys rotate yearly" in prod
    assert "1 keys and 1 replica keys; deletion policy Retain, pending window 30 days" in prod
    assert "3 of 5 secrets rotate" not in prod  # computed, not copied: prod has 2 rotating
    assert "2 of 5 secrets rotate" in prod
    assert (
        "| ECS.8 (secrets not in environment variables) | 1 task definitions, 0 environment" in prod
    )
    # An acknowledgment with its resource and reason; a dev-only one only in dev.
    assert (
        "| AwsSolutions-RDS11 | Strongbox-Prod/Database/Instance | A non-default port hides" in prod
    )
    assert "AwsSolutions-RDS10" in dev and "AwsSolutions-RDS10" not in prod
    # checkov skips per resource, narrowed by environment.
    assert "| CKV_AWS_157 | Strongbox-Dev/Database/InstanceC1063A87 |" in dev
    assert "CKV_AWS_157" not in prod
    assert "| CKV_AWS_27 | Strongbox-Prod/Secrets/TokenRotation" in prod
