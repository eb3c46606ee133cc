"""The workload reads exactly what it uses: computed from the synthesized templates."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.config import parse_config
from tests.conftest import Synthesized, SynthesizedStack, default_strongbox_config

CONFIG = parse_config(default_strongbox_config())
ENVIRONMENTS = [e.name for e in CONFIG.environments if e.workload]


def key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def secret_reference(value_from: Any) -> Any:
    """The secret ARN part of an ECS valueFrom (`<arn>:<field>:<stage>:` is a Fn::Join)."""
    if isinstance(value_from, dict) and "Fn::Join" in value_from:
        return value_from["Fn::Join"][1][0]
    return value_from


def role_statements(stack: SynthesizedStack, role_id: str) -> list[dict[str, Any]]:
    role = stack.template["Resources"][role_id]["Properties"]
    attached = {ref["Ref"] for ref in role.get("ManagedPolicyArns", [])}
    assert "Policies" not in role, "no inline policies"
    assert all(
        isinstance(arn, dict) and "Ref" in arn for arn in role.get("ManagedPolicyArns", [])
    ), "only this stack's customer-managed policies, no AWS-managed ones"
    statements = []
    for logical_id, resource in stack.template["Resources"].items():
        attaches = resource["Type"] == "AWS::IAM::ManagedPolicy" and (
            logical_id in attached or {"Ref": role_id} in resource["Properties"].get("Roles", [])
        )
        inline = resource["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in resource[
            "Properties"
        ].get("Roles", [])
        assert not inline, f"inline policy {logical_id} on {role_id}"
        if attaches:
            statements += resource["Properties"]["PolicyDocument"]["Statement"]
    return statements


def resources_for(statements: list[dict[str, Any]], action: str) -> set[str]:
    return {
        key(resource)
        for statement in statements
        if action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    }


def secret_name_behind(synthesized: Synthesized, stage: str, reference: Any) -> str:
    """Follow a cross-stack reference to the Secrets stack's secret and return its name."""
    output = reference["Fn::GetStackOutput"]
    secrets = synthesized.stack(f"{stage}/Secrets")
    assert output["StackName"] == secrets.stack_name
    logical_id = secrets.template["Outputs"][output["OutputName"]]["Value"]["Ref"]
    name: str = secrets.template["Resources"][logical_id]["Properties"]["Name"]
    return name


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_execution_role_reads_exactly_what_the_task_uses(
    synthesized: Synthesized, name: str
) -> None:
    environment = CONFIG.environment(name)
    stage = environment.stage_name
    stack = synthesized.stack(f"{stage}/Workload")
    (task,) = stack.resources("AWS::ECS::TaskDefinition").values()
    (container,) = task["Properties"]["ContainerDefinitions"]
    execution_role_id = task["Properties"]["ExecutionRoleArn"]["Fn::GetAtt"][0]
    task_role_id = task["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]
    statements = role_statements(stack, execution_role_id)

    used = [entry["ValueFrom"] for entry in container["Secrets"]]
    used_secrets = {key(secret_reference(v)) for v in used if not isinstance(v, str)}
    used_parameters = {key(v) for v in used if isinstance(v, str) and ":parameter/" in v}
    # Every entry is a secret or a parameter; every configured parameter is used.
    secret_entries = [v for v in used if not isinstance(v, str)]
    assert len(secret_entries) + len(used_parameters) == len(used)
    assert len(used_parameters) == len(environment.parameters)

    assert resources_for(statements, "secretsmanager:GetSecretValue") == used_secrets
    assert resources_for(statements, "ssm:GetParameters") == used_parameters
    # Every secret it reads is one of this environment's, consumed by this service.
    expected = {f"{name}/payments/{s.purpose}" for s in environment.secrets if "api" in s.consumers}
    assert {
        secret_name_behind(synthesized, stage, json.loads(reference)) for reference in used_secrets
    } == expected
    assert all(
        json.loads(p).startswith(
            f"arn:aws:ssm:eu-west-1:{environment.account}:parameter/payments/{name}/"
        )
        for p in used_parameters
    )
    # The only key it may use is the environment's, and only through the two services.
    decrypt = [s for s in statements if s["Action"] == "kms:Decrypt"]
    assert {key(s["Resource"]) for s in decrypt} == {
        key(
            {
                "Fn::GetStackOutput": {
                    "StackName": f"{stage}-Keys",
                    "Region": "eu-west-1",
                    "OutputName": "PublishOutputFnGetAttSecretsKey0D2EC683Arn814CB2AE",
                }
            }
        )
    }
    assert sorted(s["Condition"]["StringEquals"]["kms:ViaService"] for s in decrypt) == [
        "secretsmanager.eu-west-1.amazonaws.com",
        "ssm.eu-west-1.amazonaws.com",
    ]
    # The task role gets nothing.
    assert role_statements(stack, task_role_id) == []


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_task_definition_hygiene(synthesized: Synthesized, name: str) -> None:
    stack = synthesized.stack(f"{CONFIG.environment(name).stage_name}/Workload")
    (task,) = stack.resources("AWS::ECS::TaskDefinition").values()
    (container,) = task["Properties"]["ContainerDefinitions"]
    (service,) = stack.resources("AWS::ECS::Service").values()
    (cluster,) = stack.resources("AWS::ECS::Cluster").values()

    assert "Environment" not in container, "secrets only through the secrets block"
    assert container["ReadonlyRootFilesystem"] is True
    assert container["User"] == "1000:1000"
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    assert container["Image"]["Fn::Join"][1][-1] == "/payments-api:1.0.0"
    assert {entry["Name"] for entry in container["Secrets"]} >= {
        "DB_CREDENTIALS_PASSWORD",
        "DB_CREDENTIALS_USERNAME",
        "STRIPE_API_KEY",
        "SESSION_SIGNING_KEY",
        "LOG_LEVEL",
        "SESSION_COOKIE_SALT",
    }
    network = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "DISABLED"
    assert service["Properties"]["DesiredCount"] == CONFIG.environment(name).workload.desired_count  # type: ignore[union-attr]
    assert service["Properties"]["DeploymentConfiguration"]["MinimumHealthyPercent"] == 100
    assert cluster["Properties"]["ClusterSettings"] == [
        {"Name": "containerInsights", "Value": "enabled"}
    ]
