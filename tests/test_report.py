"""`strongbox report`: who can read, inventory, findings and bad input, on known templates."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from strongbox.assembly.resolver import Resolver, read_assembly
from strongbox.cli import _diagram_names, main
from strongbox.report.analysis import analyse
from strongbox.report.cost import Assumptions, load_prices
from strongbox.report.diagram import dot, graph, mermaid
from strongbox.report.inventory import Environment, Secret, environments
from strongbox.report.render import as_markdown
from tests.conftest import ROOT, Synthesized

HOME = "111111111111"
OTHER = "222222222222"
REGION = "eu-west-1"
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{HOME}:secret:app/db-??????"
KEY_ARN = f"arn:aws:kms:{REGION}:{HOME}:key/Home.Key"
READER_ARN = f"arn:aws:iam::{HOME}:role/reader"
ADMIN_ARN = f"arn:aws:iam::{HOME}:role/admin"


def _allow(actions: str | list[str], resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resource, **extra}


def _read_and_decrypt(resource: Any = None) -> list[dict[str, Any]]:
    """What a reader's identity policy needs: the secret, and the key through Secrets Manager."""
    return [
        _allow("secretsmanager:GetSecretValue", resource or {"Ref": "Secret"}),
        _allow("kms:Decrypt", {"Fn::GetAtt": ["Key", "Arn"]}),
    ]


def _key(*statements: dict[str, Any]) -> dict[str, Any]:
    return {
        "Type": "AWS::KMS::Key",
        "Properties": {"KeyPolicy": {"Version": "2012-10-17", "Statement": list(statements)}},
    }


def _delegating_key(account: str = HOME) -> dict[str, Any]:
    """The default CDK key policy shape: the account root may use the key (IAM decides)."""
    return _key(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    )


def _role(name: str, statements: list[dict[str, Any]], **properties: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "RoleName": name,
            "AssumeRolePolicyDocument": {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ]
            },
            "Policies": [{"PolicyName": "read", "PolicyDocument": {"Statement": statements}}],
            **properties,
        },
    }


def _secret(**properties: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::SecretsManager::Secret",
        "Properties": {"Name": "app/db", "KmsKeyId": {"Fn::GetAtt": ["Key", "Arn"]}, **properties},
        "Metadata": {"StrongboxRotation": {"DisabledReason": "issued by a partner"}},
    }


def _home() -> dict[str, Any]:
    """The home account's key (delegating to the account) and the secret it encrypts."""
    return {"Key": _delegating_key(), "Secret": _secret()}


def _resource_policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {
        "Type": "AWS::SecretsManager::ResourcePolicy",
        "Properties": {
            "SecretId": {"Ref": "Secret"},
            "ResourcePolicy": {"Version": "2012-10-17", "Statement": list(statements)},
        },
    }


def _write_assembly(directory: Path, stacks: dict[str, tuple[str, dict[str, Any]]]) -> Path:
    """A cloud assembly of top-level stacks: name -> (account, resources)."""
    directory.mkdir(parents=True, exist_ok=True)
    artifacts = {}
    for name, (account, resources) in stacks.items():
        (directory / f"{name}.template.json").write_text(json.dumps({"Resources": resources}))
        artifacts[name] = {
            "type": "aws:cloudformation:stack",
            "environment": f"aws://{account}/{REGION}",
            "properties": {"templateFile": f"{name}.template.json", "stackName": name},
        }
    (directory / "manifest.json").write_text(
        json.dumps({"version": "55.0.0", "artifacts": artifacts})
    )
    return directory


def _environments(
    tmp_path: Path, stacks: dict[str, tuple[str, dict[str, Any]]]
) -> list[Environment]:
    return list(environments(Resolver(read_assembly(_write_assembly(tmp_path / "out", stacks)))))


def _only_secret(tmp_path: Path, resources: dict[str, Any]) -> Secret:
    (environment,) = _environments(tmp_path, {"Home": (HOME, resources)})
    (secret,) = environment.secrets
    return secret


def _readers(secret: Secret) -> dict[str, tuple[str, ...]]:
    return {reader.principal: reader.conditions for reader in secret.readers}


def test_identity_policy_and_delegating_key_make_a_reader(tmp_path: Path) -> None:
    secret = _only_secret(
        tmp_path,
        {
            **_home(),
            "Reader": _role("reader", _read_and_decrypt()),
            "Bystander": _role("bystander", [_allow("s3:GetObject")]),
        },
    )
    assert secret.arn == SECRET_ARN
    assert secret.key == KEY_ARN
    assert _readers(secret) == {READER_ARN: ()}
    assert secret.delegated_accounts == (HOME,)


def test_allowed_by_iam_but_not_by_the_key_policy_is_not_a_reader(tmp_path: Path) -> None:
    admin_only = _key(
        {
            "Effect": "Allow",
            "Principal": {"AWS": ADMIN_ARN},
            "Action": "kms:*",
            "Resource": "*",
        }
    )
    secret = _only_secret(
        tmp_path,
        {"Key": admin_only, "Secret": _secret(), "Reader": _role("reader", _read_and_decrypt())},
    )
    assert secret.readers == ()
    assert secret.delegated_accounts == ()


def test_a_delegating_key_needs_kms_decrypt_in_the_identity_policy(tmp_path: Path) -> None:
    secret = _only_secret(
        tmp_path,
        {
            **_home(),
            "Reader": _role("reader", [_allow("secretsmanager:GetSecretValue", {"Ref": "Secret"})]),
        },
    )
    assert secret.readers == ()


def test_a_key_policy_naming_the_role_needs_nothing_from_its_identity_policy(
    tmp_path: Path,
) -> None:
    key = _key(
        {
            "Effect": "Allow",
            "Principal": {"AWS": READER_ARN},
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}
            },
        }
    )
    secret = _only_secret(
        tmp_path,
        {
            "Key": key,
            "Secret": _secret(),
            "Reader": _role("reader", [_allow("secretsmanager:GetSecretValue", {"Ref": "Secret"})]),
        },
    )
    assert _readers(secret) == {READER_ARN: ()}


