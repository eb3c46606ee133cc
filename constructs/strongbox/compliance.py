"""The four cdk-nag packs as CDK validation plugins, and the one way to acknowledge a finding."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, PCIDSS321Checks

from constructs import IConstruct

COMPLIANCE_PACKS = (AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, PCIDSS321Checks)
GUARD_RULES = Path(__file__).parent / "guard"

# The findings each pack raises for a secret without a rotation schedule (PCI DSS 3.2.1 has none).
ROTATION_FINDINGS = (
    "AwsSolutions-SMG4",
    "HIPAA.Security-SecretsManagerRotationEnabled",
    "NIST.800.53.R5-SecretsManagerRotationEnabled",
)

_FINDING_ID = re.compile(
    r"^(AwsSolutions|HIPAA\.Security|NIST\.800\.53\.R5|PCI\.DSS\.321)-[A-Za-z0-9]+(\[[^\]]+\])?$"
    # CDK's CloudFormationValidatePlugin (cfn-lint rules), e.g. W3010.
    r"|^[EWI]\d{4}$"
)
_TEMPLATE_VALIDATION_ID = re.compile(r"^[EWI]\d{4}$")
# The form a failed synth prints ("Acknowledge with 'AwsSolutions::AwsSolutions-ECS4'"): the
# pack's name, then the rule id, which is what an acknowledgment takes.
_PRINTED_FORM = re.compile(
    r"^(?:AwsSolutions|HIPAA\.Security|NIST\.800\.53\.R5|PCI\.DSS\.321|CloudFormation-Validate)::"
)
# CDK files a bare id under "Annotation::", which cdk-nag honours but CloudFormationValidatePlugin
# does not: its findings are acknowledged under the plugin's own namespace.
_TEMPLATE_VALIDATION_NAMESPACE = "CloudFormation-Validate::"
MIN_REASON_LENGTH = 20


def add_compliance_plugins(app: cdk.App) -> None:
    """Register AwsSolutions, HIPAA Security, NIST 800-53 rev 5 and PCI DSS 3.2.1 (cdk-nag v3 API)
    and CDK's template validation with Strongbox's Guard rules (strongbox/guard/*.guard).

    With the plugins registered, synth fails on any finding that is not acknowledged.
    """
    cdk.Validations.of(app).add_plugins(
        *(pack(app) for pack in COMPLIANCE_PACKS),
        template_validation(),
    )


@functools.cache
def template_validation() -> cdk.CloudFormationValidatePlugin:
    """CDK's template validation with Strongbox's Guard rules, one per process.

    Each instance loads its own rule engine into the jsii process and keeps it (about 160 MB
    and 0.75 s). One instance serves any number of apps and reports each app's findings only,
    so a test suite that builds an app per test stays flat instead of growing into Node's heap
    limit.
    """
    return cdk.CloudFormationValidatePlugin(guard_rules=guard_rules())


def guard_rules() -> list[cdk.ValidationRuleSource]:
    """Strongbox's Guard rule files, for `cdk.CloudFormationValidatePlugin(guard_rules=...)`."""
    return [
        cdk.ValidationRuleSource(name=path.stem, content=path.read_text())
        for path in sorted(GUARD_RULES.glob("*.guard"))
    ]


def acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    """Acknowledge one exact finding (e.g. `AwsSolutions-IAM5[Resource::*]`) on `scope` and below.

    The reason is what a security reviewer reads: it must say why the finding does not apply.
    """
    acknowledge_all(scope, (finding,), reason)


def acknowledge_all(scope: IConstruct, findings: Sequence[str], reason: str) -> None:
    """`acknowledge` several findings (each pack's id for one problem) for the same reason.
    Every finding is checked before any is recorded."""
    if isinstance(findings, str) or not findings:
        raise ValueError(f"findings must be a non-empty list of rule ids, got {findings!r}")
    findings = [_PRINTED_FORM.sub("", finding) for finding in findings]
    if len(reason.strip()) < MIN_REASON_LENGTH:
        raise ValueError(
            f"the reason for acknowledging {', '.join(findings)} must explain why it does not "
            f"apply (at least {MIN_REASON_LENGTH} characters), got {reason!r}"
        )
    for finding in findings:
        if not _FINDING_ID.match(finding):
            raise ValueError(
                f"finding {finding!r} is not a cdk-nag rule id such as 'AwsSolutions-SMG4' or "
                "'AwsSolutions-IAM5[Resource::*]', nor a CloudFormation validation rule such as "
                "W3010"
            )
    # One call into jsii for all of them (a round trip each is most of a secret's synth cost).
    cdk.Validations.of(scope).acknowledge(
        *(
            cdk.Acknowledgment(
                id=_TEMPLATE_VALIDATION_NAMESPACE + finding
                if _TEMPLATE_VALIDATION_ID.match(finding)
                else finding,
                reason=reason.strip(),
            )
            for finding in findings
        )
    )
