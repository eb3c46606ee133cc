"""Rotation as deployed: schedules, the rotation function's hardening and IAM, hosted rotation,
alerts, and the rule that every secret rotates or says why not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Template

from benchmarks.limits import Renderer
from stacks.config import parse_config
from strongbox import (
    DatabaseFields,
    Generation,
    JsonFields,
    KeyAccess,
    ManagedSecret,
    RotationFunction,
    RotationSchedule,
    SecretsKey,
    StrongboxError,
)
from strongbox.consumer import MANAGED_POLICY_LIMIT, ROLE_MANAGED_POLICY_QUOTA
from strongbox.secrets import HOSTED_ROTATION_TRANSFORM, ROTATION_ACTIONS
from tests.conftest import (
    Synthesized,
    SynthesizedStack,
    as_list,
    cdk_json_context,
    default_strongbox_config,
    feature_flag_app,
    imported_isolated_vpc,
    only,
    synthesize,
)

CONFIG = parse_config(default_strongbox_config())
ENVIRONMENTS = [e.name for e in CONFIG.environments]
REASON = "Rotated by the provider's dashboard; tracked by the owning team."


def secrets_stack(synthesized: Synthesized, name: str) -> SynthesizedStack:
    return synthesized.stack(f"{CONFIG.environment(name).stage_name}/Secrets")


def logical_id_of_secret(stack: SynthesizedStack, name: str) -> str:
    (logical_id,) = [
        logical_id
        for logical_id, resource in stack.resources("AWS::SecretsManager::Secret").items()
        if resource["Properties"]["Name"] == name
    ]
    return logical_id


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_every_secret_rotates_or_says_why_not(synthesized: Synthesized, name: str) -> None:
    environment = CONFIG.environment(name)
    rotated = synthesized.rotated_secret_names(environment.stage_name)
    for secret in environment.secrets:
        assert (f"{name}/payments/{secret.purpose}" in rotated) is secret.rotation.enabled
        assert secret.rotation.enabled or secret.rotation.disabled_reason
    assert rotated == {f"{name}/payments/session-signing-key", f"{name}/payments/db-credentials"}


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_session_key_rotation_schedule(synthesized: Synthesized, name: str) -> None:
    stack = secrets_stack(synthesized, name)
    _, schedule = only(stack.resources("AWS::SecretsManager::RotationSchedule"))
    function_id, _ = only(stack.resources("AWS::Lambda::Function"))
    permission_id, permission = only(stack.resources("AWS::Lambda::Permission"))
    secret_id = logical_id_of_secret(stack, f"{name}/payments/session-signing-key")

    assert schedule["Properties"] == {
        "SecretId": {"Ref": secret_id},
        "RotationLambdaARN": {"Fn::GetAtt": [function_id, "Arn"]},
        "RotationRules": {"ScheduleExpression": "rate(30 days)", "Duration": "4h"},
        "RotateImmediatelyOnUpdate": True,
    }
    assert permission_id in schedule["DependsOn"]
    assert permission["Properties"] == {
        "Action": "lambda:InvokeFunction",
        "FunctionName": {"Fn::GetAtt": [function_id, "Arn"]},
        "Principal": "secretsmanager.amazonaws.com",
        "SourceAccount": CONFIG.environment(name).account,
        "SourceArn": {"Ref": secret_id},
    }


def test_rotation_function_is_hardened(synthesized: Synthesized) -> None:
    stack = secrets_stack(synthesized, "prod")
    _, function = only(stack.resources("AWS::Lambda::Function"))
    queue_id, queue = only(stack.resources("AWS::SQS::Queue"))
    log_group_id, log_group = only(stack.resources("AWS::Logs::LogGroup"))
    group_id, group = only(stack.resources("AWS::EC2::SecurityGroup"))
    properties = function["Properties"]

    assert properties["Runtime"] == "python3.13"
    assert properties["Handler"] == "handler.lambda_handler"
    assert properties["ReservedConcurrentExecutions"] == 2
    assert properties["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": [queue_id, "Arn"]}}
    assert properties["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": {"Ref": log_group_id}}
    assert properties["VpcConfig"]["SecurityGroupIds"] == [{"Fn::GetAtt": [group_id, "GroupId"]}]
    assert len(properties["VpcConfig"]["SubnetIds"]) == 3  # one isolated subnet per prod AZ
    assert properties["Environment"]["Variables"] == {
        "SECRETS_MANAGER_ENDPOINT": {
            "Fn::Join": ["", ["https://secretsmanager.eu-west-1.", {"Ref": "AWS::URLSuffix"}]]
        },
        "ROTATION_STRATEGY": "token",
        "TOKEN_LENGTH": "64",
        "TOKEN_EXCLUDE_CHARACTERS": "",
        "TOKEN_EXCLUDE_PUNCTUATION": "true",
        "TOKEN_FIELD": "",
    }
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    assert log_group["Properties"]["RetentionInDays"] == 365
    assert "KmsKeyId" in log_group["Properties"]
    assert log_group["DeletionPolicy"] == "Retain"
    assert group["Properties"]["SecurityGroupEgress"] == [
        {
            "CidrIp": "10.0.0.0/16",
            "Description": "HTTPS to the VPC's AWS endpoints",
            "FromPort": 443,
            "IpProtocol": "tcp",
            "ToPort": 443,
        }
    ]
    assert "SecurityGroupIngress" not in group["Properties"]


def test_rotation_role_has_one_managed_policy_scoped_to_its_secret(
    synthesized: Synthesized,
) -> None:
    stack = secrets_stack(synthesized, "prod")
    role_id, role = only(stack.resources("AWS::IAM::Role"))
    _, policy = only(stack.resources("AWS::IAM::ManagedPolicy"))
    secret_id = logical_id_of_secret(stack, "prod/payments/session-signing-key")

    assert not stack.resources("AWS::IAM::Policy"), "no inline policies"
    assert "ManagedPolicyArns" not in role["Properties"], "no AWS-managed policies"
    assert "Policies" not in role["Properties"], "no inline policies"
    assert policy["Properties"]["Roles"] == [{"Ref": role_id}]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    wildcard_actions = {
        action
        for statement in statements
        if statement["Resource"] == "*"
        for action in statement["Action"]
    }
    assert wildcard_actions == {
        "ec2:AssignPrivateIpAddresses",
        "ec2:CreateNetworkInterface",
        "ec2:DeleteNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:UnassignPrivateIpAddresses",
        "secretsmanager:GetRandomPassword",
    }
    (secret_statement,) = [s for s in statements if s["Resource"] == {"Ref": secret_id}]
    assert secret_statement["Action"] == [
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
    ]
    (kms_statement,) = [s for s in statements if s["Action"][0].startswith("kms:")]
    assert kms_statement["Action"] == ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    assert kms_statement["Condition"] == {
        "StringEquals": {
            "kms:ViaService": [
                "secretsmanager.eu-west-1.amazonaws.com",
                "secretsmanager.eu-central-1.amazonaws.com",
            ]
        }
    }
    secret_actions = {
        action
        for statement in statements
        for action in statement["Action"]
        if action.startswith("secretsmanager:") and action != "secretsmanager:GetRandomPassword"
    }
    assert secret_actions == set(secret_statement["Action"])


def test_alerts(synthesized: Synthesized) -> None:
    stack = secrets_stack(synthesized, "prod")
    topic_id, topic = only(stack.resources("AWS::SNS::Topic"))
    _, topic_policy = only(stack.resources("AWS::SNS::TopicPolicy"))
    _, subscription = only(stack.resources("AWS::SNS::Subscription"))
    _, alarm = only(stack.resources("AWS::CloudWatch::Alarm"))
    function_id, _ = only(stack.resources("AWS::Lambda::Function"))
    role_id, _ = only(stack.resources("AWS::IAM::Role"))
    rules = {
        r["Properties"]["Description"]: r["Properties"]
        for r in stack.resources("AWS::Events::Rule").values()
    }

    assert "KmsMasterKeyId" in topic["Properties"]
    deny_insecure = [
        s
        for s in topic_policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny"
    ]
    assert deny_insecure[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # A topic policy replaces SNS's default one: each service may publish, for these rules and
    # this alarm only (without the CloudWatch statement the alarm could not notify anyone).
    rule_ids = sorted(stack.resources("AWS::Events::Rule"))
    alarm_id, _ = only(stack.resources("AWS::CloudWatch::Alarm"))
    # The Config rules' non-compliance rule lives in the Detection stack; the topic names it.
    compliance = "arn:aws:events:eu-west-1:333333333333:rule/prod-payments-config-noncompliance"
    allowed = {
        s["Sid"]: s
        for s in topic_policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow"
    }
    assert allowed == {
        sid: {
            "Action": "sns:Publish",
            "Condition": {
                "ArnEquals": {
                    "aws:SourceArn": [
                        i if i.startswith("arn:") else {"Fn::GetAtt": [i, "Arn"]} for i in sources
                    ]
                }
            },
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Resource": {"Ref": topic_id},
            "Sid": sid,
        }
        for sid, service, sources in (
            ("RulesPublish", "events.amazonaws.com", rule_ids),
            # The Config rules' non-compliance (strongbox.detection), allowed on its own.
            ("NonCompliancePublish", "events.amazonaws.com", [compliance]),
            ("AlarmsPublish", "cloudwatch.amazonaws.com", [alarm_id]),
        )
    }
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "secops@example.com"
    assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}]
    assert alarm["Properties"]["MetricName"] == "Errors"
    assert alarm["Properties"]["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": function_id}}
    ]

    failures = rules["Rotation failed or abandoned for a secret under prod/payments/"]
    assert failures["EventPattern"]["detail"]["eventName"] == [
        "RotationFailed",
        "RotationAbandoned",
    ]
    assert failures["EventPattern"]["detail"]["additionalEventData"] == {
        "SecretId": [
            {"prefix": "arn:aws:secretsmanager:eu-west-1:333333333333:secret:prod/payments/"}
        ]
    }
    reads = rules["A secret under prod/payments/ was read by an unexpected role"]
    assert reads["State"] == "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
    detail = reads["EventPattern"]["detail"]
    assert detail["eventName"] == ["GetSecretValue", "BatchGetSecretValue"]
    # By name, or by the ARN of the primary or of the replica in eu-central-1 (whose reads
    # that region's ReplicaReadWatch forwards here); one secret or a batch's list.
    secrets = [
        {"prefix": "prod/payments/"},
        {"prefix": "arn:aws:secretsmanager:eu-west-1:333333333333:secret:prod/payments/"},
        {"prefix": "arn:aws:secretsmanager:eu-central-1:333333333333:secret:prod/payments/"},
    ]
    assert detail["requestParameters"] == {
        "$or": [{"secretId": secrets}, {"secretIdList": secrets}]
    }
    roles, people = detail["$or"]
    assert roles["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] == [
        {
            "anything-but": [
                {"Fn::GetAtt": [role_id, "Arn"]},
                # The workload's readers, by the fixed names the Workload stack gives them.
                "arn:aws:iam::333333333333:role/strongbox/payments/payments-prod-api-execution",
                "arn:aws:iam::333333333333:role/strongbox/payments/payments-prod-reconciler-function",
                "arn:aws:iam::333333333333:role/strongbox/payments/payments-prod-batch-instance",
                # CloudFormation resolves the database password's dynamic reference.
                "arn:aws:iam::333333333333:role/cdk-hnb659fds-cfn-exec-role-333333333333-eu-west-1",
                "arn:aws:iam::333333333333:role/strongbox-key-admin",
            ]
        }
    ]
    assert people == {"userIdentity": {"type": ["IAMUser", "Root"]}}
    for rule in rules.values():
        assert rule["Targets"] == [{"Arn": {"Ref": topic_id}, "Id": "Target0"}]


# --- construct level -----------------------------------------------------------------------


@pytest.fixture
def stack() -> cdk.Stack:
    return cdk.Stack(
        feature_flag_app(), "Db", env=cdk.Environment(account="333333333333", region="eu-west-1")
    )


def database_secret(stack: cdk.Stack, key: kms.IKey, purpose: str, engine: str) -> ManagedSecret:
    return ManagedSecret(
        stack,
        purpose.title().replace("-", ""),
        application="payments",
        environment_name="prod",
        purpose=purpose,
        kind="database",
        description="database credentials",
        owner="team-payments",
        encryption_key=key,
        database=DatabaseFields(engine=engine),
    )


def make_key(stack: cdk.Stack) -> kms.IKey:
    return SecretsKey(
        stack,
        "Key",
        application="payments",
        environment_name="prod",
        access=KeyAccess(account="333333333333", regions=("eu-west-1",)),
    ).key


@pytest.mark.parametrize(
    ("engine", "rotation_type"),
    [
        ("postgres", "PostgreSQL"),
        ("mysql", "MySQL"),
        ("mariadb", "MariaDB"),
        ("oracle", "Oracle"),
        ("sqlserver", "SQLServer"),
        ("redshift", "Redshift"),
        ("mongodb", "MongoDB"),
    ],
)
def test_hosted_rotation_single_and_multi_user(
    stack: cdk.Stack, engine: str, rotation_type: str
) -> None:
    key = make_key(stack)
    vpc = imported_isolated_vpc(stack)
    group = ec2.SecurityGroup(stack, "Rotation", vpc=vpc, allow_all_outbound=False)
    master = database_secret(stack, key, "db-master", engine)
    app_user = database_secret(stack, key, "db-app", engine)
    schedule = RotationSchedule("cron(0 4 ? * SUN *)", window="2h", rotate_immediately=False)
    master.rotate_hosted(
        schedule=schedule, subnet_ids=["subnet-0123456789abcdef0"], security_groups=[group]
    )
    app_user.rotate_hosted(
        schedule=schedule,
        subnet_ids=["subnet-0123456789abcdef0"],
        security_groups=[group],
        master_secret=master,
    )
    template = Template.from_stack(stack)
    schedules = {
        s["Properties"]["SecretId"]["Ref"]: s["Properties"]
        for s in template.find_resources("AWS::SecretsManager::RotationSchedule").values()
    }
    master_id = stack.get_logical_id(master.secret.node.default_child)  # type: ignore[arg-type]
    app_id = stack.get_logical_id(app_user.secret.node.default_child)  # type: ignore[arg-type]
    key_id = stack.get_logical_id(key.node.default_child)  # type: ignore[arg-type]

    assert template.to_json()["Transform"] == [HOSTED_ROTATION_TRANSFORM]
    assert schedules[master_id]["RotationRules"] == {
        "ScheduleExpression": "cron(0 4 ? * SUN *)",
        "Duration": "2h",
    }
    assert schedules[master_id]["RotateImmediatelyOnUpdate"] is False
    single = schedules[master_id]["HostedRotationLambda"]
    assert single["RotationType"] == f"{rotation_type}SingleUser"
    assert single["KmsKeyArn"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert "MasterSecretArn" not in single
    multi = schedules[app_id]["HostedRotationLambda"]
    assert multi["RotationType"] == f"{rotation_type}MultiUser"
    assert multi["MasterSecretArn"] == {"Ref": master_id}
    assert multi["MasterSecretKmsKeyArn"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert multi["VpcSubnetIds"] == "subnet-0123456789abcdef0"


def test_rotation_refusals(stack: cdk.Stack) -> None:
    key = make_key(stack)
    with_reason = ManagedSecret(
        stack,
        "Provider",
        application="payments",
        environment_name="prod",
        purpose="provider",
        kind="api-key",
        description="provider key",
        owner="team-payments",
        encryption_key=key,
        rotation_disabled_reason=REASON,
    )
    with pytest.raises(ValueError, match="has rotation_disabled_reason; it cannot also rotate"):
        with_reason.add_rotation_schedule(
            schedule=RotationSchedule("rate(30 days)"),
            hosted_rotation=cdk.aws_secretsmanager.CfnRotationSchedule.HostedRotationLambdaProperty(
                rotation_type="PostgreSQLSingleUser"
            ),
        )
    with pytest.raises(ValueError, match="is not a database secret; use RotationFunction"):
        with_reason.rotate_hosted(
            schedule=RotationSchedule("rate(30 days)"), subnet_ids=[], security_groups=[]
        )


def test_hosted_rotation_of_a_replicated_secret_is_refused(stack: cdk.Stack) -> None:
    """Secrets Manager re-encrypts each rotated version with the replica key on behalf of the
    caller that wrote it, and the role the hosted rotation transform creates is granted only
    HostedRotationLambda.KmsKeyArn (there is no property for another key): the replica would
    keep the old password, silently. Refused, for rotate_hosted and add_rotation_schedule."""
    key = make_key(stack)
    group = ec2.SecurityGroup(
        stack, "Rotation", vpc=imported_isolated_vpc(stack), allow_all_outbound=False
    )
    replicated = ManagedSecret(
        stack,
        "Replicated",
        application="payments",
        environment_name="prod",
        purpose="db-replicated",
        kind="database",
        description="database credentials",
        owner="team-payments",
        encryption_key=key,
        replica_regions=[
            cdk.aws_secretsmanager.ReplicaRegion(
                region="eu-central-1",
                encryption_key=kms.Key.from_key_arn(
                    stack,
                    "ReplicaKey",
                    "arn:aws:kms:eu-central-1:333333333333:key/mrk-0123456789abcdef0123456789abcdef",
                ),
            )
        ],
    )
    message = (
        "Db/Replicated: hosted_rotation cannot re-encrypt the rotated value with the replica "
        "keys (eu-central-1): the role AWS's hosted rotation creates is granted only the "
        "primary key, so replicas would keep the old value; allowed: no replica_regions, or a "
        "rotation_lambda whose role holds rotation_statements() (every key)"
    )
    with pytest.raises(ValueError) as error:
        replicated.rotate_hosted(
            schedule=RotationSchedule("rate(30 days)"),
            subnet_ids=["subnet-0123456789abcdef0"],
            security_groups=[group],
        )
    assert str(error.value) == message
    with pytest.raises(ValueError) as error:
        replicated.add_rotation_schedule(
            schedule=RotationSchedule("rate(30 days)"),
            hosted_rotation=cdk.aws_secretsmanager.CfnRotationSchedule.HostedRotationLambdaProperty(
                rotation_type="PostgreSQLSingleUser"
            ),
        )
    assert str(error.value) == message
    assert replicated.rotation_schedule is None


def test_a_secret_without_rotation_or_reason_fails_synth(stack: cdk.Stack) -> None:
    database_secret(stack, make_key(stack), "db-orphan", "postgres")
    with pytest.raises(RuntimeError, match="prod/payments/db-orphan has no rotation"):
        Template.from_stack(stack)


def test_database_secret_from_config_gets_hosted_rotation_in_isolated_subnets(
    tmp_path: Path,
) -> None:
    context = cdk_json_context()
    prod = context["strongbox"]["environments"]["prod"]
    prod["secrets"][0]["rotation"] = {"schedule": "rate(30 days)", "window": "2h"}
    # Without the workload's database, the Secrets stack rotates the secret itself.
    del prod["workload"]["database"]
    context["env"] = "prod"

    synthesized = synthesize(context, tmp_path)

    assert synthesized.findings() == []
    secrets = synthesized.stack("Strongbox-Prod/Secrets")
    network = synthesized.stack("Strongbox-Prod/Network")
    assert secrets.template["Transform"] == HOSTED_ROTATION_TRANSFORM
    database_id = logical_id_of_secret(secrets, "prod/payments/db-credentials")
    (schedule,) = [
        s["Properties"]
        for s in secrets.resources("AWS::SecretsManager::RotationSchedule").values()
        if s["Properties"]["SecretId"] == {"Ref": database_id}
    ]
    hosted = schedule["HostedRotationLambda"]
    assert hosted["RotationType"] == "PostgreSQLSingleUser"
    subnet_outputs = [
        part["Fn::GetStackOutput"]["OutputName"] for part in hosted["VpcSubnetIds"]["Fn::Join"][1]
    ]
    isolated_subnets = {
        logical_id
        for logical_id, subnet in network.resources("AWS::EC2::Subnet").items()
        if subnet["Properties"]["MapPublicIpOnLaunch"] is False
    }
    assert len(subnet_outputs) == len(isolated_subnets) == 3
    for output in subnet_outputs:
        assert network.template["Outputs"][output]["Value"]["Ref"] in isolated_subnets
    # One group: the CDK renders the comma-join of a single id as the id itself.
    group_id = hosted["VpcSecurityGroupIds"]["Fn::GetAtt"][0]
    group = secrets.template["Resources"][group_id]["Properties"]
    assert [(rule["CidrIp"], rule["FromPort"]) for rule in group["SecurityGroupEgress"]] == [
        ("10.0.0.0/16", 443),
        ("10.0.0.0/16", 5432),
    ]


def test_rotation_keeps_the_format_the_secret_was_generated_with(stack: cdk.Stack) -> None:
    key = make_key(stack)
    secret = ManagedSecret(
        stack,
        "Webhook",
        application="payments",
        environment_name="prod",
        purpose="webhook-signing",
        kind="json",
        description="webhook signing key",
        owner="team-payments",
        encryption_key=key,
        json_fields=JsonFields(template={"algorithm": "HMAC"}, generate_key="signing_key"),
    )
    vpc = imported_isolated_vpc(stack)
    common: dict[str, Any] = {
        "vpc": vpc,
        "vpc_subnets": ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
        "vpc_cidr": "10.0.0.0/16",
        "encryption_key": key,
    }
    # A json secret keeps punctuation by default; rotating it with api-key defaults would not.
    assert secret.generation == Generation(40, "", False)
    mismatched = RotationFunction(stack, "ApiKeyRotation", **common)
    with pytest.raises(ValueError, match=r"generates .* into 'signing_key'; this function rotates"):
        mismatched.rotate(secret, RotationSchedule("rate(30 days)"))
    matching = RotationFunction(
        stack, "JsonRotation", generation=secret.generation, json_field="signing_key", **common
    )
    matching.rotate(secret, RotationSchedule("rate(30 days)"))
    function = Template.from_stack(stack).to_json()["Resources"][
        stack.get_logical_id(matching.function.node.default_child)  # type: ignore[arg-type]
    ]
    variables = function["Properties"]["Environment"]["Variables"]
    assert (variables["TOKEN_EXCLUDE_PUNCTUATION"], variables["TOKEN_FIELD"]) == (
        "false",
        "signing_key",
    )


def token_rotation(stack: cdk.Stack) -> tuple[RotationFunction, kms.IKey]:
    key = make_key(stack)
    rotation = RotationFunction(
        stack,
        "TokenRotation",
        vpc=imported_isolated_vpc(stack),
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
        vpc_cidr="10.0.0.0/16",
        encryption_key=key,
    )
    return rotation, key


def token_secret(stack: cdk.Stack, key: kms.IKey, purpose: str) -> ManagedSecret:
    return ManagedSecret(
        stack,
        f"Secret{purpose[:12]}",
        application="payments",
        environment_name="prod",
        purpose=purpose,
        kind="api-key",
        description="a partner's API key",
        owner="team-partners",
        encryption_key=key,
    )


@pytest.mark.parametrize(("count", "policies"), [(60, 2), (200, 4)])
def test_grants_of_many_rotated_secrets_spread_over_policies_of_the_role(
    count: int, policies: int
) -> None:
    """One managed policy holds the grants of a few dozen secrets: more are spread over further
    policies of the function's role, each complete (the secret and its key) and under IAM's 6,144
    characters, the first keeping its id, and each secret's schedule waits for its policy."""
    # 200 secrets with their schedules and permissions are 800 resources, past the 500 a stack
    # holds by default; the app's placement keeps 80 secrets a stack, this is the construct.
    flags = {k: v for k, v in cdk_json_context().items() if k.startswith("@aws-cdk")}
    app = cdk.App(context={**flags, "@aws-cdk/core:stackResourceLimit": 1000})
    stack = cdk.Stack(app, "Db", env=cdk.Environment(account="333333333333", region="eu-west-1"))
    cdk.Validations.of(stack).acknowledge(
        cdk.Acknowledgment(
            id="CloudFormation-Validate::F0007", reason="More resources than a stack holds."
        )
    )
    rotation, key = token_rotation(stack)
    secrets = [token_secret(stack, key, f"rot-{index:03d}") for index in range(count)]
    for secret in secrets:
        rotation.rotate(secret, RotationSchedule("rate(30 days)"))
    template = Template.from_stack(stack).to_json()
    resources = template["Resources"]
    renderer = Renderer({stack.stack_name: dict(template)})
    policy_ids = [stack.get_logical_id(p.node.default_child) for p in rotation.policies]  # type: ignore[arg-type]
    documents = [resources[policy_id]["Properties"]["PolicyDocument"] for policy_id in policy_ids]
    role_id = stack.get_logical_id(rotation.role.node.default_child)  # type: ignore[arg-type]
    key_arn = {"Fn::GetAtt": [stack.get_logical_id(key.node.default_child), "Arn"]}  # type: ignore[arg-type]
    secret_ids = {stack.get_logical_id(s.secret.node.default_child): s for s in secrets}  # type: ignore[arg-type]

    sizes = [renderer.size(document, stack.stack_name) for document in documents]
    assert all(size < MANAGED_POLICY_LIMIT for size in sizes), sizes
    assert sorted(policy_ids) == sorted(
        logical_id
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::IAM::ManagedPolicy"
    )
    rotated_in: dict[str, list[str]] = {}
    for policy_id, document in zip(policy_ids, documents, strict=True):
        assert resources[policy_id]["Properties"]["Roles"] == [{"Ref": role_id}]
        statements = as_list(document["Statement"])
        for statement in statements:
            if statement["Action"] == list(ROTATION_ACTIONS):
                for resource in as_list(statement["Resource"]):
                    rotated_in.setdefault(resource["Ref"], []).append(policy_id)
        # Each policy's secrets can be rotated with it alone: it grants their key too.
        (key_statement,) = [s for s in statements if s["Action"][0] == "kms:Decrypt"]
        assert key_statement["Resource"] == key_arn
    assert {secret_id: len(ids) for secret_id, ids in rotated_in.items()} == dict.fromkeys(
        secret_ids, 1
    )
    # The first keeps its logical id: a function rotating few secrets is deployed unchanged.
    assert [p.node.id for p in rotation.policies] == ["Policy"] + [
        f"Policy{index}" for index in range(1, policies)
    ]
    assert rotation.policies[0] is rotation.policy
    # Secrets Manager invokes the function as soon as a schedule exists: a secret granted by a
    # later policy must wait for it (the function itself waits for the first).
    function_id = stack.get_logical_id(rotation.function.node.default_child)  # type: ignore[arg-type]
    assert policy_ids[0] in resources[function_id]["DependsOn"]
    schedules = {
        r["Properties"]["SecretId"]["Ref"]: r
        for r in resources.values()
        if r["Type"] == "AWS::SecretsManager::RotationSchedule"
    }
    later = {i: ids[0] for i, ids in rotated_in.items() if ids[0] != policy_ids[0]}
    assert later
    for secret_id, policy_id in later.items():
        assert policy_id in schedules[secret_id]["DependsOn"]


