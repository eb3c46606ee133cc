"""The workload reads exactly what it uses: computed from the synthesized templates."""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Any

import pytest

from stacks.config import EnvironmentConfig, parse_config
from strongbox.credentials import credential_reason
from tests.conftest import Synthesized, SynthesizedStack, as_list, default_strongbox_config

CONFIG = parse_config(default_strongbox_config())
ENVIRONMENTS = [e.name for e in CONFIG.environments if e.workload]


def key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


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
    secrets = synthesized.stack(f"{stage}/Secrets")
    assert reference["Fn::GetStackOutput"]["StackName"] == secrets.stack_name
    return synthesized.secret_name(secrets, reference)


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


def consumers_of(environment: EnvironmentConfig, consumer: str) -> tuple[set[str], set[str]]:
    """Names of the secrets and parameters whose config lists `consumer`."""
    return (
        {
            f"{environment.name}/payments/{s.purpose}"
            for s in environment.secrets
            if consumer in s.consumers
        },
        {
            f"/payments/{environment.name}/{p.name}"
            for p in environment.parameters
            if consumer in p.consumers
        },
    )


def readable(
    synthesized: Synthesized, stack: SynthesizedStack, role_id: str
) -> tuple[set[str], set[str], list[dict[str, Any]]]:
    """What a role can read: secret names, parameter names, its kms:Decrypt statements."""
    statements = role_statements(stack, role_id)
    secrets = {
        synthesized.secret_name(stack, json.loads(resource))
        for resource in resources_for(statements, "secretsmanager:GetSecretValue")
    }
    prefix = f"arn:aws:ssm:eu-west-1:{stack.account}:parameter"
    parameters = {
        json.loads(arn).removeprefix(prefix)
        for arn in resources_for(statements, "ssm:GetParameters")
    }
    # The extension and the SDK call GetParameter, ECS GetParameters: both, on the same ARNs.
    assert resources_for(statements, "ssm:GetParameter") == resources_for(
        statements, "ssm:GetParameters"
    )
    decrypt = [s for s in statements if "kms:Decrypt" in as_list(s["Action"])]
    return secrets, parameters, decrypt


def role_id_by_name(stack: SynthesizedStack, name: str) -> str:
    (role_id,) = [
        logical_id
        for logical_id, role in stack.resources("AWS::IAM::Role").items()
        if role["Properties"].get("RoleName") == name
    ]
    return role_id


