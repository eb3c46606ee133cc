"""Stages and stacks of the shipped config: keys, replica keys, secrets and their policies."""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path
from typing import Any

import pytest

from stacks.config import MAX_ROLE_NAME, EnvironmentConfig, alert_pattern_size, parse_config
from strongbox.keys import KEY_ADMINISTRATION_ACTIONS
from strongbox.naming import pascal_case
from tests.conftest import (
    HANDLER_DIRECTORIES,
    Synthesized,
    SynthesizedStack,
    as_list,
    cdk_json_context,
    default_strongbox_config,
    expected_stacks,
    only,
    synthesize,
)

CONFIG = parse_config(default_strongbox_config())
ENVIRONMENTS = [e.name for e in CONFIG.environments]

# Stateful resources' logical ids. Changing one makes CloudFormation replace the resource: a new
# key (the old one scheduled for deletion) or a new secret with a new value. Never edit this
# table to make a test pass; migrate deliberately (see README, "Logical ids").
KEY_LOGICAL_ID = "SecretsKey0D2EC683"
REPLICA_KEY_LOGICAL_ID = "SecretsReplicaKeyE6B8B329"
SECRET_LOGICAL_IDS = {  # by purpose
    "db-credentials": "DbCredentialsSecret73110601",
    "stripe-api-key": "StripeApiKeySecret943E17F7",
    "session-signing-key": "SessionSigningKeySecret94BF8D7B",
    "webhook-signing": "WebhookSigningSecretD08D55C5",
    "reporting-api-token": "ReportingApiTokenSecret03FC9D05",
}
STATEFUL_TYPES = ("AWS::KMS::Key", "AWS::KMS::ReplicaKey", "AWS::SecretsManager::Secret")


def stack(synthesized: Synthesized, environment: EnvironmentConfig, name: str) -> SynthesizedStack:
    return synthesized.stack(f"{environment.stage_name}/{name}")


def output_pointing_at(keys: SynthesizedStack, value: dict[str, Any]) -> str:
    names: list[str] = [
        n for n, output in keys.template["Outputs"].items() if output["Value"] == value
    ]
    (name,) = names
    return name


def expected_key_policy(environment: EnvironmentConfig) -> dict[str, Any]:
    account = environment.account
    statements: list[dict[str, Any]] = [
        {
            "Sid": "KeyAdministration",
            "Effect": "Allow",
            "Principal": {
                "AWS": sorted([f"arn:aws:iam::{account}:root", *environment.key_administrators])
                if environment.key_administrators
                else f"arn:aws:iam::{account}:root"
            },
            "Action": list(KEY_ADMINISTRATION_ACTIONS),
            "Resource": "*",
        },
        {
            "Sid": "UseThroughSecretsManagerAndSsm",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
            "Action": [
                "kms:Decrypt",
                "kms:DescribeKey",
                "kms:Encrypt",
                "kms:GenerateDataKey*",
            ],
            "Resource": "*",
            "Condition": {
                "StringEquals": {
                    "kms:CallerAccount": account,
                    "kms:ViaService": [
                        f"{service}.{region}.amazonaws.com"
                        for region in environment.regions
                        for service in ("secretsmanager", "ssm")
                    ],
                }
            },
        },
    ]
    for reader in environment.cross_account_readers:
        statements.append(
            {
                "Sid": f"CrossAccountDecrypt{reader}",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{reader}:root"},
                "Action": ["kms:Decrypt", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        "kms:CallerAccount": reader,
                        "kms:ViaService": [
                            f"secretsmanager.{region}.amazonaws.com"
                            for region in environment.regions
                        ],
                    }
                },
            }
        )
    statements.append(
        {
            "Sid": "CloudWatchLogsEncryptLogGroups",
            "Effect": "Allow",
            "Principal": {
                "Service": sorted(f"logs.{region}.amazonaws.com" for region in environment.regions)
                if len(environment.regions) > 1
                else f"logs.{environment.region}.amazonaws.com"
            },
            "Action": [
                "kms:Decrypt*",
                "kms:Describe*",
                "kms:Encrypt*",
                "kms:GenerateDataKey*",
                "kms:ReEncrypt*",
            ],
            "Resource": "*",
            "Condition": {
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": [
                        f"arn:aws:logs:{region}:{account}:log-group:*"
                        for region in environment.regions
                    ]
                }
            },
        }
    )
    statements.append(
        {
            "Sid": "EventBridgeUsesEncryptedTopics",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
        }
    )
    statements.append(
        {
            "Sid": "CloudWatchAlarmsUseEncryptedTopics",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": account},
                "ArnLike": {
                    "aws:SourceArn": [
                        f"arn:aws:cloudwatch:{region}:{account}:alarm:*"
                        for region in environment.regions
                    ]
                },
            },
        }
    )
    if environment.workload and environment.workload.database:
        statements.append(
            {
                "Sid": "UseThroughRds",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": [
                    "kms:CreateGrant",
                    "kms:Decrypt",
                    "kms:DescribeKey",
                    "kms:Encrypt",
                    "kms:GenerateDataKey*",
                    "kms:ListGrants",
                    "kms:ReEncrypt*",
                ],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        "kms:CallerAccount": account,
                        "kms:ViaService": f"rds.{environment.region}.amazonaws.com",
                    }
                },
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def sorted_statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(policy["Statement"], key=lambda statement: statement["Sid"])