def test_a_deny_in_the_resource_policy_wins(tmp_path: Path) -> None:
    deny = {
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "secretsmanager:GetSecretValue",
        "Resource": "*",
        "Condition": {"ArnNotLike": {"aws:PrincipalArn": ADMIN_ARN}},
    }
    secret = _only_secret(
        tmp_path,
        {
            **_home(),
            "Policy": _resource_policy(deny),
            "Reader": _role("reader", _read_and_decrypt()),
            "Admin": _role("admin", _read_and_decrypt()),
        },
    )
    assert _readers(secret) == {ADMIN_ARN: ()}


def test_a_deny_with_an_unknown_condition_is_shown_not_decided(tmp_path: Path) -> None:
    deny = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "secretsmanager:*",
        "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-0abc"}},
    }
    secret = _only_secret(
        tmp_path,
        {
            **_home(),
            "Policy": _resource_policy(deny),
            "Reader": _role("reader", _read_and_decrypt()),
        },
    )
    assert _readers(secret) == {
        READER_ARN: ("denied when StringNotEquals aws:SourceVpce = vpce-0abc",)
    }


def test_a_wildcard_resource_makes_a_reader_and_is_flagged(tmp_path: Path) -> None:
    pattern = f"arn:aws:secretsmanager:{REGION}:{HOME}:secret:app/*"
    secret = _only_secret(
        tmp_path,
        {
            **_home(),
            "Reader": _role("reader", _read_and_decrypt(pattern)),
            "Star": _role("star", _read_and_decrypt("*")),
            "Elsewhere": _role("elsewhere", _read_and_decrypt(pattern.replace("app/", "web/"))),
        },
    )
    flags = {reader.principal: reader.flags for reader in secret.readers}
    assert flags == {
        READER_ARN: (f"wildcard grant: {pattern}",),
        f"arn:aws:iam::{HOME}:role/star": ("wildcard grant: *",),
    }


def test_an_aws_managed_policy_the_report_knows_makes_a_reader(tmp_path: Path) -> None:
    administrator = _role(
        "operator", [], ManagedPolicyArns=["arn:aws:iam::aws:policy/AdministratorAccess"]
    )
    unknown = _role("viewer", [], ManagedPolicyArns=["arn:aws:iam::aws:policy/ViewOnlyAccess"])
    secret = _only_secret(
        tmp_path,
        {
            **_home(),
            "Operator": administrator,
            "Viewer": unknown,
        },
    )
    assert list(_readers(secret)) == [f"arn:aws:iam::{HOME}:role/operator"]


def test_managed_policies_attached_either_way_count(tmp_path: Path) -> None:
    document = {"Statement": _read_and_decrypt()}
    secret = _only_secret(
        tmp_path,
        {
            **_home(),
            "ByRole": _role("by-role", [], ManagedPolicyArns=[{"Ref": "Listed"}]),
            "Listed": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {"PolicyDocument": document},
            },
            "ByPolicy": _role("by-policy", []),
            "Attaching": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {"PolicyDocument": document, "Roles": [{"Ref": "ByPolicy"}]},
            },
            "Inline": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyName": "inline",
                    "PolicyDocument": document,
                    "Roles": [{"Ref": "ByInline"}],
                },
            },
            "ByInline": _role("by-inline", []),
        },
    )
    assert sorted(_readers(secret)) == [
        f"arn:aws:iam::{HOME}:role/{name}" for name in ("by-inline", "by-policy", "by-role")
    ]


def _cross_account(
    tmp_path: Path, *, resource_policy: bool, key_policy: bool, identity: bool
) -> Secret:
    key_statements: list[dict[str, Any]] = [
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{HOME}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    if key_policy:
        key_statements.append(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}
                },
            }
        )
    home: dict[str, Any] = {"Key": _key(*key_statements), "Secret": _secret()}
    if resource_policy:
        home["Policy"] = _resource_policy(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
                "Action": "secretsmanager:GetSecretValue",
                "Resource": "*",
            }
        )
    statements = (
        [
            _allow("secretsmanager:GetSecretValue", SECRET_ARN.replace("??????", "*")),
            _allow("kms:Decrypt", KEY_ARN),
        ]
        if identity
        else [_allow("s3:GetObject")]
    )
    (home_environment, _) = _environments(
        tmp_path,
        {"Home": (HOME, home), "Other": (OTHER, {"Reader": _role("partner", statements)})},
    )
    (secret,) = home_environment.secrets
    return secret


def test_a_cross_account_reader_needs_all_three_layers(tmp_path: Path) -> None:
    secret = _cross_account(tmp_path, resource_policy=True, key_policy=True, identity=True)
    partner = f"arn:aws:iam::{OTHER}:role/partner"
    assert {reader.principal: reader.account for reader in secret.readers} == {
        partner: OTHER,
        f"arn:aws:iam::{OTHER}:root": OTHER,
    }
    assert secret.cross_account_readers == (OTHER,)


@pytest.mark.parametrize(
    "missing", ["resource_policy", "key_policy", "identity"], ids=lambda layer: f"no {layer}"
)
def test_a_cross_account_reader_missing_one_layer_is_not_a_reader(
    tmp_path: Path, missing: str
) -> None:
    layers = {"resource_policy": True, "key_policy": True, "identity": True, missing: False}
    secret = _cross_account(tmp_path, **layers)
    partner = f"arn:aws:iam::{OTHER}:role/partner"
    assert partner not in _readers(secret)
    if missing == "identity":
        # The role in the assembly cannot, but the account's other principals still may.
        assert list(_readers(secret)) == [f"arn:aws:iam::{OTHER}:root"]
    else:
        assert secret.readers == ()


