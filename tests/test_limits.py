"""benchmarks/limits.py on a small hand-written cloud assembly: the base is inside every limit,
each check fails on a template changed to pass its limit by one, and the exact ones pass at the
limit itself. No synth: tests/test_scale.py and tests/test_config_limits.py run the same checks
on synthesized environments."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from benchmarks.limits import breaches

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT, REGION = "333333333333", "eu-west-1"
SECRETS, OTHER = "Strongbox-Prod-Secrets", "Strongbox-Prod-Workload"
TAGS = [{"Key": "Application", "Value": "payments"}, {"Key": "Environment", "Value": "prod"}]
POLICY: dict[str, Any] = {
    "Statement": [{"Action": "kms:*", "Effect": "Allow", "Principal": {"AWS": "*"}}],
    "Version": "2012-10-17",
}
TRUST: dict[str, Any] = {
    "Statement": [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"Service": "ecs-tasks.amazonaws.com"},
        }
    ],
    "Version": "2012-10-17",
}
# The rotation function's role has a generated name: the check counts it at IAM's longest.
ROTATION_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/" + "x" * 64
SSM_ARN_PREFIX = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter"  # 44 characters


def pattern(readers: list[Any]) -> dict[str, Any]:
    return {
        "detail": {
            "eventName": ["GetSecretValue"],
            "userIdentity": {
                "sessionContext": {"sessionIssuer": {"arn": [{"anything-but": readers}]}}
            },
        },
        "source": ["aws.secretsmanager"],
    }


def base_template() -> dict[str, Any]:
    resources: dict[str, Any] = {
        "Key": {
            "Type": "AWS::KMS::Key",
            "Properties": {"KeyPolicy": POLICY, "Description": "Encrypts secrets", "Tags": TAGS},
        },
        "ReplicaKey": {
            "Type": "AWS::KMS::ReplicaKey",
            "Properties": {"KeyPolicy": POLICY, "PrimaryKeyArn": {"Fn::GetAtt": ["Key", "Arn"]}},
        },
        "Alias": {
            "Type": "AWS::KMS::Alias",
            "Properties": {
                "AliasName": "alias/payments/prod/secrets",
                "TargetKeyId": {"Ref": "Key"},
            },
        },
        "Secret": {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {
                "Name": "prod/payments/webhook-signing",
                "Description": "Signs webhooks",
                "GenerateSecretString": {
                    "PasswordLength": 64,
                    "SecretStringTemplate": '{"algorithm": "HMAC-SHA256"}',
                    "GenerateStringKey": "signing_key",
                },
                "KmsKeyId": {"Ref": "Key"},
                "Tags": [
                    *TAGS,
                    {"Key": "Component", "Value": "webhook-signing"},
                    {"Key": "Owner", "Value": "team-payments"},
                    {"Key": "SecretKind", "Value": "json"},
                ],
            },
        },
        "ExecutionRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": TRUST,
                "RoleName": "payments-prod-api-execution",
                "Path": "/strongbox/payments/",
                "Description": "Reads exactly its secrets",
                "ManagedPolicyArns": [{"Ref": "SecretsPolicy"}],
                "Tags": TAGS,
            },
        },
        "SecretsPolicy": {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {
                "PolicyDocument": {
                    "Statement": [
                        {
                            "Action": "secretsmanager:GetSecretValue",
                            "Effect": "Allow",
                            "Resource": {"Ref": "Secret"},
                        }
                    ],
                    "Version": "2012-10-17",
                },
            },
        },
        "ExecutionPolicy": {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {"PolicyDocument": POLICY, "Roles": [{"Ref": "ExecutionRole"}]},
        },
        "RotationRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {"AssumeRolePolicyDocument": TRUST, "Tags": TAGS},
        },
        "UnexpectedReads": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Name": "Strongbox-Prod-Secrets-UnexpectedReads",
                "Description": "A secret was read by an unexpected role",
                "EventPattern": pattern([{"Fn::GetAtt": ["RotationRole", "Arn"]}]),
                "Targets": [{"Arn": {"Ref": "Topic"}, "Id": "Target0"}],
                "Tags": TAGS,
            },
        },
        "LogLevel": {
            "Type": "AWS::SSM::Parameter",
            "Properties": {
                "Name": "/payments/prod/log-level",
                "Type": "String",
                "Value": "INFO",
                "Tier": "Standard",
                "Description": "Log level",
                "Tags": {"Application": "payments", "Environment": "prod"},
            },
        },
        "CookieSalt": {
            "Type": "Custom::SecureStringParameter",
            "Properties": {
                "ServiceToken": {"Fn::GetAtt": ["Provider", "Arn"]},
                "ParameterName": "/payments/prod/session/cookie-salt",
                "Tier": "Standard",
                "Description": "Salt",
                "Generate": {"Length": "32", "ExcludePunctuation": "true"},
            },
        },
    }
    return {"Resources": resources}


def write_assembly(
    directory: Path, templates: dict[str, dict[str, Any]], stack_tags: dict[str, str] | None = None
) -> Path:
    """A cloud assembly of these templates (CloudFormation stack name -> template), uploaded
    through the bootstrap bucket as the CDK's synthesizer has them, in one account and region."""
    artifacts: dict[str, Any] = {}
    for stack_name, template in templates.items():
        template_file = f"{stack_name}.template.json"
        (directory / template_file).write_text(json.dumps(template))
        artifacts[stack_name] = {
            "type": "aws:cloudformation:stack",
            "environment": f"aws://{ACCOUNT}/{REGION}",
            "displayName": "Strongbox-Prod/" + stack_name.rsplit("-", 1)[1],
            "properties": {
                "templateFile": template_file,
                "stackName": stack_name,
                "stackTemplateAssetObjectUrl": f"s3://assets/{stack_name}.json",
                **({"tags": stack_tags} if stack_tags else {}),
            },
        }
    (directory / "manifest.json").write_text(json.dumps({"artifacts": artifacts}))
    return directory


