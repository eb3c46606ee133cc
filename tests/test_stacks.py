"""Stages and stacks: what each environment deploys, where, and what survives stack deletion."""

from __future__ import annotations

import pytest

from stacks.config import parse_config
from tests.conftest import Synthesized, default_strongbox_config

CONFIG = parse_config(default_strongbox_config())
ENVIRONMENTS = [e.name for e in CONFIG.environments]


def test_one_stage_per_environment_with_keys_and_secrets(synthesized: Synthesized) -> None:
    assert set(synthesized.stacks) == {
        f"Strongbox-{stage}/{stack}"
        for stage in ("Dev", "Staging", "Prod")
        for stack in ("Keys", "Secrets")
    }


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_stacks_deploy_to_the_environment_account_and_region(
    synthesized: Synthesized, name: str
) -> None:
    environment = CONFIG.environment(name)
    for stack in ("Keys", "Secrets"):
        synthesized_stack = synthesized.stack(f"{environment.stage_name}/{stack}")
        assert (synthesized_stack.account, synthesized_stack.region) == (
            environment.account,
            environment.region,
        )
        assert synthesized_stack.stack_name == f"{environment.stage_name}-{stack}"


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_secrets_stack_deploys_after_keys_stack(synthesized: Synthesized, name: str) -> None:
    stage = CONFIG.environment(name).stage_name
    keys = synthesized.stack(f"{stage}/Keys")
    assert keys.artifact_id in synthesized.stack(f"{stage}/Secrets").dependencies


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_secrets_key(synthesized: Synthesized, name: str) -> None:
    environment = CONFIG.environment(name)
    keys = synthesized.stack(f"{environment.stage_name}/Keys")
    ((key_id, key),) = keys.resources("AWS::KMS::Key").items()
    ((_, alias),) = keys.resources("AWS::KMS::Alias").items()

    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["Properties"]["RotationPeriodInDays"] == 365
    assert key["Properties"].get("KeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT"
    assert key["Properties"].get("MultiRegion", False) is bool(environment.replica_regions)
    assert key["Properties"]["PendingWindowInDays"] == (7 if name == "dev" else 30)
    assert alias["Properties"]["AliasName"] == f"alias/payments/{name}/secrets"
    assert alias["Properties"]["TargetKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_stateful_resources_are_retained_outside_dev(synthesized: Synthesized, name: str) -> None:
    stage = CONFIG.environment(name).stage_name
    expected = "Delete" if name == "dev" else "Retain"
    stateful = {
        **synthesized.stack(f"{stage}/Keys").resources("AWS::KMS::Key"),
        **synthesized.stack(f"{stage}/Secrets").resources("AWS::SecretsManager::Secret"),
    }
    assert len(stateful) == 3
    for logical_id, resource in stateful.items():
        assert resource["DeletionPolicy"] == expected, logical_id
        assert resource["UpdateReplacePolicy"] == expected, logical_id


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_secrets_are_named_generated_encrypted_with_the_cmk_and_tagged(
    synthesized: Synthesized, name: str
) -> None:
    environment = CONFIG.environment(name)
    keys = synthesized.stack(f"{environment.stage_name}/Keys")
    secrets = synthesized.stack(f"{environment.stage_name}/Secrets")
    (key_id,) = keys.resources("AWS::KMS::Key")
    (key_output,) = keys.template["Outputs"]
    assert keys.template["Outputs"][key_output]["Value"] == {"Fn::GetAtt": [key_id, "Arn"]}

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
        # The environment's CMK, read from the Keys stack, never the AWS-managed key.
        assert properties["KmsKeyId"] == {
            "Fn::GetStackOutput": {
                "StackName": keys.stack_name,
                "Region": environment.region,
                "OutputName": key_output,
            }
        }
        tags = {tag["Key"]: tag["Value"] for tag in properties["Tags"]}
        assert tags == {
            "Environment": name,
            "Application": "payments",
            "Component": secret_config.purpose,
            "Owner": secret_config.owner,
        }


def test_database_secret_generates_an_engine_safe_password(synthesized: Synthesized) -> None:
    secrets = synthesized.stack("Strongbox-Prod/Secrets")
    (database,) = [
        r
        for r in secrets.resources("AWS::SecretsManager::Secret").values()
        if r["Properties"]["Name"] == "prod/payments/db-credentials"
    ]
    generator = database["Properties"]["GenerateSecretString"]
    assert generator["GenerateStringKey"] == "password"
    assert generator["PasswordLength"] == 32
    assert set('/@" ') <= set(generator["ExcludeCharacters"])  # characters RDS refuses