def test_an_account_named_by_two_statements_is_one_reader(tmp_path: Path) -> None:
    other_root = f"arn:aws:iam::{OTHER}:root"
    key = _key(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{HOME}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Principal": {"AWS": other_root},
            "Action": "kms:Decrypt",
            "Resource": "*",
        },
    )
    read = {
        "Effect": "Allow",
        "Principal": {"AWS": other_root},
        "Action": "secretsmanager:GetSecretValue",
        "Resource": "*",
    }
    policy = _resource_policy({**read, "Sid": "Partner"}, {**read, "Sid": "Audit"})

    secret = _only_secret(tmp_path, {"Key": key, "Secret": _secret(), "Policy": policy})

    assert [reader.principal for reader in secret.readers] == [other_root]


def test_the_aws_managed_key_lets_the_account_read_with_iam_alone(tmp_path: Path) -> None:
    unencrypted = _secret()
    del unencrypted["Properties"]["KmsKeyId"]
    report_dir = _write_assembly(
        tmp_path / "out",
        {
            "Home": (
                HOME,
                {
                    "Secret": unencrypted,
                    "Reader": _role("reader", [_allow("secretsmanager:GetSecretValue", "*")]),
                    "Flag": {
                        "Type": "AWS::SSM::Parameter",
                        "Properties": {"Name": "/app/db-password", "Type": "String", "Value": "x"},
                    },
                    "Plain": {
                        "Type": "AWS::SSM::Parameter",
                        "Properties": {"Name": "/app/log-level", "Type": "String", "Value": "x"},
                    },
                },
            )
        },
    )
    (part,) = analyse(report_dir, Assumptions(), load_prices()).environments
    (secret,) = part.environment.secrets
    assert list(_readers(secret)) == [READER_ARN]
    assert part.findings[0] == "secret app/db: encrypted with the AWS managed key, not a CMK"
    assert part.findings[-1].startswith("parameter /app/db-password (String): ")
    assert not any("log-level" in finding for finding in part.findings)


def _home_output(name: str) -> dict[str, Any]:
    return {"Fn::GetStackOutput": {"StackName": "Home", "Region": REGION, "OutputName": name}}


def test_cross_stack_references_resolve_to_the_secret(tmp_path: Path) -> None:
    """A role in another stack of the same account grants the secret through Fn::GetStackOutput."""
    home = {
        **_home(),
    }
    template = {"Resources": home, "Outputs": {"SecretArn": {"Value": {"Ref": "Secret"}}}}
    directory = _write_assembly(
        tmp_path / "out",
        {
            "Home": (HOME, home),
            "Workload": (
                HOME,
                {
                    "Reader": _role(
                        "reader",
                        [
                            _allow("secretsmanager:GetSecretValue", _home_output("SecretArn")),
                            _allow("kms:Decrypt", KEY_ARN),
                        ],
                    )
                },
            ),
        },
    )
    (directory / "Home.template.json").write_text(json.dumps(template))
    (environment,) = environments(Resolver(read_assembly(directory)))
    (secret,) = environment.secrets
    assert _readers(secret) == {READER_ARN: ()}


def test_rotation_comes_from_the_schedule_wherever_it_is(tmp_path: Path) -> None:
    schedule = {
        "Type": "AWS::SecretsManager::RotationSchedule",
        "Properties": {
            "SecretId": {"Ref": "Secret"},
            "HostedRotationLambda": {"RotationType": "PostgreSQLSingleUser"},
            "RotationRules": {"ScheduleExpression": "rate(30 days)"},
        },
    }
    rotated = _only_secret(tmp_path, {**_home(), "Schedule": schedule})
    assert rotated.rotation == "rate(30 days), AWS hosted rotation (PostgreSQLSingleUser)"
    assert rotated.rotates
    silent = _secret()
    del silent["Metadata"]
    unrotated = _only_secret(tmp_path / "2", {"Key": _delegating_key(), "Secret": silent})
    assert unrotated.rotation == "off: no rotation schedule and no reason recorded"


def test_environment_agnostic_stacks_still_have_readers(tmp_path: Path) -> None:
    """CDK renders the account of an env-agnostic stack as a placeholder in every ARN."""
    directory = _write_assembly(
        tmp_path / "out",
        {
            "Home": (
                HOME,
                {
                    **_home(),
                    "Reader": _role("reader", _read_and_decrypt()),
                },
            )
        },
    )
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["artifacts"]["Home"]["environment"] = "aws://unknown-account/unknown-region"
    (directory / "manifest.json").write_text(json.dumps(manifest))
    template = json.loads((directory / "Home.template.json").read_text())
    template["Resources"]["Key"] = _key(
        {
            "Effect": "Allow",
            "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}},
            "Action": "kms:*",
            "Resource": "*",
        }
    )
    (directory / "Home.template.json").write_text(json.dumps(template))
    (environment,) = environments(Resolver(read_assembly(directory)))
    (secret,) = environment.secrets
    assert [reader.principal for reader in secret.readers] == ["arn:aws:iam::<account>:role/reader"]


@pytest.mark.parametrize(
    "key_id",
    [{"Ref": "Alias"}, {"Fn::Sub": "arn:aws:kms:${AWS::Region}:${AWS::AccountId}:alias/app"}],
    ids=["alias name", "alias ARN"],
)
def test_a_secret_keyed_by_alias_is_checked_against_the_key(tmp_path: Path, key_id: Any) -> None:
    alias = {
        "Type": "AWS::KMS::Alias",
        "Properties": {"AliasName": "alias/app", "TargetKeyId": {"Ref": "Key"}},
    }
    secret = _only_secret(
        tmp_path,
        {
            "Key": _delegating_key(),
            "Alias": alias,
            "Secret": _secret(KmsKeyId=key_id),
            "Reader": _role("reader", _read_and_decrypt()),
        },
    )
    assert _readers(secret) == {READER_ARN: ()}


def test_an_explicit_deny_of_kms_in_the_role_policy_wins(tmp_path: Path) -> None:
    key = _key(
        {
            "Effect": "Allow",
            "Principal": {"AWS": READER_ARN},
            "Action": "kms:Decrypt",
            "Resource": "*",
        }
    )
    deny = {"Effect": "Deny", "Action": "kms:*", "Resource": "*"}
    secret = _only_secret(
        tmp_path,
        {
            "Key": key,
            "Secret": _secret(),
            "Reader": _role("reader", [*_read_and_decrypt(), deny]),
        },
    )
    assert secret.readers == ()