def test_lambda_assets_hold_the_handlers_without_bytecode_caches(
    synthesized: Synthesized,
) -> None:
    # conftest compiled every handler directory before the synth, as importing a handler does.
    assert all((directory / "__pycache__").is_dir() for directory in HANDLER_DIRECTORIES)
    assets = [a for a in synthesized.outdir.glob("asset.*") if (a / "handler.py").is_file()]

    assert {(asset / "handler.py").read_text() for asset in assets} == {
        (directory / "handler.py").read_text() for directory in HANDLER_DIRECTORIES
    }
    for asset in assets:
        assert sorted(path.name for path in asset.rglob("*")) == ["__init__.py", "handler.py"]


def test_stacks_per_environment(synthesized: Synthesized) -> None:
    assert sorted(synthesized.stacks) == expected_stacks()
    assert "Strongbox-Prod/ReplicaKeys-eu-central-1" in synthesized.stacks
    assert not [name for name in synthesized.stacks if "ReplicaKeys" in name and "Prod" not in name]


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_stacks_deploy_to_the_environment_account_and_their_region(
    synthesized: Synthesized, name: str
) -> None:
    environment = CONFIG.environment(name)
    for stack_id in ("Keys", "Network", "Secrets", "Parameters"):
        deployed = stack(synthesized, environment, stack_id)
        assert (deployed.account, deployed.region) == (environment.account, environment.region)
        assert deployed.stack_name == f"{environment.stage_name}-{stack_id}"
    for region in environment.replica_regions:
        replica = stack(synthesized, environment, f"ReplicaKeys-{region}")
        assert (replica.account, replica.region) == (environment.account, region)


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_network_and_parameters_deploy_after_what_they_use(
    synthesized: Synthesized, name: str
) -> None:
    environment = CONFIG.environment(name)
    keys, network, secrets, parameters = (
        stack(synthesized, environment, stack_id)
        for stack_id in ("Keys", "Network", "Secrets", "Parameters")
    )
    assert keys.artifact_id in network.dependencies  # flow logs use the key
    assert network.artifact_id in secrets.dependencies  # rotation runs in the VPC
    assert {keys.artifact_id, network.artifact_id} <= set(parameters.dependencies)
    assert parameters.artifact_id not in secrets.dependencies  # one way: no cycle


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_deploy_order_is_keys_then_replica_keys_then_secrets(
    synthesized: Synthesized, name: str
) -> None:
    environment = CONFIG.environment(name)
    keys = stack(synthesized, environment, "Keys")
    secrets = stack(synthesized, environment, "Secrets")
    assert keys.artifact_id in secrets.dependencies
    for region in environment.replica_regions:
        replica = stack(synthesized, environment, f"ReplicaKeys-{region}")
        assert keys.artifact_id in replica.dependencies
        assert replica.artifact_id in secrets.dependencies


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_secrets_key_properties(synthesized: Synthesized, name: str) -> None:
    environment = CONFIG.environment(name)
    keys = stack(synthesized, environment, "Keys")
    key_id, key = only(keys.resources("AWS::KMS::Key"))
    _, alias = only(keys.resources("AWS::KMS::Alias"))
    properties = key["Properties"]

    assert properties["EnableKeyRotation"] is True
    assert properties["RotationPeriodInDays"] == 365
    assert properties.get("KeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT"
    # Multi-region everywhere: adding the first replica region later must not replace the key.
    assert properties["MultiRegion"] is True
    assert properties["PendingWindowInDays"] == (7 if name == "dev" else 30)
    assert alias["Properties"] == {
        "AliasName": f"alias/payments/{name}/secrets",
        "TargetKeyId": {"Fn::GetAtt": [key_id, "Arn"]},
    }


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_key_policy_has_exactly_the_role_statements(synthesized: Synthesized, name: str) -> None:
    environment = CONFIG.environment(name)
    _, key = only(stack(synthesized, environment, "Keys").resources("AWS::KMS::Key"))
    policy = key["Properties"]["KeyPolicy"]

    assert sorted_statements(policy) == sorted_statements(expected_key_policy(environment))
    for statement in policy["Statement"]:
        cryptographic = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"}
        if statement["Sid"] == "KeyAdministration":
            assert not cryptographic & set(statement["Action"]), "administrators never use the key"
            assert "kms:CreateGrant" not in statement["Action"]


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_every_alert_publisher_of_the_stage_may_use_the_key(
    synthesized: Synthesized, name: str
) -> None:
    """The key's publisher statements name the source account and ARNs (confused deputy); every
    alarm and rule of the stage that publishes to a topic encrypted with the key must still
    match them, or its alerts are dropped at KMS."""
    environment = CONFIG.environment(name)
    _, key = only(stack(synthesized, environment, "Keys").resources("AWS::KMS::Key"))
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    publishers: list[tuple[str, str, str]] = []
    for deployed in synthesized.stacks.values():
        if not deployed.name.startswith(f"{environment.stage_name}/"):
            continue
        topics = [
            {"Ref": topic_id}
            for topic_id, topic in deployed.resources("AWS::SNS::Topic").items()
            if "KmsMasterKeyId" in topic["Properties"]
        ]
        prefix = f"{deployed.region}:{deployed.account}"
        for alarm_id, alarm in deployed.resources("AWS::CloudWatch::Alarm").items():
            if any(action in topics for action in alarm["Properties"].get("AlarmActions", [])):
                alarm_name = alarm["Properties"].get("AlarmName", f"{alarm_id}-generated")
                arn = f"arn:aws:cloudwatch:{prefix}:alarm:{alarm_name}"
                publishers.append(("cloudwatch.amazonaws.com", arn, deployed.account))
        for rule_id, rule in deployed.resources("AWS::Events::Rule").items():
            if any(target["Arn"] in topics for target in rule["Properties"].get("Targets", [])):
                rule_name = rule["Properties"].get("Name", f"{rule_id}-generated")
                arn = f"arn:aws:events:{prefix}:rule/{rule_name}"
                publishers.append(("events.amazonaws.com", arn, deployed.account))

    assert {service for service, _, _ in publishers} == {
        "cloudwatch.amazonaws.com",
        "events.amazonaws.com",
    }
    for service, source_arn, source_account in publishers:
        (statement,) = [s for s in statements if s["Principal"] == {"Service": service}]
        assert set(statement["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
        condition = statement.get("Condition", {})
        assert set(condition) <= {"StringEquals", "ArnLike"}, condition
        accounts = condition.get("StringEquals", {}).get("aws:SourceAccount", source_account)
        assert source_account in as_list(accounts), (service, source_arn)
        patterns = as_list(condition.get("ArnLike", {}).get("aws:SourceArn", "*"))
        assert any(fnmatch.fnmatchcase(source_arn, p) for p in patterns), (service, source_arn)


def test_prod_key_policy_details(synthesized: Synthesized) -> None:
    prod = CONFIG.environment("prod")
    _, key = only(stack(synthesized, prod, "Keys").resources("AWS::KMS::Key"))
    by_sid = {s["Sid"]: s for s in key["Properties"]["KeyPolicy"]["Statement"]}

    assert by_sid["KeyAdministration"]["Principal"]["AWS"] == [
        "arn:aws:iam::333333333333:role/strongbox-key-admin",
        "arn:aws:iam::333333333333:root",
    ]
    assert by_sid["UseThroughSecretsManagerAndSsm"]["Condition"]["StringEquals"] == {
        "kms:CallerAccount": "333333333333",
        "kms:ViaService": [
            "secretsmanager.eu-west-1.amazonaws.com",
            "ssm.eu-west-1.amazonaws.com",
            "secretsmanager.eu-central-1.amazonaws.com",
            "ssm.eu-central-1.amazonaws.com",
        ],
    }
    assert by_sid["CrossAccountDecrypt444444444444"]["Condition"]["StringEquals"] == {
        "kms:CallerAccount": "444444444444",
        "kms:ViaService": [
            "secretsmanager.eu-west-1.amazonaws.com",
            "secretsmanager.eu-central-1.amazonaws.com",
        ],
    }


def test_replica_key_replicates_the_primary_with_the_same_policy(synthesized: Synthesized) -> None:
    prod = CONFIG.environment("prod")
    keys = stack(synthesized, prod, "Keys")
    replica_stack = stack(synthesized, prod, "ReplicaKeys-eu-central-1")
    primary_id, primary = only(keys.resources("AWS::KMS::Key"))
    replica_id, replica = only(replica_stack.resources("AWS::KMS::ReplicaKey"))
    _, alias = only(replica_stack.resources("AWS::KMS::Alias"))

    arn_output = output_pointing_at(keys, {"Fn::GetAtt": [primary_id, "Arn"]})
    assert replica["Properties"]["PrimaryKeyArn"] == {
        "Fn::GetStackOutput": {
            "StackName": "Strongbox-Prod-Keys",
            "Region": "eu-west-1",
            "OutputName": arn_output,
        }
    }
    assert replica["Properties"]["KeyPolicy"] == primary["Properties"]["KeyPolicy"]
    assert replica["Properties"]["PendingWindowInDays"] == 30
    assert replica["Properties"]["Enabled"] is True
    assert alias["Properties"] == {
        "AliasName": "alias/payments/prod/secrets",
        "TargetKeyId": {"Fn::GetAtt": [replica_id, "KeyId"]},
    }


def test_secret_replicas_use_the_computed_replica_key_arn(synthesized: Synthesized) -> None:
    prod = CONFIG.environment("prod")
    keys = stack(synthesized, prod, "Keys")
    secrets = stack(synthesized, prod, "Secrets")
    primary_id, _ = only(keys.resources("AWS::KMS::Key"))
    key_id_output = output_pointing_at(keys, {"Ref": primary_id})

    replica_arn = {
        "Fn::Join": [
            "",
            [
                "arn:aws:kms:eu-central-1:333333333333:key/",
                {
                    "Fn::GetStackOutput": {
                        "StackName": "Strongbox-Prod-Keys",
                        "Region": "eu-west-1",  # the key id, read in the primary region
                        "OutputName": key_id_output,
                    }
                },
            ],
        ]
    }
    replicated = {f"prod/payments/{s.purpose}" for s in prod.secrets if s.replicate}
    by_name = {
        resource["Properties"]["Name"]: resource["Properties"]
        for resource in secrets.resources("AWS::SecretsManager::Secret").values()
    }
    # db-credentials stays in the primary region: hosted rotation cannot reach a replica.
    assert set(by_name) - replicated == {"prod/payments/db-credentials"}
    for name, properties in by_name.items():
        if name in replicated:
            assert properties["ReplicaRegions"] == [
                {"Region": "eu-central-1", "KmsKeyId": replica_arn}
            ]
        else:
            assert "ReplicaRegions" not in properties


@pytest.mark.parametrize("name", ["dev", "staging"])
def test_environments_without_replica_regions_do_not_replicate(
    synthesized: Synthesized, name: str
) -> None:
    secrets = stack(synthesized, CONFIG.environment(name), "Secrets")
    for resource in secrets.resources("AWS::SecretsManager::Secret").values():
        assert "ReplicaRegions" not in resource["Properties"]


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_every_secret_has_a_resource_policy(synthesized: Synthesized, name: str) -> None:
    environment = CONFIG.environment(name)
    secrets = stack(synthesized, environment, "Secrets")
    secret_ids = set(secrets.resources("AWS::SecretsManager::Secret"))
    policies = secrets.resources("AWS::SecretsManager::ResourcePolicy").values()
    assert {policy["Properties"]["SecretId"]["Ref"] for policy in policies} == secret_ids

    exempt = [
        f"arn:aws:iam::{environment.account}:root",
        f"arn:aws:iam::{environment.account}:role/cdk-hnb659fds-cfn-exec-role-"
        f"{environment.account}-{environment.region}",
        *environment.key_administrators,
    ]
    by_secret = {policy["Properties"]["SecretId"]["Ref"]: policy for policy in policies}
    for secret_config in environment.secrets:
        (secret_id,) = [
            logical_id
            for logical_id, resource in secrets.resources("AWS::SecretsManager::Secret").items()
            if resource["Properties"]["Name"] == f"{name}/payments/{secret_config.purpose}"
        ]
        properties = by_secret[secret_id]["Properties"]
        assert properties["BlockPublicPolicy"] is True
        expected = [
            {
                "Sid": "OnlyAdministratorsDeleteOrChangePolicy",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": [
                    "secretsmanager:DeleteResourcePolicy",
                    "secretsmanager:DeleteSecret",
                    "secretsmanager:PutResourcePolicy",
                    "secretsmanager:RemoveRegionsFromReplication",
                    "secretsmanager:StopReplicationToReplica",
                ],
                "Resource": "*",
                "Condition": {"ArnNotLike": {"aws:PrincipalArn": exempt}},
            },
            *(
                {
                    "Sid": f"CrossAccountRead{reader}",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{reader}:root"},
                    "Action": ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
                    "Resource": "*",
                }
                for reader in secret_config.cross_account_readers
            ),
        ]
        assert properties["ResourcePolicy"] == {"Version": "2012-10-17", "Statement": expected}


def test_only_the_reporting_token_is_shared_cross_account(synthesized: Synthesized) -> None:
    secrets = stack(synthesized, CONFIG.environment("prod"), "Secrets")
    shared = {
        policy["Properties"]["SecretId"]["Ref"]
        for policy in secrets.resources("AWS::SecretsManager::ResourcePolicy").values()
        if any(s["Effect"] == "Allow" for s in policy["Properties"]["ResourcePolicy"]["Statement"])
    }
    assert shared == {SECRET_LOGICAL_IDS["reporting-api-token"]}


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_stateful_logical_ids_are_pinned(synthesized: Synthesized, name: str) -> None:
    environment = CONFIG.environment(name)
    expected = {
        "Keys": {KEY_LOGICAL_ID},
        **{f"ReplicaKeys-{r}": {REPLICA_KEY_LOGICAL_ID} for r in environment.replica_regions},
        "Secrets": {SECRET_LOGICAL_IDS[s.purpose] for s in environment.secrets},
    }
    for stack_id, logical_ids in expected.items():
        template_resources = stack(synthesized, environment, stack_id).template["Resources"]
        stateful = {
            logical_id
            for logical_id, resource in template_resources.items()
            if resource["Type"] in STATEFUL_TYPES
        }
        assert stateful == logical_ids, (
            f"{environment.stage_name}/{stack_id}: a stateful logical id changed, which replaces "
            "the resource. Restore the construct id, or migrate deliberately (README, Logical ids)."
        )


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_stateful_resources_are_retained_outside_dev(synthesized: Synthesized, name: str) -> None:
    environment = CONFIG.environment(name)
    expected = "Delete" if name == "dev" else "Retain"
    stateful: dict[str, dict[str, Any]] = {}
    for stack_id in ("Keys", *(f"ReplicaKeys-{r}" for r in environment.replica_regions), "Secrets"):
        deployed = stack(synthesized, environment, stack_id)
        for resource_type in STATEFUL_TYPES:
            stateful.update(deployed.resources(resource_type))
    assert len(stateful) == 1 + len(environment.replica_regions) + len(environment.secrets)
    for logical_id, resource in stateful.items():
        assert resource["DeletionPolicy"] == expected, logical_id
        assert resource["UpdateReplacePolicy"] == expected, logical_id


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_secrets_are_named_generated_encrypted_with_the_cmk_and_tagged(
    synthesized: Synthesized, name: str
) -> None:
    environment = CONFIG.environment(name)
    keys = stack(synthesized, environment, "Keys")
    secrets = stack(synthesized, environment, "Secrets")
    key_id, _ = only(keys.resources("AWS::KMS::Key"))
    arn_output = output_pointing_at(keys, {"Fn::GetAtt": [key_id, "Arn"]})

    by_name = {
        resource["Properties"]["Name"]: resource
        for resource in secrets.resources("AWS::SecretsManager::Secret").values()
    }
    assert set(by_name) == {f"{name}/payments/{s.purpose}" for s in environment.secrets}
    for secret_config in environment.secrets:
        properties = by_name[f"{name}/payments/{secret_config.purpose}"]["Properties"]
        assert "SecretString" not in properties, "a literal value would sit in the template"
        assert "GenerateSecretString" in properties
        assert properties["Description"] == secret_config.description
        assert properties["KmsKeyId"] == {
            "Fn::GetStackOutput": {
                "StackName": keys.stack_name,
                "Region": environment.region,
                "OutputName": arn_output,
            }
        }
        tags = {tag["Key"]: tag["Value"] for tag in properties["Tags"]}
        assert tags == {
            "Environment": name,
            "Application": "payments",
            "Component": secret_config.purpose,
            "Owner": secret_config.owner,
            "SecretKind": secret_config.kind,
        }


def _generator(synthesized: Synthesized, secret_name: str) -> dict[str, Any]:
    secrets = synthesized.stack("Strongbox-Prod/Secrets")
    (resource,) = [
        r
        for r in secrets.resources("AWS::SecretsManager::Secret").values()
        if r["Properties"]["Name"] == secret_name
    ]
    generator: dict[str, Any] = resource["Properties"]["GenerateSecretString"]
    return generator


def test_database_secret_has_the_fields_rotation_expects(synthesized: Synthesized) -> None:
    generator = _generator(synthesized, "prod/payments/db-credentials")
    assert generator["GenerateStringKey"] == "password"
    assert generator["PasswordLength"] == 32
    assert set('/@" ') <= set(generator["ExcludeCharacters"])  # characters RDS refuses
    assert generator["SecretStringTemplate"] == (
        '{"dbname": "payments", "engine": "postgres", "host": "", "port": 5432, '
        '"username": "payments_app"}'
    )


def test_api_key_and_json_secrets_generate_their_value(synthesized: Synthesized) -> None:
    assert _generator(synthesized, "prod/payments/stripe-api-key") == {
        "ExcludePunctuation": True,
        "PasswordLength": 40,
    }
    assert _generator(synthesized, "prod/payments/webhook-signing") == {
        "ExcludePunctuation": True,
        "GenerateStringKey": "signing_key",
        "PasswordLength": 64,
        "SecretStringTemplate": '{"algorithm": "HMAC-SHA256"}',
    }


def test_vpc_endpoint_only_from_config_reaches_the_resource_policy(
    tmp_path: Path,
) -> None:
    """The secret accepts its value calls through the Network stack's own Secrets Manager
    endpoint (private DNS on, so every call from the VPC goes through it: the execution role,
    the rotation functions, the readers) and through `network.vpc_endpoint_ids`."""
    context = cdk_json_context()
    staging = context["strongbox"]["environments"]["staging"]
    staging["network"]["vpc_endpoint_ids"] = ["vpce-0a1b2c3d4e5f60718"]
    staging["secrets"][0]["vpc_endpoint_only"] = True
    context["env"] = "staging"

    synthesized = synthesize(context, tmp_path)

    assert synthesized.findings() == []
    secrets = synthesized.stack("Strongbox-Staging/Secrets")
    by_secret = {
        p["Properties"]["SecretId"]["Ref"]: p["Properties"]["ResourcePolicy"]["Statement"]
        for p in secrets.resources("AWS::SecretsManager::ResourcePolicy").values()
    }
    restricted = {
        secret_id: statements[-1]["Condition"]["StringNotEquals"]
        for secret_id, statements in by_secret.items()
        if statements[-1]["Sid"] == "OnlyThroughVpcEndpoints"
    }
    assert list(restricted) == [SECRET_LOGICAL_IDS["db-credentials"]]
    created, configured = restricted[SECRET_LOGICAL_IDS["db-credentials"]]["aws:SourceVpce"]
    assert configured == "vpce-0a1b2c3d4e5f60718"
    network = synthesized.stack("Strongbox-Staging/Network")
    output = created["Fn::GetStackOutput"]
    assert output["StackName"] == network.stack_name
    endpoint_id = network.template["Outputs"][output["OutputName"]]["Value"]["Ref"]
    endpoint = network.template["Resources"][endpoint_id]
    assert endpoint["Type"] == "AWS::EC2::VPCEndpoint"
    assert endpoint["Properties"]["ServiceName"] == "com.amazonaws.eu-west-1.secretsmanager"
    assert endpoint["Properties"]["PrivateDnsEnabled"] is True


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_config_sizes_the_unexpected_read_pattern_as_synth_writes_it(
    synthesized: Synthesized, environment: str
) -> None:
    """The size config refuses an oversized allowed_readers list by is the rule's pattern as
    deployed, a rotation function's generated role ARN counted at the longest IAM allows."""
    config = parse_config(default_strongbox_config())
    env = config.environment(environment)
    stack = synthesized.stack(f"{env.stage_name}/Secrets")
    (rule,) = [
        r for logical_id, r in stack.resources("AWS::Events::Rule").items()
        if logical_id.startswith("AlertsUnexpectedReads")
    ]  # fmt: skip
    longest = f"arn:aws:iam::{env.account}:role/" + "x" * MAX_ROLE_NAME
    text = json.dumps(rule["Properties"]["EventPattern"], separators=(",", ":"))
    deployed = re.sub(r'\{"Fn::GetAtt":\["\w+","Arn"\]\}', f'"{longest}"', text)

    assert "Fn::" not in deployed
    assert alert_pattern_size(config.application, env)[0] == len(deployed)


def test_config_sizes_a_shared_secrets_resource_policy_as_synth_writes_it(
    synthesized: Synthesized,
) -> None:
    """The size config refuses too many readers of one secret by is the resource policy as
    deployed: prod's reporting-api-token, shared with another account."""
    env = CONFIG.environment("prod")
    (index,) = [i for i, secret in enumerate(env.secrets) if secret.cross_account_readers]
    stack = synthesized.stack(f"{env.stage_name}/Secrets")
    (policy,) = [
        resource["Properties"]["ResourcePolicy"]
        for logical_id, resource in stack.resources("AWS::SecretsManager::ResourcePolicy").items()
        if logical_id.startswith(pascal_case(env.secrets[index].purpose))
    ]
    deployed = json.dumps(policy, separators=(",", ":"))

    assert "Fn::" not in deployed
    assert env.secret_policy_size(env.secrets[index]) == len(deployed)
