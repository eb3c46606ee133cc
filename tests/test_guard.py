"""Strongbox's Guard rules (strongbox/guard/*.guard) at synth: each fails the template that
breaks it with its message, and passes what Strongbox builds."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager

from strongbox.compliance import template_validation
from tests.conftest import feature_flag_app, stripe_secret

ACCOUNT = "333333333333"
REASON = "Rotated by the provider's dashboard; tracked by the owning team."
Violations = set[tuple[str, str, str]]  # (rule, construct id, message)


def guard_violations(build: Callable[[cdk.Stack], object], outdir: Path) -> Violations:
    """Synthesize what `build` adds to a stack with only the Guard rules registered."""
    app = feature_flag_app(outdir=str(outdir))
    cdk.Validations.of(app).add_plugins(template_validation())
    stack = cdk.Stack(app, "Guarded", env=cdk.Environment(account=ACCOUNT, region="eu-west-1"))
    build(stack)
    try:
        app.synth()
    except RuntimeError as error:
        assert "ValidationFailed" in str(error)
    report = json.loads((outdir / "validation-report.json").read_text())
    return {
        (violation["ruleName"], construct["constructPath"].split("/")[1], message)
        for plugin in report["pluginReports"]
        for violation in plugin["violations"]
        if violation["ruleName"] != "W3010"
        for construct in violation["violatingConstructs"]
        for message in [_message(violation["description"])]
    }


def _message(description: str) -> str:
    """The rule's message without the property path the engine may put first."""
    path, _, message = description.partition(": ")
    return message if message and " " not in path else description


def plain_secret(stack: cdk.Stack, id_: str, **properties: object) -> None:
    secret = secretsmanager.CfnSecret(stack, id_, **properties)  # type: ignore[arg-type]
    secret.cfn_options.metadata = {"StrongboxRotation": {"DisabledReason": REASON}}


CASES: list[tuple[str, Callable[[cdk.Stack], object], tuple[str, str, str]]] = [
    (
        "secret without a key",
        lambda s: plain_secret(s, "NoKey", generate_secret_string={}),
        (
            "secrets_use_a_customer_managed_key",
            "NoKey",
            "A secret without KmsKeyId is encrypted with the AWS-managed key: give it a "
            "customer-managed key",
        ),
    ),
    (
        "secret with the AWS-managed key",
        lambda s: plain_secret(s, "AwsKey", kms_key_id="alias/aws/secretsmanager"),
        (
            "secrets_use_a_customer_managed_key",
            "AwsKey",
            "A secret uses an AWS-managed key (alias/aws/...): give it a customer-managed key",
        ),
    ),
    (
        "secret with a literal value",
        lambda s: plain_secret(
            s,
            "Literal",
            kms_key_id="alias/payments/prod/secrets",
            secret_string="hunter2",  # noqa: S106
        ),
        (
            "secrets_use_a_customer_managed_key",
            "Literal",
            "A secret has a literal SecretString: its value would be in the template; generate it",
        ),
    ),
    (
        "secret that neither rotates nor says why",
        lambda s: secretsmanager.CfnSecret(s, "Silent", kms_key_id="alias/payments/secrets"),
        (
            "secrets_rotate_or_say_why",
            "Silent",
            "A secret neither rotates nor says why: add a rotation schedule or a "
            "rotation_disabled_reason",
        ),
    ),
    (
        "key policy with an unconditioned wildcard principal",
        lambda s: kms.CfnKey(
            s,
            "OpenKey",
            key_policy={
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "*"},
                        "Action": "kms:*",
                        "Resource": "*",
                    }
                ],
            },
        ),
        (
            "key_policy_wildcards_have_conditions",
            "OpenKey",
            "A key policy statement with a wildcard principal has no condition",
        ),
    ),
    (
        "task environment named like a credential",
        lambda s: ecs.FargateTaskDefinition(s, "Task").add_container(
            "app",
            image=ecs.ContainerImage.from_registry("example.invalid/app:1"),
            environment={"LOG_LEVEL": "INFO", "DB_PASSWORD": "from-config"},
        ),
        (
            "task_environment_holds_no_credentials",
            "Task",
            "An ECS environment variable is named like a credential: pass it in the secrets block",
        ),
    ),
    (
        "task environment holding an access key",
        lambda s: ecs.FargateTaskDefinition(s, "Task").add_container(
            "app",
            image=ecs.ContainerImage.from_registry("example.invalid/app:1"),
            environment={"UPLOADER": "AKIAIOSFODNN7EXAMPLE"},  # AWS's documented example id
        ),
        (
            "task_environment_holds_no_credentials",
            "Task",
            "An ECS environment value looks like a credential: pass it in the secrets block",
        ),
    ),
    (
        "log group without a key",
        lambda s: logs.LogGroup(s, "Logs", retention=logs.RetentionDays.ONE_YEAR),
        (
            "log_groups_are_encrypted_and_kept",
            "Logs",
            "A log group is not encrypted with a customer-managed key",
        ),
    ),
    (
        "log group kept forever",
        lambda s: logs.CfnLogGroup(s, "Forever", kms_key_id="arn:aws:kms:eu-west-1:1:key/x"),
        (
            "log_groups_are_encrypted_and_kept",
            "Forever",
            "A log group keeps its events forever: set a retention",
        ),
    ),
]


@pytest.mark.parametrize(("build", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_rule_fails_the_template_that_breaks_it(
    tmp_path: Path, build: Callable[[cdk.Stack], object], expected: tuple[str, str, str]
) -> None:
    assert expected in guard_violations(build, tmp_path)


def test_what_strongbox_builds_passes(tmp_path: Path) -> None:
    def build(stack: cdk.Stack) -> None:
        stripe_secret(stack, encrypts_log_groups=True)
        ecs.FargateTaskDefinition(stack, "Task").add_container(
            "app",
            image=ecs.ContainerImage.from_registry("example.invalid/app:1"),
            environment={"LOG_LEVEL": "INFO"},
        )

    assert guard_violations(build, tmp_path) == set()