def test_a_cross_account_role_named_by_the_key_still_needs_its_own_kms_permission(
    tmp_path: Path,
) -> None:
    partner = f"arn:aws:iam::{OTHER}:role/partner"
    key = _key(
        {"Effect": "Allow", "Principal": {"AWS": partner}, "Action": "kms:Decrypt", "Resource": "*"}
    )
    policy = _resource_policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": partner},
            "Action": "secretsmanager:GetSecretValue",
            "Resource": "*",
        }
    )
    only_secret = [_allow("secretsmanager:GetSecretValue", SECRET_ARN.replace("??????", "*"))]
    (home, _) = _environments(
        tmp_path,
        {
            "Home": (HOME, {"Key": key, "Secret": _secret(), "Policy": policy}),
            "Other": (OTHER, {"Reader": _role("partner", only_secret)}),
        },
    )
    (secret,) = home.secrets
    assert partner not in _readers(secret)


def test_a_resource_policy_naming_the_secret_by_name_applies(tmp_path: Path) -> None:
    deny_all = _resource_policy(
        {"Effect": "Deny", "Principal": "*", "Action": "secretsmanager:*", "Resource": "*"}
    )
    deny_all["Properties"]["SecretId"] = "app/db"
    secret = _only_secret(
        tmp_path,
        {
            **_home(),
            "Policy": deny_all,
            "Reader": _role("reader", _read_and_decrypt()),
        },
    )
    assert secret.readers == ()
    assert secret.resource_policy == ("(no Sid): Deny * secretsmanager:*",)


def test_no_value_means_the_property_is_absent(tmp_path: Path) -> None:
    secret = _only_secret(
        tmp_path,
        {
            "Secret": _secret(KmsKeyId={"Ref": "AWS::NoValue"}),
            "Reader": _role("reader", _read_and_decrypt()),
        },
    )
    assert secret.key == "aws/secretsmanager (AWS managed key)"
    assert list(_readers(secret)) == [READER_ARN]


def test_two_roles_with_one_name_are_two_consumers_in_the_diagram(tmp_path: Path) -> None:
    (environment,) = _environments(
        tmp_path,
        {
            "Home": (
                HOME,
                {
                    **_home(),
                    "A": _role("reader", _read_and_decrypt(), Path="/a/"),
                    "B": _role("reader", _read_and_decrypt(), Path="/b/"),
                },
            )
        },
    )
    chart = mermaid(environment)
    assert '  c0("reader")' in chart and '  c1("reader")' in chart