def only_the_environment_key(decrypt: list[dict[str, Any]], stage: str, services: set[str]) -> None:
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
    assert {s["Condition"]["StringEquals"]["kms:ViaService"] for s in decrypt} == {
        f"{service}.eu-west-1.amazonaws.com" for service in services
    }


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_function_reads_exactly_what_its_environment_names(
    synthesized: Synthesized, name: str
) -> None:
    environment = CONFIG.environment(name)
    stack = synthesized.stack(f"{environment.stage_name}/Workload")
    (function,) = [
        f["Properties"]
        for f in stack.resources("AWS::Lambda::Function").values()
        if f["Properties"]["Description"].startswith("reconciler:")
    ]
    variables = function["Environment"]["Variables"]
    used_secrets = {
        synthesized.secret_name(stack, value)
        for variable, value in variables.items()
        if variable.endswith("_SECRET_ARN")
    }
    used_parameters = {
        value for variable, value in variables.items() if variable.endswith("_PARAMETER_NAME")
    }
    role_id = function["Role"]["Fn::GetAtt"][0]
    secrets, parameters, decrypt = readable(synthesized, stack, role_id)

    assert (used_secrets, used_parameters) == consumers_of(environment, "reconciler")
    assert (secrets, parameters) == (used_secrets, used_parameters)
    assert used_secrets == {f"{name}/payments/stripe-api-key"}
    # No SecureString among its parameters: SSM never decrypts for it.
    only_the_environment_key(decrypt, environment.stage_name, {"secretsmanager"})
    assert stack.template["Resources"][role_id]["Properties"]["RoleName"] == (
        f"payments-{name}-reconciler-function"
    )
    # Where values live, never what they are.
    for variable, value in variables.items():
        assert not isinstance(value, str) or credential_reason("", value) is None, variable


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_function_uses_the_extension_layer_of_its_region(
    synthesized: Synthesized, name: str
) -> None:
    stack = synthesized.stack(f"{CONFIG.environment(name).stage_name}/Workload")
    (function,) = [
        f["Properties"]
        for f in stack.resources("AWS::Lambda::Function").values()
        if f["Properties"]["Description"].startswith("reconciler:")
    ]
    assert function["Layers"] == [
        "arn:aws:lambda:eu-west-1:015030872274:layer:AWS-Parameters-and-Secrets-Lambda-Extension-Arm64:4"
    ]
    assert function["Architectures"] == ["arm64"]
    variables = function["Environment"]["Variables"]
    assert variables["PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED"] == "true"
    assert variables["SECRETS_MANAGER_TTL"] == variables["SSM_PARAMETER_STORE_TTL"] == "300"
    assert "VpcConfig" in function and function["Handler"] == "handler.lambda_handler"


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_instance_profile_reads_exactly_its_secrets(synthesized: Synthesized, name: str) -> None:
    environment = CONFIG.environment(name)
    stack = synthesized.stack(f"{environment.stage_name}/Workload")
    role_id = role_id_by_name(stack, f"payments-{name}-batch-instance")
    ((profile_id, profile),) = stack.resources("AWS::IAM::InstanceProfile").items()
    (template,) = stack.resources("AWS::EC2::LaunchTemplate").values()
    data = template["Properties"]["LaunchTemplateData"]
    secrets, parameters, decrypt = readable(synthesized, stack, role_id)

    assert (secrets, parameters) == consumers_of(environment, "batch")
    assert secrets == {f"{name}/payments/webhook-signing"}
    only_the_environment_key(decrypt, environment.stage_name, {"secretsmanager"})
    assert profile["Properties"]["Roles"] == [{"Ref": role_id}]
    assert data["IamInstanceProfile"] == {"Arn": {"Fn::GetAtt": [profile_id, "Arn"]}}
    assert data["MetadataOptions"] == {"HttpPutResponseHopLimit": 1, "HttpTokens": "required"}
    assert data["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
    assert data["NetworkInterfaces"][0]["AssociatePublicIpAddress"] is False
    assert stack.template["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"][
        "Statement"
    ] == [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
        }
    ]


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_the_alert_rule_allows_exactly_the_workload_readers(
    synthesized: Synthesized, name: str
) -> None:
    """The Secrets stack names the readers before they exist; the names must be the real ones."""
    environment = CONFIG.environment(name)
    workload = synthesized.stack(f"{environment.stage_name}/Workload")
    secrets = synthesized.stack(f"{environment.stage_name}/Secrets")
    readers = {
        f"arn:aws:iam::{environment.account}:role{role['Properties']['Path']}"
        f"{role['Properties']['RoleName']}"
        for role_id, role in workload.resources("AWS::IAM::Role").items()
        if resources_for(role_statements(workload, role_id), "secretsmanager:GetSecretValue")
    }
    (rule,) = [
        r["Properties"]
        for r in secrets.resources("AWS::Events::Rule").values()
        if "READ" in r["Properties"]["Description"].upper()
        and "unexpected" in r["Properties"]["Description"]
    ]
    detail = rule["EventPattern"]["detail"]
    allowed = detail["$or"][0]["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"][0][
        "anything-but"
    ]
    assert len(readers) == 3
    assert readers <= {arn for arn in allowed if isinstance(arn, str)}


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_service_restarts_when_a_secret_it_reads_rotates(
    synthesized: Synthesized, name: str
) -> None:
    """The tasks got their secrets at start, and a rotation replaces the value at once (single-user
    rotation changes the database password itself): every rotating secret the service reads, and
    no other, restarts it, so no task keeps a replaced value and all tasks agree."""
    stack = synthesized.stack(f"{CONFIG.environment(name).stage_name}/Workload")
    (service_id,) = stack.resources("AWS::ECS::Service")
    ((machine_id, machine),) = stack.resources("AWS::StepFunctions::StateMachine").items()
    (rule,) = [
        r["Properties"]
        for r in stack.resources("AWS::Events::Rule").values()
        if r["Properties"]["EventPattern"]["detail"]["eventName"] == ["RotationSucceeded"]
    ]
    (target,) = rule["Targets"]
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    definition = "".join(p if isinstance(p, str) else json.dumps(p) for p in parts)

    secret_id = rule["EventPattern"]["detail"]["additionalEventData"]["SecretId"]
    assert [synthesized.secret_name(stack, s) for s in secret_id] == [
        f"{name}/payments/db-credentials",
        f"{name}/payments/session-signing-key",
    ]
    # Exactly the rotating ones of the secrets the service reads; it reads others too.
    environment = CONFIG.environment(name)
    read = {s.purpose for s in environment.secrets if "api" in s.consumers}
    rotating = {s.purpose for s in environment.secrets if s.rotation.enabled}
    assert read & rotating == {"db-credentials", "session-signing-key"}
    assert read - rotating
    assert target["Arn"] == {"Ref": machine_id}
    assert ':states:::aws-sdk:ecs:updateService"' in definition
    assert '"ForceNewDeployment":true' in definition
    assert json.dumps({"Fn::GetAtt": [service_id, "Name"]}) in definition
    machine_role = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    events_role = target["RoleArn"]["Fn::GetAtt"][0]
    assert [s for s in role_statements(stack, machine_role) if s["Resource"] != "*"] == [
        {"Action": "ecs:UpdateService", "Effect": "Allow", "Resource": {"Ref": service_id}}
    ]
    assert role_statements(stack, events_role) == [
        {"Action": "states:StartExecution", "Effect": "Allow", "Resource": {"Ref": machine_id}}
    ]


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_workload_deploys_after_the_stacks_whose_parameters_it_names(
    synthesized: Synthesized, name: str
) -> None:
    """The task definition and the policies name parameters by literal ARN, which CloudFormation
    does not see as a reference: without a stack dependency, `cdk deploy --concurrency` or `-e`
    could start tasks before the parameters exist, and a destroy could delete them first."""
    stage = CONFIG.environment(name).stage_name
    workload = synthesized.stack(f"{stage}/Workload")
    named = set(
        re.findall(
            rf"arn:aws:ssm:{workload.region}:{workload.account}:parameter(/[^\"]+)",
            json.dumps(workload.template),
        )
    )
    owners = {
        stack.name: stack.artifact_id
        for stack in synthesized.stacks.values()
        if stack.name.startswith(f"{stage}/") and stack is not workload
        for resource in stack.template["Resources"].values()
        for field in ("Name", "ParameterName")
        if str(resource.get("Properties", {}).get(field)) in named
    }

    assert len(named) == len(CONFIG.environment(name).parameters)
    assert f"{stage}/Parameters" in owners
    assert set(owners.values()) <= set(workload.dependencies)


