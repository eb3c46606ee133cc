"""Compliance from day one: four cdk-nag packs with zero unacknowledged findings, cfn-lint clean."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager

from strongbox import acknowledge, acknowledge_all, add_compliance_plugins
from strongbox.compliance import ROTATION_FINDINGS, template_validation
from tests.conftest import ROOT, Synthesized, cfn_lint_ignored_checks, read_violations


def test_no_unacknowledged_findings(synthesized: Synthesized) -> None:
    findings = synthesized.findings()
    described = "\n".join(f"{v['plugin']}: {v['rule']} at {v['path']}" for v in findings)
    assert not findings, f"unacknowledged findings:\n{described}"
    assert synthesized.synth_error is None


def test_cfn_lint_ignores_are_the_documented_ones() -> None:
    assert cfn_lint_ignored_checks() == {"W3010", "W3005"}


def _app_with_one_unrotated_secret(outdir: Path, reason: str | None) -> list[dict[str, str]]:
    app = cdk.App(outdir=str(outdir))
    add_compliance_plugins(app)
    stack = cdk.Stack(app, "Probe", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    secret = secretsmanager.Secret(stack, "Secret")
    if reason:
        for finding in ROTATION_FINDINGS:
            acknowledge(secret, finding, reason)
    try:
        app.synth()
    except RuntimeError as failure:
        assert "ValidationFailed" in str(failure)
    return [{"plugin": v["plugin"], "rule": v["rule"]} for v in read_violations(outdir)]


def test_packs_are_active_and_fail_synth_on_a_finding(tmp_path: Path) -> None:
    rules = {v["rule"] for v in _app_with_one_unrotated_secret(tmp_path, reason=None)}
    # Every pack that has a rotation rule reports it; PCI DSS reports the missing CMK.
    assert {*ROTATION_FINDINGS, "PCI.DSS.321-SecretsManagerUsingKMSKey"} <= rules


def test_apps_share_one_template_validation_and_see_only_their_own_findings(
    tmp_path: Path,
) -> None:
    first = _app_with_one_unrotated_secret(tmp_path / "first", reason=None)
    calls = template_validation.cache_info()
    app = cdk.App(outdir=str(tmp_path / "second"))
    add_compliance_plugins(app)
    stack = cdk.Stack(app, "Probe", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    logs.LogGroup(stack, "Logs")  # no key: a Guard finding of its own
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    second = [
        {"plugin": v["plugin"], "rule": v["rule"]} for v in read_violations(tmp_path / "second")
    ]

    assert {"secrets_rotate_or_say_why", "secrets_use_a_customer_managed_key"} <= _guard(first)
    assert _guard(second) == {"log_groups_are_encrypted_and_kept"}
    # The second app reused the first one's plugin: no second rule engine in the jsii process.
    after = template_validation.cache_info()
    assert (after.hits - calls.hits, after.currsize) == (1, 1)


def _guard(violations: list[dict[str, str]]) -> set[str]:
    """The rules the template-validation plugin reported, cfn-lint's ignored warnings aside."""
    return {
        v["rule"]
        for v in violations
        if v["plugin"] == "CloudFormation Validate" and v["rule"] not in cfn_lint_ignored_checks()
    }


def test_acknowledgment_clears_exactly_the_named_findings(tmp_path: Path) -> None:
    rules = {
        v["rule"]
        for v in _app_with_one_unrotated_secret(
            tmp_path, reason="Rotated by the provider's own API."
        )
    }
    assert not rules & set(ROTATION_FINDINGS)
    assert "PCI.DSS.321-SecretsManagerUsingKMSKey" in rules, "other findings stay"


@pytest.mark.parametrize(
    ("finding", "reason", "message"),
    [
        ("SMG4", "Rotated by the provider's own API.", "is not a cdk-nag rule id"),
        ("AwsSolutions-SMG4", "n/a", "must explain why it does not apply"),
    ],
)
def test_acknowledge_requires_a_rule_id_and_a_reason(
    finding: str, reason: str, message: str
) -> None:
    stack = cdk.Stack(cdk.App(), "Probe")
    with pytest.raises(ValueError, match=message):
        acknowledge(stack, finding, reason)


def _acknowledged(stack: cdk.Stack) -> list[Any]:
    return [m.data for m in stack.node.metadata if m.type == "aws:cdk:acknowledged-rules"]


def test_acknowledge_all_records_each_finding_with_the_reason() -> None:
    stack = cdk.Stack(cdk.App(), "Probe")
    acknowledge_all(stack, ROTATION_FINDINGS, "  Rotated by the provider's own API.  ")
    assert _acknowledged(stack) == [
        {f"Annotation::{finding}": "Rotated by the provider's own API."}
        for finding in ROTATION_FINDINGS
    ]


@pytest.mark.parametrize("findings", ["AwsSolutions-SMG4", ()])
def test_acknowledge_all_needs_a_list_of_findings(findings: Any) -> None:
    stack = cdk.Stack(cdk.App(), "Probe")
    with pytest.raises(ValueError, match="findings must be a non-empty list of rule ids"):
        acknowledge_all(stack, findings, "Rotated by the provider's own API.")
    assert _acknowledged(stack) == []


def test_acknowledge_all_acknowledges_nothing_when_one_finding_is_bad() -> None:
    stack = cdk.Stack(cdk.App(), "Probe")
    with pytest.raises(ValueError, match="'SMG4' is not a cdk-nag rule id"):
        acknowledge_all(stack, ("AwsSolutions-SMG4", "SMG4"), "Rotated by the provider's own API.")
    assert _acknowledged(stack) == []


def cfn_lint_findings(synthesized: Synthesized, stacks: Iterable[str] | None = None) -> list[str]:
    """cfn-lint over every template of the assembly (or of `stacks`), each with its region."""
    templates_by_region: dict[str, list[str]] = defaultdict(list)
    chosen = set(synthesized.stacks if stacks is None else stacks)
    for stack in synthesized.stacks.values():
        if stack.name not in chosen:
            continue
        (template,) = synthesized.outdir.rglob(f"{stack.artifact_id}.template.json")
        templates_by_region[stack.region].append(str(template))

    findings = []
    for region, templates in templates_by_region.items():
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "cfn-lint"),
                "--format",
                "json",
                "--regions",
                region,
                "--",
                *templates,
            ],
            cwd=ROOT,  # picks up the checked-in .cfnlintrc.yaml
            capture_output=True,
            text=True,
        )
        matches = json.loads(result.stdout or "[]")
        findings += [
            f"{m['Rule']['Id']} {m['Filename']}:{m['Location']['Path']}: {m['Message']}"
            for m in matches
        ]
        if not matches:
            assert result.returncode == 0, result.stderr
    return findings


def test_cfn_lint_reports_nothing(synthesized: Synthesized) -> None:
    assert cfn_lint_findings(synthesized) == []
