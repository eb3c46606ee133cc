"""Database stack: the workload's PostgreSQL, its credentials attached and rotated by AWS."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager

from constructs import Construct
from stacks.config import EnvironmentConfig
from stacks.network_stack import NetworkStack
from stacks.secrets_stack import rotation_schedule
from strongbox import ManagedSecret, SecretsKey, acknowledge, acknowledge_all
from strongbox.access.calls import Call, Runtime, assumed_by, secret_read
from strongbox.access.declare import declare_runtime
from strongbox.keys import key_reference
from strongbox.log_groups import encrypted_log_group
from strongbox.secrets import deploy_role_arn_of
from strongbox.trust import source_conditions

ENGINE_VERSION = rds.PostgresEngineVersion.VER_18  # minor versions: RDS upgrades automatically
LOG_EXPORTS = ("postgresql", "upgrade")


class DatabaseStack(cdk.Stack):
    """PostgreSQL in the isolated subnets, encrypted with the environment key, its master user
    the configured `database` secret (password read by CloudFormation through a dynamic
    reference, host and port written back by a SecretTargetAttachment) and rotated by AWS
    hosted rotation from a security group the database admits.

    Multi-AZ, deletion protection and a retained instance outside dev; log exports to
    CMK-encrypted groups created here with retention; enhanced monitoring through a role scoped
    to RDS's metrics log group.

    Attributes:
        instance, security_group, secret (the attached ManagedSecret), port, rotates.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        application: str,
        environment: EnvironmentConfig,
        secrets_key: SecretsKey,
        network: NetworkStack,
        secrets: Mapping[str, ManagedSecret],
        removal_policy: cdk.RemovalPolicy,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        assert environment.workload is not None and environment.workload.database is not None
        config = environment.workload.database
        credentials = next(s for s in environment.secrets if s.purpose == config.credentials)
        assert credentials.database is not None  # checked by the config loader
        self.secret = secrets[config.credentials]
        production = not environment.is_development
        identifier = f"{application}-{environment.name}"
        self.port = credentials.database.port or 5432

        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=network.vpc,
            description=f"{identifier} PostgreSQL: admits the service and hosted rotation",
            allow_all_outbound=False,
        )
        rotation_group = ec2.SecurityGroup(
            self,
            "RotationSecurityGroup",
            vpc=network.vpc,
            description=f"Hosted rotation of {self.secret.secret_name}: the database and HTTPS",
            allow_all_outbound=False,
        )
        rotation_group.add_egress_rule(
            ec2.Peer.ipv4(environment.network.cidr),
            ec2.Port.tcp(443),
            "HTTPS to the VPC's AWS endpoints",
        )
        rotation_group.connections.allow_to(
            self.security_group, ec2.Port.tcp(self.port), "Hosted rotation to PostgreSQL"
        )

        log_groups = [
            encrypted_log_group(
                self,
                f"{export.capitalize()}Logs",
                encryption_key=secrets_key.key,
                removal_policy=removal_policy,
                log_group_name=f"/aws/rds/instance/{identifier}/{export}",
            )
            for export in LOG_EXPORTS
        ]
        self.instance = rds.DatabaseInstance(
            self,
            "Instance",
            engine=rds.DatabaseInstanceEngine.postgres(version=ENGINE_VERSION),
            instance_type=ec2.InstanceType(config.instance_type),
            instance_identifier=identifier,
            vpc=network.vpc,
            vpc_subnets=network.isolated_subnets,
            security_groups=[self.security_group],
            port=self.port,
            database_name=credentials.database.dbname or application.replace("-", "_"),
            credentials=rds.Credentials.from_password(
                credentials.database.username, self.secret.secret.secret_value_from_json("password")
            ),
            allocated_storage=config.storage_gib,
            storage_type=rds.StorageType.GP3,
            storage_encrypted=True,
            storage_encryption_key=key_reference(self, "EncryptionKey", secrets_key.key),
            multi_az=production,
            deletion_protection=production,
            removal_policy=removal_policy,
            backup_retention=cdk.Duration.days(14 if production else 1),
            delete_automated_backups=not production,
            auto_minor_version_upgrade=True,
            publicly_accessible=False,
            iam_authentication=True,
            cloudwatch_logs_exports=list(LOG_EXPORTS),
            monitoring_interval=cdk.Duration.seconds(60),
            monitoring_role=self._monitoring_role(identifier),
            ca_certificate=rds.CaCertificate.RDS_CA_RSA2048_G1,
        )
        for log_group in log_groups:
            self.instance.node.add_dependency(log_group)
        self._declare_creation(secrets_key)
        attachment = secretsmanager.CfnSecretTargetAttachment(
            self,
            "CredentialsAttachment",
            secret_id=self.secret.secret.secret_arn,
            target_id=self.instance.instance_identifier,
            target_type="AWS::RDS::DBInstance",
        )
        self.rotates = credentials.rotation.enabled
        if self.rotates:
            schedule = self.secret.rotate_hosted(
                schedule=rotation_schedule(credentials),
                subnet_ids=network.vpc.select_subnets(
                    subnet_type=ec2.SubnetType.PRIVATE_ISOLATED
                ).subnet_ids,
                security_groups=[rotation_group],
                scope=self,
            )
            # The first rotation needs the host that the attachment writes into the secret.
            schedule.node.add_dependency(attachment)
        acknowledge(
            self.instance,
            "AwsSolutions-RDS11",
            "A non-default port hides nothing from a scanner inside the VPC; the database is "
            "reachable only from the service's and hosted rotation's security groups.",
        )
        acknowledge_all(
            self.instance,
            ("HIPAA.Security-RDSInBackupPlan", "NIST.800.53.R5-RDSInBackupPlan"),
            "Backed up by RDS automated backups with point-in-time recovery (14 days "
            "outside dev); an AWS Backup plan is an organisation-wide choice outside this "
            "stack.",
        )
        if not production:
            acknowledge_all(
                self.instance,
                (
                    "AwsSolutions-RDS3",
                    "HIPAA.Security-RDSMultiAZSupport",
                    "NIST.800.53.R5-RDSMultiAZSupport",
                ),
                "Development database: one AZ keeps its cost down; staging and prod run "
                "Multi-AZ (the same code, switched by the environment).",
            )
            acknowledge_all(
                self.instance,
                (
                    "AwsSolutions-RDS10",
                    "HIPAA.Security-RDSInstanceDeletionProtectionEnabled",
                    "NIST.800.53.R5-RDSInstanceDeletionProtectionEnabled",
                ),
                "Development may be torn down with its stacks; staging and prod have "
                "deletion protection and a retained instance.",
            )

    def _declare_creation(self, secrets_key: SecretsKey) -> None:
        """What creating the instance asks of AWS with CloudFormation's execution role: the
        master password through its dynamic reference (GetSecretValue, decrypted through
        Secrets Manager), and the storage key through RDS, which needs kms:CreateGrant and
        kms:DescribeKey for the caller (RDS user guide, "AWS KMS key management")."""
        secret = self.secret
        calls = secret_read(
            secret.secret.secret_arn,
            secret.keys[0].key_arn,
            endpoint=None,
            purpose="the master password's dynamic reference",
        ) + tuple(
            Call(action, secrets_key.key.key_arn, via="rds", purpose="storage encryption")
            for action in ("kms:CreateGrant", "kms:DescribeKey")
        )
        declare_runtime(
            self.instance,
            Runtime(
                name="CloudFormation creating the database",
                kind="outside",
                principal=deploy_role_arn_of(self),
                calls=calls,
            ),
        )

    def _monitoring_role(self, identifier: str) -> iam.Role:
        """Enhanced monitoring's role, scoped to the log group RDS writes OS metrics to, assumed
        only for the instance `identifier`."""
        role = iam.Role(
            self,
            "MonitoringRole",
            # Confused deputy: only for this account's instance (RDS user guide, "Setting up and
            # enabling Enhanced Monitoring", which documents StringLike on the instance's ARN).
            # RDS keeps identifiers in lower case, and the source ARN carries that form.
            assumed_by=iam.ServicePrincipal(
                "monitoring.rds.amazonaws.com",
                conditions=source_conditions(
                    self.account,
                    f"arn:{self.partition}:rds:{self.region}:{self.account}:db:{identifier.lower()}",
                    arn_operator="StringLike",
                ),
            ),
            description="RDS enhanced monitoring: writes OS metrics to the RDSOSMetrics group",
        )
        metrics = f"arn:{self.partition}:logs:{self.region}:{self.account}:log-group:RDSOSMetrics"
        policy = iam.ManagedPolicy(
            self,
            "MonitoringPolicy",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    actions=["logs:CreateLogGroup", "logs:PutRetentionPolicy"],
                    resources=[metrics],
                ),
                iam.PolicyStatement(
                    actions=[
                        "logs:CreateLogStream",
                        "logs:DescribeLogStreams",
                        "logs:GetLogEvents",
                        "logs:PutLogEvents",
                    ],
                    resources=[f"{metrics}:log-stream:*"],
                ),
            ],
        )
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[Resource::{metrics}:log-stream:*]",
            "RDS names one OS-metrics log stream per instance resource id, unknown until the "
            "instance exists; the statement covers only the RDSOSMetrics group.",
        )
        instance = f"arn:{self.partition}:rds:{self.region}:{self.account}:db:{identifier.lower()}"
        declare_runtime(
            role,
            assumed_by(
                "monitoring.rds.amazonaws.com",
                role.role_arn,
                name="RDS enhanced monitoring",
                source_arn=instance,
                source_account=self.account,
            ),
        )
        declare_runtime(
            role,
            Runtime(
                name="RDS enhanced monitoring writing OS metrics",
                kind="role",
                principal=role.role_arn,
                calls=(
                    Call("logs:CreateLogGroup", metrics, purpose="its log group, once"),
                    Call("logs:PutRetentionPolicy", metrics, purpose="its log group, once"),
                    *(
                        Call(action, f"{metrics}:log-stream:db-resource-id", purpose="OS metrics")
                        for action in ("logs:CreateLogStream", "logs:PutLogEvents")
                    ),
                ),
            ),
        )
        return role