def policies_attached_to(stack: SynthesizedStack, role_id: str) -> set[str]:
    """Every customer-managed policy (by the role's ManagedPolicyArns or the policy's Roles) and
    inline AWS::IAM::Policy of `role_id`, by logical id."""
    resources = stack.template["Resources"]
    attached = {
        arn["Ref"]
        for arn in resources[role_id]["Properties"].get("ManagedPolicyArns", [])
        if isinstance(arn, dict) and "Ref" in arn
    }
    return attached | {
        logical_id
        for logical_id, resource in resources.items()
        if resource["Type"] in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy")
        and {"Ref": role_id} in resource["Properties"].get("Roles", [])
    }


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_service_starts_tasks_only_after_every_policy_of_its_roles(
    synthesized: Synthesized, name: str
) -> None:
    """ECS starts tasks as soon as the service exists: a policy attached to the execution role
    after that (image pull, logs, secrets, parameters) fails the first tasks on first create."""
    stack = synthesized.stack(f"{CONFIG.environment(name).stage_name}/Workload")
    ((service_id, service),) = stack.resources("AWS::ECS::Service").items()
    task_id = service["Properties"]["TaskDefinition"]["Ref"]
    task = stack.template["Resources"][task_id]["Properties"]
    policies = {
        policy
        for role in ("TaskRoleArn", "ExecutionRoleArn")
        for policy in policies_attached_to(stack, task[role]["Fn::GetAtt"][0])
    }

    assert len(policies) >= 2, "the execution role's own policy and its consumer's"
    assert policies <= set(service.get("DependsOn", [])), service_id