def test_a_rotation_function_needing_more_policies_than_a_role_takes_is_refused(
    stack: cdk.Stack,
) -> None:
    """IAM attaches at most 10 managed policies to a role by default: a function whose grants
    would need an eleventh refuses the secret at `rotate`, naming itself, instead of failing
    at deploy."""
    rotation, key = token_rotation(stack)
    rotated: list[ManagedSecret] = []
    with pytest.raises(StrongboxError) as error:
        # Names near Secrets Manager's 512 characters: about 10 grants a policy.
        for index in range(200):
            secret = token_secret(stack, key, f"partner-{index:03d}-" + "k" * 480)
            rotation.rotate(secret, RotationSchedule("rate(30 days)"))
            rotated.append(secret)

    assert len(rotation.policies) == ROLE_MANAGED_POLICY_QUOTA
    assert str(error.value) == (
        f"Db/TokenRotation: rotate {secret.secret_name}: the grants of {len(rotated) + 1} "
        "secrets need more than the 10 managed policies IAM attaches to one role by default; "
        "rotate the rest with another RotationFunction"
    )
    # Refused before anything was wired: no schedule, no invoke permission.
    assert secret.rotation_schedule is None
    assert rotation.node.try_find_child(f"InvokeFor{secret.node.id}") is None
    assert all(s.rotation_schedule is not None for s in rotated)
