"""The workload's PostgreSQL: encrypted, private, its credentials attached and rotated by AWS."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.config import parse_config
from strongbox.secrets import HOSTED_ROTATION_TRANSFORM
from tests.conftest import Synthesized, SynthesizedStack, default_strongbox_config, only

CONFIG = parse_config(default_strongbox_config())
ENVIRONMENTS = [e.name for e in CONFIG.environments]
KEY_OUTPUT = "PublishOutputFnGetAttSecretsKey0D2EC683Arn814CB2AE"


def stacks(synthesized: Synthesized, name: str) -> tuple[SynthesizedStack, SynthesizedStack]:
    stage = CONFIG.environment(name).stage_name
    return synthesized.stack(f"{stage}/Database"), synthesized.stack(f"{stage}/Workload")


def environment_key(name: str) -> dict[str, Any]:
    return {
        "Fn::GetStackOutput": {
            "StackName": f"{CONFIG.environment(name).stage_name}-Keys",
            "Region": "eu-west-1",
            "OutputName": KEY_OUTPUT,
        }
    }


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_instance_is_private_encrypted_and_kept_outside_dev(
    synthesized: Synthesized, name: str
) -> None:
    database, _ = stacks(synthesized, name)
    network = synthesized.stack(f"{CONFIG.environment(name).stage_name}/Network")
    _, instance = only(database.resources("AWS::RDS::DBInstance"))
    _, subnet_group = only(database.resources("AWS::RDS::DBSubnetGroup"))
    properties = instance["Properties"]
    production = name != "dev"

    assert properties["Engine"] == "postgres" and properties["EngineVersion"] == "18"
    assert properties["StorageEncrypted"] is True
    assert properties["KmsKeyId"] == environment_key(name)
    assert properties["PubliclyAccessible"] is False
    assert properties["EnableIAMDatabaseAuthentication"] is True
    assert properties["MultiAZ"] is production
    assert properties["DeletionProtection"] is production
    assert properties["BackupRetentionPeriod"] == (14 if production else 1)
    retention = "Retain" if production else "Delete"
    assert (instance["DeletionPolicy"], instance["UpdateReplacePolicy"]) == (retention, retention)
    isolated = {
        logical_id
        for logical_id, subnet in network.resources("AWS::EC2::Subnet").items()
        if subnet["Properties"]["MapPublicIpOnLaunch"] is False
    }
    subnets = subnet_group["Properties"]["SubnetIds"]
    assert len(subnets) == len(isolated) == len(CONFIG.environment(name).availability_zones)
    for subnet in subnets:
        output = subnet["Fn::GetStackOutput"]["OutputName"]
        assert network.template["Outputs"][output]["Value"]["Ref"] in isolated


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_monitoring_role_trusts_only_enhanced_monitoring_of_this_instance(
    synthesized: Synthesized, name: str
) -> None:
    """Confused deputy: RDS may assume the enhanced-monitoring role only for this account and
    this DB instance (aws:SourceArn `arn:aws:rds:<region>:<account>:db:<identifier>`, as the RDS
    user guide documents it)."""
    database, _ = stacks(synthesized, name)
    _, instance = only(database.resources("AWS::RDS::DBInstance"))
    role_id = instance["Properties"]["MonitoringRoleArn"]["Fn::GetAtt"][0]
    identifier = instance["Properties"]["DBInstanceIdentifier"]
    trust = database.template["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"]

    assert identifier == f"payments-{name}"
    assert trust["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"Service": "monitoring.rds.amazonaws.com"},
            "Condition": {
                "StringEquals": {"aws:SourceAccount": database.account},
                "StringLike": {
                    "aws:SourceArn": f"arn:aws:rds:{database.region}:{database.account}:db:"
                    f"{identifier}"
                },
            },
        }
    ]


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_master_user_is_the_attached_database_secret(synthesized: Synthesized, name: str) -> None:
    database, _ = stacks(synthesized, name)
    instance_id, instance = only(database.resources("AWS::RDS::DBInstance"))
    _, attachment = only(database.resources("AWS::SecretsManager::SecretTargetAttachment"))
    properties = instance["Properties"]
    credentials = f"{name}/payments/db-credentials"

    assert properties["MasterUsername"] == "payments_app"
    # The password is a dynamic reference CloudFormation resolves; no value in the template.
    prefix, reference, suffix = properties["MasterUserPassword"]["Fn::Join"][1]
    assert (prefix, suffix) == ("{{resolve:secretsmanager:", ":SecretString:password::}}")
    assert synthesized.secret_name(database, reference) == credentials
    assert attachment["Properties"]["TargetType"] == "AWS::RDS::DBInstance"
    assert attachment["Properties"]["TargetId"] == {"Ref": instance_id}
    assert synthesized.secret_name(database, attachment["Properties"]["SecretId"]) == credentials


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_hosted_rotation_runs_after_the_attachment(synthesized: Synthesized, name: str) -> None:
    database, _ = stacks(synthesized, name)
    attachment_id, _ = only(database.resources("AWS::SecretsManager::SecretTargetAttachment"))
    _, schedule = only(database.resources("AWS::SecretsManager::RotationSchedule"))
    hosted = schedule["Properties"]["HostedRotationLambda"]
    rotation_group = hosted["VpcSecurityGroupIds"]["Fn::GetAtt"][0]

    assert database.template["Transform"] == HOSTED_ROTATION_TRANSFORM
    assert schedule["DependsOn"] == [attachment_id]
    assert hosted["RotationType"] == "PostgreSQLSingleUser"
    assert hosted["KmsKeyArn"] == environment_key(name)
    assert schedule["Properties"]["RotationRules"] == {
        "ScheduleExpression": "rate(30 days)",
        "Duration": "4h",
    }
    assert synthesized.secret_name(database, schedule["Properties"]["SecretId"]) == (
        f"{name}/payments/db-credentials"
    )
    assert database.template["Resources"][rotation_group]["Properties"]["SecurityGroupEgress"] == [
        {
            "CidrIp": "10.0.0.0/16",
            "Description": "HTTPS to the VPC's AWS endpoints",
            "FromPort": 443,
            "IpProtocol": "tcp",
            "ToPort": 443,
        }
    ]


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_only_the_service_and_hosted_rotation_reach_the_database(
    synthesized: Synthesized, name: str
) -> None:
    database, workload = stacks(synthesized, name)
    _, instance = only(database.resources("AWS::RDS::DBInstance"))
    _, schedule = only(database.resources("AWS::SecretsManager::RotationSchedule"))
    (database_group,) = [g["Fn::GetAtt"][0] for g in instance["Properties"]["VPCSecurityGroups"]]
    rotation_group = schedule["Properties"]["HostedRotationLambda"]["VpcSecurityGroupIds"][
        "Fn::GetAtt"
    ][0]
    (service,) = workload.resources("AWS::ECS::Service").values()
    (service_group,) = [
        g["Fn::GetAtt"][0]
        for g in service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"][
            "SecurityGroups"
        ]
    ]

    def targets_database(group_id: Any) -> bool:
        return group_id == {"Fn::GetAtt": [database_group, "GroupId"]} or (
            "Fn::GetStackOutput" in group_id
            and database.template["Outputs"][group_id["Fn::GetStackOutput"]["OutputName"]]["Value"]
            == {"Fn::GetAtt": [database_group, "GroupId"]}
        )

    sources = {
        (stack.name.split("/")[1], rule["Properties"]["SourceSecurityGroupId"]["Fn::GetAtt"][0])
        for stack in (database, workload)
        for rule in stack.resources("AWS::EC2::SecurityGroupIngress").values()
        if targets_database(rule["Properties"]["GroupId"])
        and (rule["Properties"]["FromPort"], rule["Properties"]["ToPort"]) == (5432, 5432)
    }
    all_ingress = [
        rule
        for stack in (database, workload)
        for rule in stack.resources("AWS::EC2::SecurityGroupIngress").values()
        if targets_database(rule["Properties"]["GroupId"])
    ]
    assert sources == {("Database", rotation_group), ("Workload", service_group)}
    assert len(all_ingress) == 2
    group = database.template["Resources"][database_group]["Properties"]
    assert "SecurityGroupIngress" not in group
    assert [rule["CidrIp"] for rule in group["SecurityGroupEgress"]] == ["255.255.255.255/32"]


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_database_logs_are_encrypted_and_kept(synthesized: Synthesized, name: str) -> None:
    database, _ = stacks(synthesized, name)
    _, instance = only(database.resources("AWS::RDS::DBInstance"))
    groups = database.resources("AWS::Logs::LogGroup")
    exports = instance["Properties"]["EnableCloudwatchLogsExports"]

    assert exports == ["postgresql", "upgrade"]
    assert {g["Properties"]["LogGroupName"] for g in groups.values()} == {
        f"/aws/rds/instance/payments-{name}/{export}" for export in exports
    }
    assert instance["Properties"]["DBInstanceIdentifier"] == f"payments-{name}"
    for logical_id, group in groups.items():
        assert group["Properties"]["KmsKeyId"] == environment_key(name)
        assert group["Properties"]["RetentionInDays"] == 365
        assert logical_id in instance["DependsOn"], "created before RDS would create it"