def test_the_report_runs_without_aws_cdk_or_node(tmp_path: Path) -> None:
    """Importing the command must not start jsii (Node): it only reads JSON."""
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, strongbox.cli; print('aws_cdk' in sys.modules, 'jsii' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert probe.stdout.split() == ["False", "False"]
    assert probe.stderr == ""


# The default app: what the shipped config declares, read back from the templates.

PROD = "333333333333"


def _prod_role(name: str) -> str:
    return f"arn:aws:iam::{PROD}:role/strongbox/payments/payments-prod-{name}"


@pytest.fixture(scope="module")
def default_report(synthesized: Synthesized) -> dict[str, Any]:
    document = analyse(synthesized.outdir, Assumptions(), load_prices())
    return {part.environment.name: part for part in document.environments}


def test_default_app_readers_are_exactly_the_consumers_of_each_secret(
    default_report: dict[str, Any],
) -> None:
    prod = default_report["Strongbox-Prod"].environment
    readers = {
        secret.name: sorted(
            reader.principal.replace(f"arn:aws:iam::{PROD}:role/", "") for reader in secret.readers
        )
        for secret in prod.secrets
    }
    rotation_role = next(
        r.principal for s in prod.secrets for r in s.readers if "TokenRotation" in r.principal
    )
    assert readers == {
        "prod/payments/db-credentials": sorted(
            [
                "strongbox/payments/payments-prod-api-execution",
                "hosted rotation function (created at deploy time by its transform)",
            ]
        ),
        "prod/payments/stripe-api-key": [
            "strongbox/payments/payments-prod-api-execution",
            "strongbox/payments/payments-prod-reconciler-function",
        ],
        "prod/payments/session-signing-key": sorted(
            [
                rotation_role.replace(f"arn:aws:iam::{PROD}:role/", ""),
                "strongbox/payments/payments-prod-api-execution",
            ]
        ),
        "prod/payments/webhook-signing": [
            "strongbox/payments/payments-prod-api-execution",
            "strongbox/payments/payments-prod-batch-instance",
        ],
        "prod/payments/reporting-api-token": [
            "arn:aws:iam::444444444444:root",
            "strongbox/payments/payments-prod-api-execution",
        ],
    }
    assert rotation_role.endswith("-<generated>")


def test_default_app_inventory(default_report: dict[str, Any]) -> None:
    prod = default_report["Strongbox-Prod"]
    secrets = {secret.name: secret for secret in prod.environment.secrets}
    key = f"arn:aws:kms:eu-west-1:{PROD}:key/mrk-Strongbox-Prod-Keys.SecretsKey0D2EC683"
    token = secrets["prod/payments/reporting-api-token"]
    assert token.kind == "api-key"
    assert token.key == key
    assert [(r.region, r.key) for r in token.replicas] == [
        ("eu-central-1", key.replace("eu-west-1", "eu-central-1"))
    ]
    assert token.cross_account_readers == ("444444444444",)
    assert token.resource_policy[-1] == (
        "CrossAccountRead444444444444: Allow arn:aws:iam::444444444444:root "
        "secretsmanager:DescribeSecret, secretsmanager:GetSecretValue"
    )
    assert secrets["prod/payments/db-credentials"].kind == "database"
    assert secrets["prod/payments/session-signing-key"].rotation.startswith(
        "rate(30 days), Lambda "
    )
    assert {(p.name, p.type, p.tier) for p in prod.environment.parameters} == {
        ("/payments/prod/feature-flags", "StringList", "Standard"),
        ("/payments/prod/log-level", "String", "Standard"),
        ("/payments/prod/session/cookie-salt", "SecureString", "Standard"),
    }
    # Granting a whole account (not one of its roles) is broader than one workload: flagged.
    assert prod.findings == (
        "secret prod/payments/reporting-api-token: reader arn:aws:iam::444444444444:root: "
        "any principal of that account its IAM allows",
    )
    # Every secret in prod replicates, so none is advised to move to Parameter Store.
    assert prod.advice == ()


def test_default_app_advice_names_the_secrets_that_would_be_cheaper_as_parameters(
    default_report: dict[str, Any],
) -> None:
    dev = default_report["Strongbox-Dev"]
    assert {(a.name, str(a.saving_per_month)) for a in dev.advice} == {
        ("dev/payments/stripe-api-key", "0.45"),
        ("dev/payments/webhook-signing", "0.45"),
    }


def graph_nodes(environment: Environment) -> Mapping[str, tuple[str, str]]:
    return graph(environment).nodes


def test_default_app_diagram_draws_key_secret_replica_endpoint_consumer(
    default_report: dict[str, Any],
) -> None:
    prod = default_report["Strongbox-Prod"].environment
    chart = mermaid(prod)
    assert chart.startswith("flowchart LR\n")
    # The primary key and its replica share an alias but are two keys (and two bills).
    assert '  k0[/"alias/payments/prod/secrets (eu-west-1)"/]' in chart
    assert '  k1[/"alias/payments/prod/secrets (eu-central-1)"/]' in chart
    assert '(["prod/payments/stripe-api-key @ eu-central-1"])' in chart
    assert '{{"secretsmanager endpoint eu-west-1 (3 AZ)"}}' in chart
    assert '("payments-prod-reconciler-function")' in chart
    assert "-->|stripe-api-key| " in chart
    # The reporting account reads from its own account: straight from the secret, no endpoint.
    token = next(n for n, (label, _) in graph_nodes(prod).items() if label.endswith("api-token"))
    account = next(
        n for n, (label, _) in graph_nodes(prod).items() if label == "account 444444444444"
    )
    assert f"  {token} -->|reporting-api-token| {account}" in chart
    assert "<generated>" not in chart  # escaped for Mermaid
    graph = dot(prod)
    assert graph.startswith('digraph "Strongbox-Prod" {')
    assert '[label="encrypts"]' in graph


def test_markdown_and_json_of_the_default_app(synthesized: Synthesized, tmp_path: Path) -> None:
    output = tmp_path / "report.md"
    assert main(["report", str(synthesized.outdir), "--output", str(output)]) == 0
    text = output.read_text()
    assert "## Strongbox-Prod" in text
    assert "```mermaid\nflowchart LR" in text
    assert "| **total** |" in text
    assert MADE_UP_KEY_ARN.findall(text) == []
    prod_text = text[text.index("## Strongbox-Prod") :]
    policies = [row["resource policy"] for row in _cells(prod_text, SECRETS_HEADER)]
    assert len(policies) == 5 and max(len(policy) for policy in policies) <= 120
    assert policies[-1] == (
        "Deny OnlyAdministratorsDeleteOrChangePolicy<br>Allow CrossAccountRead444444444444"
    )
    assert (
        "| `<key alias/payments/prod/secrets in eu-central-1>` | alias/payments/prod/secrets |"
        in text
    )
    assert (
        main(["report", str(synthesized.outdir), "--format", "json", "--output", str(output)]) == 0
    )
    assert MADE_UP_KEY_ARN.findall(output.read_text()) == []
    document = json.loads(output.read_text(), parse_float=Decimal)
    names = [part["environment"]["name"] for part in document["environments"]]
    assert names == ["Strongbox-Dev", "Strongbox-Staging", "Strongbox-Prod"]
    assert document["prices"]["as_of"] == load_prices().as_of
    prod = document["environments"][2]
    lines = prod["cost"]["lines"]
    assert prod["cost"]["total"] == sum(line["monthly"] for line in lines)
    # Each line is billed where it is: prod's replicas and their key in eu-central-1.
    assert {(line["item"], line["region"]) for line in lines} >= {
        ("Secrets Manager secrets", "eu-west-1"),
        ("Interface endpoint hours", "eu-west-1"),
        ("Secrets Manager replicas", "eu-central-1"),
        ("KMS replica keys", "eu-central-1"),
    }


def test_docs_excerpt_is_what_the_report_prints(
    synthesized: Synthesized, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(synthesized.outdir)]) == 0
    printed = capsys.readouterr().out
    page = (ROOT / "docs" / "report.md").read_text()
    excerpt = page.split("<!-- report excerpt -->")[1].split("```markdown\n")[1].split("```")[0]
    for line in excerpt.strip().splitlines():
        assert line in printed.splitlines(), f"docs/report.md line not in the report: {line}"


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz (dot) is not installed")
def test_svg_per_environment_with_graphviz(synthesized: Synthesized, tmp_path: Path) -> None:
    assert main(["report", str(synthesized.outdir), "--output", str(tmp_path / "r.md")]) == 0
    svg = (tmp_path / "r-prod.svg").read_text()
    assert svg.lstrip().startswith("<?xml")
    assert "prod/payments/stripe-api-key @ eu-central-1" in html.unescape(svg)