def trust_of(stack: SynthesizedStack, role_id: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = stack.template["Resources"][role_id]["Properties"][
        "AssumeRolePolicyDocument"
    ]["Statement"]
    return statements


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_service_roles_trust_only_this_accounts_sources(
    synthesized: Synthesized, name: str
) -> None:
    """Confused deputy: ECS, Step Functions and EventBridge may assume the workload's roles only
    on behalf of this account (aws:SourceAccount) and the narrowest source AWS supports
    (aws:SourceArn): any ECS task of the account and region (ECS does not support naming a
    cluster), the restart state machine, the restart rules (by their common name prefix)."""
    stack = synthesized.stack(f"{CONFIG.environment(name).stage_name}/Workload")
    account, region = stack.account, stack.region
    (task,) = stack.resources("AWS::ECS::TaskDefinition").values()
    ((machine_id, machine),) = stack.resources("AWS::StepFunctions::StateMachine").items()
    rules = [
        rule["Properties"]
        for rule in stack.resources("AWS::Events::Rule").values()
        if any(t["Arn"] == {"Ref": machine_id} for t in rule["Properties"]["Targets"])
    ]
    (events_role,) = {t["RoleArn"]["Fn::GetAtt"][0] for rule in rules for t in rule["Targets"]}

    def trusted(service: str, source_arn: Any = None) -> list[dict[str, Any]]:
        statement: dict[str, Any] = {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"Service": service},
        }
        if source_arn is not None:
            statement["Condition"] = {
                "ArnLike": {"aws:SourceArn": source_arn},
                "StringEquals": {"aws:SourceAccount": account},
            }
        return [statement]

    task_role = task["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]
    assert trust_of(stack, task_role) == trusted(
        "ecs-tasks.amazonaws.com", f"arn:aws:ecs:{region}:{account}:*"
    )
    # ECS documents these keys for the task role only; the execution role keeps the trust
    # policy AWS documents for it (see workload_stack.py).
    execution_role = task["Properties"]["ExecutionRoleArn"]["Fn::GetAtt"][0]
    assert trust_of(stack, execution_role) == trusted("ecs-tasks.amazonaws.com")
    machine_name = machine["Properties"]["StateMachineName"]
    assert trust_of(stack, machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]) == trusted(
        "states.amazonaws.com", f"arn:aws:states:{region}:{account}:stateMachine:{machine_name}"
    )
    # One pattern for all the restart rules, which their fixed names all match.
    rule_arns = f"arn:aws:events:{region}:{account}:rule/{stack.stack_name}-SecretsRotated*"
    assert trust_of(stack, events_role) == trusted("events.amazonaws.com", rule_arns)
    for rule in rules:
        arn = f"arn:aws:events:{region}:{account}:rule/{rule['Name']}"
        assert fnmatch.fnmatchcase(arn, rule_arns), arn