def problems_of(
    tmp_path: Path, change: Callable[[dict[str, Any]], None] = lambda _: None, **kwargs: Any
) -> list[str]:
    template = base_template()
    change(template["Resources"])
    found, _ = breaches(write_assembly(tmp_path, {SECRETS: template}, **kwargs))
    return found


def props(resources: dict[str, Any], logical_id: str) -> dict[str, Any]:
    properties: dict[str, Any] = resources[logical_id]["Properties"]
    return properties


def test_the_base_is_inside_every_limit(tmp_path: Path) -> None:
    found, figures = breaches(write_assembly(tmp_path, {SECRETS: base_template()}))

    assert found == []
    figure = figures["Strongbox-Prod/Secrets"]
    # The rotation role's generated name is counted at IAM's 64 characters.
    assert figure["event pattern"] == len(
        json.dumps(pattern([ROTATION_ROLE_ARN]), separators=(",", ":"))
    )
    assert figure["managed policies"] == 2  # ManagedPolicyArns, and a policy's Roles
    assert figure["parameter name with ARN prefix"] == len(
        SSM_ARN_PREFIX + "/payments/prod/session/cookie-salt"
    )


def set_property(logical_id: str, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(resources: dict[str, Any]) -> None:
        props(resources, logical_id)[key] = copy.deepcopy(value)

    return change


def pad_pattern(total: int) -> Callable[[dict[str, Any]], None]:
    """The unexpected-read rule's pattern grown to `total` characters as deployed, by a literal
    role ARN after the rotation role's."""

    def change(resources: dict[str, Any]) -> None:
        role = f"arn:aws:iam::{ACCOUNT}:role/"
        size = len(json.dumps(pattern([ROTATION_ROLE_ARN, role]), separators=(",", ":")))
        readers = [{"Fn::GetAtt": ["RotationRole", "Arn"]}, role + "r" * (total - size)]
        props(resources, "UnexpectedReads")["EventPattern"] = pattern(readers)

    return change


def parameter_name(length: int) -> str:
    """A valid parameter name of `length` characters (the ARN prefix not included)."""
    head = "/payments/prod/"
    return head + "n" * (length - len(head))


def extra_tags(count: int) -> list[dict[str, str]]:
    return [{"Key": f"CostCenter{index}", "Value": "x"} for index in range(count)]


def add_tags(logical_id: str, count: int) -> Callable[[dict[str, Any]], None]:
    def change(resources: dict[str, Any]) -> None:
        properties = props(resources, logical_id)
        properties["Tags"] = [*properties["Tags"], *extra_tags(count)]

    return change


def attach_policies(count: int) -> Callable[[dict[str, Any]], None]:
    def change(resources: dict[str, Any]) -> None:
        arns = [f"arn:aws:iam::aws:policy/Policy{index}" for index in range(count)]
        props(resources, "ExecutionRole")["ManagedPolicyArns"] += arns

    return change


def both(*changes: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def change(resources: dict[str, Any]) -> None:
        for each in changes:
            each(resources)

    return change


S = "Strongbox-Prod/Secrets"
BIG_POLICY = {"Statement": [{**POLICY["Statement"][0], "Sid": "s" * 32_768}]}
BREACHES: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    (
        "event-pattern",
        pad_pattern(2049),
        f"{S}/UnexpectedReads: event pattern of 2049 characters > 2048",
    ),
    (
        "rule-name",
        set_property("UnexpectedReads", "Name", "r" * 65),
        f"{S}/UnexpectedReads: rule name of 65 characters > 64",
    ),
    (
        "rule-description",
        set_property("UnexpectedReads", "Description", "d" * 513),
        f"{S}/UnexpectedReads: rule description of 513 characters > 512",
    ),
    (
        "rule-targets",
        set_property("UnexpectedReads", "Targets", [{"Id": f"T{i}"} for i in range(6)]),
        f"{S}/UnexpectedReads: targets of 6 > 5",
    ),
    (
        "parameter-name",
        set_property("LogLevel", "Name", parameter_name(1011 - len(SSM_ARN_PREFIX) + 1)),
        f"{S}/LogLevel: parameter name with ARN prefix of 1012 characters > 1011",
    ),
    (
        "parameter-depth",
        set_property("LogLevel", "Name", "/payments/prod" + "/level" * 14),
        f"{S}/LogLevel: parameter depth of 16 levels > 15",
    ),
    (
        "parameter-description",
        set_property("LogLevel", "Description", "d" * 1025),
        f"{S}/LogLevel: parameter description of 1025 characters > 1024",
    ),
    (
        "standard-value-in-bytes",
        set_property("LogLevel", "Value", "é" * 2049),  # 2,049 characters, 4,098 bytes
        f"{S}/LogLevel: parameter value of 4098 bytes > 4096",
    ),
    (
        "advanced-value",
        both(
            set_property("LogLevel", "Tier", "Advanced"),
            set_property("LogLevel", "Value", "v" * 8193),
        ),
        f"{S}/LogLevel: parameter value of 8193 bytes > 8192",
    ),
    (
        "securestring-name",
        set_property("CookieSalt", "ParameterName", parameter_name(968)),
        f"{S}/CookieSalt: parameter name with ARN prefix of 1012 characters > 1011",
    ),
    (
        "securestring-generated-value",
        set_property("CookieSalt", "Generate", {"Length": "4097"}),
        f"{S}/CookieSalt: parameter value of 4097 bytes > 4096",
    ),
    (
        "secret-name",
        set_property("Secret", "Name", "prod/payments/" + "n" * 499),
        f"{S}/Secret: secret name of 513 characters > 512",
    ),
    (
        "secret-description",
        set_property("Secret", "Description", "d" * 2049),
        f"{S}/Secret: secret description of 2049 characters > 2048",
    ),
    (
        "generated-length",
        set_property("Secret", "GenerateSecretString", {"PasswordLength": 4097}),
        f"{S}/Secret: generated length of 4097 characters > 4096",
    ),
    (
        "secret-value",
        set_property(
            "Secret",
            "GenerateSecretString",
            {
                "PasswordLength": 64,
                # {"notes": "<n>", "signing_key": "<64 characters>"}: 65,537 bytes.
                "SecretStringTemplate": json.dumps({"notes": "n" * (65_537 - 96)}),
                "GenerateStringKey": "signing_key",
            },
        ),
        f"{S}/Secret: secret value of 65537 bytes > 65536",
    ),
    (
        "tags-per-resource",
        add_tags("Secret", 46),
        f"{S}/Secret: tags of 51 > 50",
    ),
    (
        "parameter-tags",
        set_property("LogLevel", "Tags", {f"K{i}": "v" for i in range(51)}),
        f"{S}/LogLevel: tags of 51 > 50",
    ),
    (
        "tag-key",
        set_property("RotationRole", "Tags", [{"Key": "k" * 129, "Value": "v"}]),
        f"{S}/RotationRole: tag key of 129 characters > 128",
    ),
    (
        "tag-value",
        set_property("Key", "Tags", [{"Key": "Owner", "Value": "v" * 257}]),
        f"{S}/Key: tag value of 257 characters > 256",
    ),
    (
        "reserved-tag-key",
        set_property("Key", "Tags", [{"Key": "AWS:team", "Value": "v"}]),
        f"{S}/Key: tag key 'AWS:team' is reserved for AWS",
    ),
    (
        "role-name",
        set_property("ExecutionRole", "RoleName", "r" * 65),
        f"{S}/ExecutionRole: role name of 65 characters > 64",
    ),
    (
        "role-path",
        set_property("ExecutionRole", "Path", "/" + "p" * 511 + "/"),
        f"{S}/ExecutionRole: role path of 513 characters > 512",
    ),
    (
        "role-description",
        set_property("ExecutionRole", "Description", "d" * 1001),
        f"{S}/ExecutionRole: role description of 1001 characters > 1000",
    ),
    (
        "trust-policy",
        set_property(
            "RotationRole",
            "AssumeRolePolicyDocument",
            {"Statement": [{**TRUST["Statement"][0], "Sid": "s" * 2048}]},
        ),
        f"{S}/RotationRole: trust policy of 2167 characters > 2048",
    ),
    (
        "managed-policies-per-role",
        attach_policies(9),
        f"{S}/ExecutionRole: managed policies of 11 > 10",
    ),
    (
        "managed-policy-name",
        set_property("SecretsPolicy", "ManagedPolicyName", "m" * 129),
        f"{S}/SecretsPolicy: managed policy name of 129 characters > 128",
    ),
    (
        "replica-key-policy",
        set_property("ReplicaKey", "KeyPolicy", BIG_POLICY),
        f"{S}/ReplicaKey: key policy of 32852 characters > 32768",
    ),
    (
        "key-description",
        set_property("Key", "Description", "d" * 8193),
        f"{S}/Key: key description of 8193 characters > 8192",
    ),
    (
        "alias-name",
        set_property("Alias", "AliasName", "alias/" + "a" * 251),
        f"{S}/Alias: alias name of 257 characters > 256",
    ),
]


@pytest.mark.parametrize(
    ("change", "expected"),
    [case[1:] for case in BREACHES],
    ids=[case[0] for case in BREACHES],
)
def test_each_check_fails_on_a_template_past_its_limit(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    assert problems_of(tmp_path, change) == [expected]


AT_THE_LIMIT: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("event-pattern", pad_pattern(2048)),
    ("parameter-name", set_property("LogLevel", "Name", parameter_name(1011 - 44))),
    ("parameter-depth", set_property("LogLevel", "Name", "/payments/prod" + "/level" * 13)),
    ("standard-value", set_property("LogLevel", "Value", "v" * 4096)),
    (
        "advanced-value",
        both(
            set_property("LogLevel", "Tier", "Advanced"),
            set_property("LogLevel", "Value", "é" * 4096),
        ),
    ),
    ("securestring-generated-value", set_property("CookieSalt", "Generate", {"Length": 4096})),
    ("tags-per-resource", add_tags("Secret", 45)),
    ("managed-policies-per-role", attach_policies(8)),
    ("role-name", set_property("ExecutionRole", "RoleName", "r" * 64)),
]


@pytest.mark.parametrize(
    "change", [case[1] for case in AT_THE_LIMIT], ids=[case[0] for case in AT_THE_LIMIT]
)
def test_a_template_at_the_limit_passes(
    tmp_path: Path, change: Callable[[dict[str, Any]], None]
) -> None:
    assert problems_of(tmp_path, change) == []


def test_tags_with_the_reserved_prefix_are_refused_but_not_counted(tmp_path: Path) -> None:
    """`aws:` tags are AWS's own (aws:cloudformation:stack-name...): a template may not set one,
    and one does not count towards the 50."""
    tags = [*extra_tags(50), {"Key": "aws:cloudformation:stack-name", "Value": SECRETS}]
    assert problems_of(tmp_path, set_property("Secret", "Tags", tags)) == [
        f"{S}/Secret: tag key 'aws:cloudformation:stack-name' is reserved for AWS"
    ]


def test_stack_tags_count_once_with_the_resource_tags(tmp_path: Path) -> None:
    """CloudFormation propagates a stack's tags to its resources: a key both carry counts once."""
    stack_tags = {"Application": "payments", "Environment": "prod"}
    fits = {**stack_tags, **{f"Team{index}": "t" for index in range(45)}}  # 47 keys, 50 on Secret
    assert problems_of(tmp_path, stack_tags=fits) == []

    over = {**fits, "Team45": "t"}  # the Secret's 5 keys and 46 more
    assert problems_of(tmp_path, stack_tags=over) == [f"{S}/Secret: tags of 51 > 50"]

    too_many = {f"Team{index}": "t" for index in range(51)}
    assert f"{S}: 51 stack tags > 50" in problems_of(tmp_path, stack_tags=too_many)


def test_a_managed_policy_of_another_stack_counts_against_the_role_it_names(
    tmp_path: Path,
) -> None:
    """A role named by an imported role's name in another stack's policy (`attach_to`)."""
    secrets = base_template()
    attach_policies(8)(secrets["Resources"])  # 10 attached in its own stack
    other = {
        "Resources": {
            "ReaderPolicy": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {"PolicyDocument": POLICY, "Roles": ["payments-prod-api-execution"]},
            }
        }
    }
    found, _ = breaches(write_assembly(tmp_path, {SECRETS: secrets, OTHER: other}))
    assert found == [f"{S}/ExecutionRole: managed policies of 11 > 10"]


def test_the_command_prints_figures_then_breaches_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "inside").mkdir()
    (tmp_path / "over").mkdir()
    inside = write_assembly(tmp_path / "inside", {SECRETS: base_template()})
    template = base_template()
    pad_pattern(2049)(template["Resources"])
    over = write_assembly(tmp_path / "over", {SECRETS: template})

    def run(outdir: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / "limits.py"), str(outdir)],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    passed, failed = run(inside), run(over)
    assert passed.returncode == 0, passed.stderr
    (line,) = passed.stdout.splitlines()
    assert line.startswith("Strongbox-Prod/Secrets {") and json.loads(line.split(" ", 1)[1])
    assert failed.returncode == 1, failed.stderr
    assert failed.stdout.splitlines()[1:] == [
        f"BREACH {S}/UnexpectedReads: event pattern of 2049 characters > 2048"
    ]