def test_without_graphviz_the_markdown_is_written_and_no_svg(
    synthesized: Synthesized, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert main(["report", str(synthesized.outdir), "--output", str(tmp_path / "r.md")]) == 0
    assert (tmp_path / "r.md").read_text().count("```mermaid") == 3
    assert list(tmp_path.glob("*.svg")) == []


# Bad input: one line on stderr, exit 2, nothing written.


def _fails(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["report", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    return captured.err.strip()


def test_missing_assembly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "cdk.out"
    assert _fails(capsys, str(missing)) == (
        f"strongbox report: {missing}: no such directory (run `cdk synth` first)"
    )


def test_corrupt_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "manifest.json").write_text('{"artifacts": ')
    assert _fails(capsys, str(tmp_path)) == (
        f"strongbox report: {tmp_path}/manifest.json: not valid JSON (line 1: Expecting value)"
    )


def test_manifest_of_something_else(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "manifest.json").write_text("[]")
    assert _fails(capsys, str(tmp_path)) == (
        f"strongbox report: {tmp_path}/manifest.json: no 'artifacts' object; not a cloud assembly"
    )


def test_missing_and_corrupt_templates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = _write_assembly(tmp_path / "out", {"Home": (HOME, {"Secret": _secret()})})
    output = tmp_path / "report.md"
    (directory / "Home.template.json").write_text("{not json")
    message = _fails(capsys, str(directory), "--output", str(output))
    assert message == (
        f"strongbox report: {directory}/Home.template.json: not valid JSON "
        "(line 1: Expecting property name enclosed in double quotes)"
    )
    assert not output.exists()
    (directory / "Home.template.json").unlink()
    assert _fails(capsys, str(directory)) == (
        f"strongbox report: {directory}/Home.template.json: missing (run `cdk synth` first)"
    )


def test_an_assembly_without_stacks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "manifest.json").write_text('{"version": "55.0.0", "artifacts": {}}')
    assert _fails(capsys, str(tmp_path)) == (
        f"strongbox report: {tmp_path}/manifest.json: the assembly has no CloudFormation stacks"
    )


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (
            lambda d: _patch_manifest(d, artifacts={"Home": "a string"}),
            "{d}/manifest.json: artifacts.Home: not an artifact object",
        ),
        (
            lambda d: _patch_template(d, Resources=[]),
            "{d}/Home.template.json: Resources is not an object",
        ),
        (
            lambda d: _patch_template(d, Resources={"Secret": "text"}),
            "{d}/Home.template.json: Resources.Secret is not a resource object",
        ),
        (
            lambda d: _patch_template(d, Outputs={"A": {"Export": "name"}}),
            "{d}/Home.template.json: Outputs.A is not an output object",
        ),
        (
            lambda d: _patch_manifest(
                d,
                artifacts={
                    "Loop": {"type": "cdk:cloud-assembly", "properties": {"directoryName": "."}}
                },
            ),
            "{d}/manifest.json: artifacts.Loop: a nested assembly cannot contain its parent",
        ),
    ],
    ids=["artifact", "resources", "resource", "export", "nested loop"],
)
def test_wrong_shapes_give_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], break_it: Any, message: str
) -> None:
    directory = _write_assembly(tmp_path / "out", {"Home": (HOME, {"Secret": _secret()})})
    break_it(directory)
    assert _fails(capsys, str(directory)) == "strongbox report: " + message.format(d=directory)


def _patch_manifest(directory: Path, **changes: Any) -> None:
    manifest = json.loads((directory / "manifest.json").read_text())
    (directory / "manifest.json").write_text(json.dumps({**manifest, **changes}))


def _patch_template(directory: Path, **changes: Any) -> None:
    template = json.loads((directory / "Home.template.json").read_text())
    (directory / "Home.template.json").write_text(json.dumps({**template, **changes}))


def test_odd_but_valid_policies_are_summarised(tmp_path: Path) -> None:
    """Booleans in conditions, a statement that is a dict, a Properties of null."""
    policy = _resource_policy()
    policy["Properties"]["ResourcePolicy"]["Statement"] = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "secretsmanager:*",
        "Resource": "*",
        "Condition": {"Bool": {"aws:SecureTransport": False}},
    }
    secret = _only_secret(
        tmp_path,
        {
            **_home(),
            "Policy": policy,
            "Empty": {"Type": "AWS::SNS::Topic", "Properties": None},
            "Reader": _role("reader", _read_and_decrypt()),
        },
    )
    assert secret.resource_policy == (
        "(no Sid): Deny * secretsmanager:* when Bool aws:SecureTransport False",
    )
    assert list(_readers(secret)) == [READER_ARN]


def test_unwritable_output_gives_one_line(
    synthesized: Synthesized, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "missing" / "report.md"
    message = _fails(capsys, str(synthesized.outdir), "--output", str(target))
    assert message == f"strongbox report: [Errno 2] No such file or directory: '{target}'"


def test_bad_option_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _fails(capsys, str(tmp_path), "--endpoint-gb", "lots") == (
        "strongbox report: --endpoint-gb: expected a number, got 'lots'"
    )


def test_installed_console_script(synthesized: Synthesized, tmp_path: Path) -> None:
    """The `strongbox` entry point the package installs, run as a user would."""
    script = str(Path(sys.executable).with_name("strongbox"))
    completed = subprocess.run(
        [script, "report", str(synthesized.outdir), "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert [
        part["environment"]["name"] for part in json.loads(completed.stdout)["environments"]
    ] == [
        "Strongbox-Dev",
        "Strongbox-Staging",
        "Strongbox-Prod",
    ]
    missing = tmp_path / "nowhere"
    failed = subprocess.run([script, "report", str(missing)], capture_output=True, text=True)
    assert (failed.returncode, failed.stdout) == (2, "")
    assert (
        failed.stderr == f"strongbox report: {missing}: no such directory (run `cdk synth` first)\n"
    )


# What a new user found rough: each test below failed on the report before its fix.


def _interface_endpoint(service_name: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::EC2::VPCEndpoint",
        "Properties": {
            "VpcEndpointType": "Interface",
            "ServiceName": service_name,
            "SubnetIds": ["subnet-a", "subnet-b"],
        },
    }


def test_endpoints_are_named_by_the_whole_service_after_the_region(tmp_path: Path) -> None:
    (environment,) = _environments(
        tmp_path,
        {
            "Home": (
                HOME,
                {
                    **_home(),
                    "Api": _interface_endpoint(f"com.amazonaws.{REGION}.ecr.api"),
                    "Docker": _interface_endpoint(
                        {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".ecr.dkr"]]}
                    ),
                    "Secrets": _interface_endpoint(f"com.amazonaws.{REGION}.secretsmanager"),
                },
            )
        },
    )
    assert [endpoint.service for endpoint in environment.endpoints] == [
        "ecr.api",
        "ecr.dkr",
        "secretsmanager",
    ]


def _markdown(tmp_path: Path, resources: dict[str, Any]) -> str:
    directory = _write_assembly(tmp_path / "out", {"Home": (HOME, resources)})
    return as_markdown(analyse(directory, Assumptions(), load_prices()))


def test_advice_is_written_in_sentences_that_start_with_a_capital(tmp_path: Path) -> None:
    text = _markdown(tmp_path, _home())
    (advice,) = [line for line in text.splitlines() if line.startswith("- `app/db`: saves")]
    assert re.findall(r"\. [a-z]\w*", advice) == []
    assert "as a SecureString parameter. It never rotates, has no replicas" in advice


class _FakeGraphviz:
    """Stands in for Graphviz's `dot` (absent on most machines): records each SVG it writes."""

    def __init__(self) -> None:
        self.written: list[Path] = []

    def __call__(self, environment: Environment, target: Path) -> bool:
        target.write_text(f"<svg>{environment.name}</svg>")
        self.written.append(target)
        return True


@pytest.fixture
def graphviz(monkeypatch: pytest.MonkeyPatch) -> _FakeGraphviz:
    fake = _FakeGraphviz()
    monkeypatch.setattr("strongbox.cli.render_svg", fake)
    return fake


def test_svg_files_are_named_after_their_environment(
    synthesized: Synthesized,
    tmp_path: Path,
    graphviz: _FakeGraphviz,
    capsys: pytest.CaptureFixture[str],
) -> None:
    output = tmp_path / "strongbox-report.md"
    assert main(["report", str(synthesized.outdir), "--output", str(output)]) == 0
    assert [path.name for path in graphviz.written] == [
        "strongbox-report-dev.svg",
        "strongbox-report-staging.svg",
        "strongbox-report-prod.svg",
    ]
    assert (tmp_path / "strongbox-report-prod.svg").read_text() == "<svg>Strongbox-Prod</svg>"
    assert capsys.readouterr().err.splitlines() == [f"wrote {path}" for path in graphviz.written]


def test_svg_files_of_top_level_stacks_are_named_by_account_and_region(
    tmp_path: Path, graphviz: _FakeGraphviz
) -> None:
    directory = _write_assembly(
        tmp_path / "out", {"Home": (HOME, _home()), "Other": (OTHER, _home())}
    )
    output = tmp_path / "report.md"
    assert main(["report", str(directory), "--output", str(output)]) == 0
    assert [path.name for path in graphviz.written] == [
        f"report-{HOME}-{REGION}.svg",
        f"report-{OTHER}-{REGION}.svg",
    ]


def test_json_output_writes_only_the_json(
    tmp_path: Path, graphviz: _FakeGraphviz, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = _write_assembly(tmp_path / "out", {"Home": (HOME, _home())})
    output = tmp_path / "report.json"
    assert main(["report", str(directory), "--format", "json", "--output", str(output)]) == 0
    assert graphviz.written == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out", "report.json"]
    assert capsys.readouterr() == ("", "")
    assert json.loads(output.read_text())["environments"]


@pytest.mark.parametrize(
    ("environments", "names"),
    [
        (["Strongbox-Prod"], ["strongbox-prod"]),
        (["Strongbox-Dev", "Strongbox-Prod"], ["dev", "prod"]),
        ([f"aws://{HOME}/eu-west-1", f"aws://{HOME}/eu-central-1"], ["eu-west-1", "eu-central-1"]),
        (["Prod", "prod", "PROD"], ["prod", "prod-2", "prod-3"]),
        (["Strongbox-Prod", "Strongbox"], ["strongbox-prod", "strongbox"]),
        (["***"], ["environment"]),
    ],
)
def test_diagram_file_names_are_readable_and_unique(
    environments: list[str], names: list[str]
) -> None:
    assert _diagram_names(environments) == names


def test_json_counts_and_prices_are_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = _write_assembly(tmp_path / "out", {"Home": (HOME, _home())})
    assert main(["report", str(directory), "--format", "json"]) == 0
    text = capsys.readouterr().out
    (part,) = json.loads(text)["environments"]
    secrets = part["cost"]["lines"][0]
    assert (secrets["item"], secrets["quantity"], secrets["unit_price"], secrets["monthly"]) == (
        "Secrets Manager secrets",
        1,
        0.4,
        0.4,
    )
    assert part["advice"][0]["saving_per_month"] == 0.45
    assert json.loads(text)["prices"]["hours_per_month"] == 730
    # Read back as Decimal, every figure is exactly what the report computed.
    exact = json.loads(text, parse_float=Decimal)["environments"][0]["cost"]
    assert exact["total"] == sum(line["monthly"] for line in exact["lines"]) == Decimal("1.48")


def _empty_tables(text: str) -> list[str]:
    """Each table header of `text` that has no row under its separator."""
    lines = text.splitlines()
    return [
        header
        for header, separator, after in zip(lines, lines[1:], [*lines[2:], ""], strict=False)
        if header.startswith("|") and separator.startswith("|---") and not after.startswith("|")
    ]


def test_an_empty_table_is_one_sentence_saying_there_is_nothing(tmp_path: Path) -> None:
    keyed = _markdown(tmp_path / "key", {"Key": _delegating_key()})
    assert _empty_tables(keyed) == []
    for sentence in ("No secrets.", "No parameters.", "No runtime here declares its calls."):
        assert f"\n{sentence}\n" in keyed
    assert "\nNo secrets, so nobody reads one.\n" in keyed
    nothing_priced = _markdown(tmp_path / "nothing", {"Topic": {"Type": "AWS::SNS::Topic"}})
    assert _empty_tables(nothing_priced) == []
    assert "\nNo KMS keys.\n" in nothing_priced
    assert "\nNothing here has a price: 0.00 a month.\n" in nothing_priced
    assert f"\n- Prices are USD list prices for {REGION}, each line at its own " in nothing_priced


def _cells(text: str, header: str) -> list[dict[str, str]]:
    """The rows of the table whose header line is `header`, as column -> cell."""
    lines = text.splitlines()
    start = lines.index(header)
    columns = [column.strip() for column in header.strip("|").split("|")]
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip("|"))]
        rows.append(dict(zip(columns, cells, strict=True)))
    return rows


SECRETS_HEADER = "| secret | kind | key | replicas | rotation | resource policy |"


def _long_statement(sid: str, effect: str = "Deny") -> dict[str, Any]:
    return {
        "Sid": sid,
        "Effect": effect,
        "Principal": "*",
        "Action": [
            "secretsmanager:DeleteResourcePolicy",
            "secretsmanager:DeleteSecret",
            "secretsmanager:PutResourcePolicy",
            "secretsmanager:RemoveRegionsFromReplication",
        ],
        "Resource": "*",
        "Condition": {"ArnNotLike": {"aws:PrincipalArn": [ADMIN_ARN, READER_ARN]}},
    }


def test_resource_policy_cells_are_summarised_and_json_keeps_the_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    resources = {
        **_home(),
        "Policy": _resource_policy(
            _long_statement("OnlyAdministratorsChangeThePolicy"),
            _allow(
                "secretsmanager:GetSecretValue",
                "*",
                Principal={"AWS": f"arn:aws:iam::{OTHER}:root"},
            ),
        ),
    }
    text = _markdown(tmp_path / "two", resources)
    (row,) = _cells(text, SECRETS_HEADER)
    assert row["resource policy"] == "Deny OnlyAdministratorsChangeThePolicy<br>Allow (no Sid)"
    assert "`--format json` has every statement in full" in text
    # The JSON keeps each statement whole.
    assert main(["report", str(tmp_path / "two" / "out"), "--format", "json"]) == 0
    (secret,) = json.loads(capsys.readouterr().out)["environments"][0]["environment"]["secrets"]
    assert secret["resource_policy"][0].startswith(
        "OnlyAdministratorsChangeThePolicy: Deny * secretsmanager:DeleteResourcePolicy, "
    )
    assert secret["resource_policy"][0].endswith(
        f"when ArnNotLike aws:PrincipalArn {ADMIN_ARN}|{READER_ARN}"
    )
    many = _markdown(
        tmp_path / "many",
        {
            **_home(),
            "Policy": _resource_policy(
                *(_long_statement(f"Statement{n}WithALongName") for n in range(9))
            ),
        },
    )
    (row,) = _cells(many, SECRETS_HEADER)
    assert len(row["resource policy"]) <= 120
    assert row["resource policy"].startswith("Deny Statement0WithALongName<br>Deny Statement1")
    assert row["resource policy"].endswith(" more statements")


# A key ARN as the resolver makes it up: the key id KMS picks at deploy time is unknown.
MADE_UP_KEY_ARN = re.compile(r"arn:aws:kms:[^:\s]*:[^:\s]*:key/[^\s`|<]*\.")


def test_a_key_arn_the_templates_cannot_tell_is_shown_as_a_symbol(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The secret's key lives in another stack and has no alias: its ARN is not printed."""
    directory = _write_assembly(
        tmp_path / "out",
        {
            "Keys": (HOME, {"Key": _delegating_key()}),
            "Home": (
                HOME,
                {
                    "Secret": _secret(KmsKeyId={"Fn::ImportValue": "KeyArn"}),
                    "Reader": _role(
                        "reader",
                        [
                            _allow("secretsmanager:GetSecretValue", {"Ref": "Secret"}),
                            _allow("kms:Decrypt", {"Fn::ImportValue": "KeyArn"}),
                        ],
                    ),
                },
            ),
        },
    )
    keys = json.loads((directory / "Keys.template.json").read_text())
    keys["Outputs"] = {
        "KeyArn": {"Value": {"Fn::GetAtt": ["Key", "Arn"]}, "Export": {"Name": "KeyArn"}}
    }
    (directory / "Keys.template.json").write_text(json.dumps(keys))
    # The proof and the readers still see the key the resolver names.
    (environment,) = environments(Resolver(read_assembly(directory)))
    (secret,) = environment.secrets
    assert secret.key == f"arn:aws:kms:{REGION}:{HOME}:key/Keys.Key"
    assert _readers(secret) == {READER_ARN: ()}

    assert main(["report", str(directory)]) == 0
    text = capsys.readouterr().out
    assert MADE_UP_KEY_ARN.findall(text) == []
    symbol = f"`<key Key of stack Keys in {REGION}>`"
    (row,) = _cells(text, SECRETS_HEADER)
    assert row["key"] == symbol
    (key,) = _cells(text, "| key | aliases | multi-region | replica of |")
    assert key["key"] == symbol
    assert main(["report", str(directory), "--format", "json"]) == 0
    document = capsys.readouterr().out
    assert MADE_UP_KEY_ARN.findall(document) == []
    assert json.loads(document)["environments"][0]["environment"]["secrets"][0]["key"] == (
        f"<key Key of stack Keys in {REGION}>"
    )


COST_HEADER = "| item | region | quantity | unit | price | monthly |"


def test_each_line_is_priced_in_its_own_region_and_an_assumed_price_says_so(
    tmp_path: Path,
) -> None:
    text = _markdown(tmp_path, _home())
    rows = {row["item"]: row for row in _cells(text, COST_HEADER)}
    assert {row["region"] for item, row in rows.items() if item != "**total**"} == {REGION}
    # No eu-west-1 price of a secret was found published: the us-east-1 one, marked.
    assert rows["Secrets Manager secrets"]["price"] == "0.40 (assumed: us-east-1 price)"
    # AWS states a key's price for every region.
    assert rows["KMS keys"]["price"] == "1.00"
    assert f"no {REGION} price for it was found published" in text
    assert "(at assumed us-east-1 prices) as a SecureString parameter." in text
