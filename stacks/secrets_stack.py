"""Secrets stack: the environment's secrets, CMK-encrypted and replicated, rotation and alerts."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager

from constructs import Construct
from stacks.config import EnvironmentConfig, GenerationConfig, SecretConfig
from stacks.network_stack import NetworkStack
from stacks.reader_roles import reader_roles
from strongbox import (
    DatabaseFields,
    Generation,
    JsonFields,
    ManagedSecret,
    RotationAlerts,
    RotationFunction,
    RotationSchedule,
    SecretsKey,
)
from strongbox.naming import pascal_case
from strongbox.secrets import DATABASE_ENGINES, deploy_role_arn_of


class SecretsStack(cdk.Stack):
    """Some of an environment's secrets (those `stacks.placement` puts here) with their rotation.
    The environment's first Secrets stack also holds the alerts for all of them (`add_alerts`).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        application: str,
        environment: EnvironmentConfig,
        secrets: Sequence[SecretConfig],
        secrets_key: SecretsKey,
        network: NetworkStack,
        removal_policy: cdk.RemovalPolicy,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        self.config = environment
        self.network = network
        self.secrets_key = secrets_key
        self.removal_policy = removal_policy
        # Replica keys by computed ARN: a same-region reference to the key id, no cross-region one.
        replica_keys = {
            region: kms.Key.from_key_arn(
                self, f"ReplicaKey-{region}", secrets_key.key_arn_in(self, region)
            )
            for region in environment.replica_regions
        }
        deploy_role_arn = deploy_role_arn_of(self) if secrets else None
        self.secrets = {
            secret.purpose: ManagedSecret(
                self,
                pascal_case(secret.purpose),
                application=application,
                environment_name=environment.name,
                purpose=secret.purpose,
                kind=secret.kind,
                description=secret.description,
                owner=secret.owner,
                encryption_key=secrets_key.key,
                replica_regions=[
                    secretsmanager.ReplicaRegion(region=region, encryption_key=key)
                    for region, key in replica_keys.items()
                ]
                if secret.replicate
                else [],
                rotation_disabled_reason=secret.rotation.disabled_reason,
                generation=_generation(secret),
                database=_database_fields(secret, application),
                json_fields=JsonFields(
                    template=secret.template or {}, generate_key=secret.generate_key or "value"
                )
                if secret.kind == "json"
                else None,
                administrators=environment.key_administrators,
                cross_account_readers=secret.cross_account_readers,
                vpc_endpoint_ids=self._secrets_manager_endpoint_ids()
                if secret.vpc_endpoint_only
                else (),
                deploy_role_arn=deploy_role_arn,
                tags=secret.tags,
                removal_policy=removal_policy,
            )
            for secret in secrets
        }
        self.rotation_functions: dict[str, RotationFunction] = {}
        workload = environment.workload
        # The workload database's credentials rotate in the Database stack, after attachment.
        attached = workload.database.credentials if workload and workload.database else None
        for secret in secrets:
            if secret.rotation.strategy == "token":
                self._rotate_with_function(secret)
            elif secret.rotation.strategy == "hosted" and secret.purpose != attached:
                self._rotate_hosted(secret)

    def _secrets_manager_endpoint_ids(self) -> list[str]:
        """The endpoints a vpc_endpoint_only secret accepts value calls through. The Network
        stack's own Secrets Manager endpoint has private DNS on, so every call from the VPC (the
        execution role, rotation, the readers) arrives through it; then `vpc_endpoint_ids`."""
        created = self.network.endpoints.interface_endpoints.get("secretsmanager")
        return [
            *([created.vpc_endpoint_id] if created else []),
            *self.config.network.vpc_endpoint_ids,
        ]

    def add_alerts(
        self, application: str, rotation_functions: Sequence[RotationFunction]
    ) -> RotationAlerts:
        """The environment's alerts, for every secret under its name prefix, whichever stack
        holds it; `rotation_functions` are all of the environment's (their reads are expected)."""
        environment = self.config
        self.alerts = RotationAlerts(
            self,
            "Alerts",
            encryption_key=self.secrets_key.key,
            secret_name_prefix=f"{environment.name}/{application}/",
            allowed_reader_arns=expected_readers(
                application,
                environment,
                rotation_roles=[rotation.role.role_arn for rotation in rotation_functions],
                deploy_role=deploy_role_arn_of(self),
                partition=self.partition,
            ),
            rotation_functions=list(rotation_functions),
            emails=environment.alerts.emails,
            replica_regions=environment.replica_regions,
        )
        return self.alerts

    def _rotate_with_function(self, secret: SecretConfig) -> None:
        """Secrets with the same generation options share one function, scoped to exactly them."""
        managed = self.secrets[secret.purpose]
        generation, json_field = managed.generation, managed.generated_field
        key = repr((generation, json_field))
        # A digest of the options keeps the id stable when other secrets come and go.
        name = "TokenRotation" + hashlib.sha256(key.encode()).hexdigest()[:8].upper()
        if name not in self.rotation_functions:
            self.rotation_functions[name] = RotationFunction(
                self,
                name,
                vpc=self.network.vpc,
                vpc_subnets=self.network.isolated_subnets,
                vpc_cidr=self.config.network.cidr,
                encryption_key=self.secrets_key.key,
                generation=generation,
                json_field=json_field,
                removal_policy=self.removal_policy,
            )
        self.rotation_functions[name].rotate(managed, rotation_schedule(secret))

    def _rotate_hosted(self, secret: SecretConfig) -> None:
        managed = self.secrets[secret.purpose]
        master = secret.rotation.master_secret
        managed.rotate_hosted(
            schedule=rotation_schedule(secret),
            subnet_ids=self.network.vpc.select_subnets(
                subnet_type=ec2.SubnetType.PRIVATE_ISOLATED
            ).subnet_ids,
            security_groups=[self._hosted_rotation_security_group()],
            master_secret=self.secrets[master] if master else None,
        )

    def _hosted_rotation_security_group(self) -> ec2.ISecurityGroup:
        existing = self.node.try_find_child("HostedRotationSecurityGroup")
        if isinstance(existing, ec2.SecurityGroup):
            return existing
        group = ec2.SecurityGroup(
            self,
            "HostedRotationSecurityGroup",
            vpc=self.network.vpc,
            description="AWS hosted rotation: HTTPS to Secrets Manager, the database port",
            allow_all_outbound=False,
        )
        cidr = ec2.Peer.ipv4(self.config.network.cidr)
        group.add_egress_rule(cidr, ec2.Port.tcp(443), "HTTPS to the VPC's AWS endpoints")
        for engine in sorted(
            {s.database.engine for s in self.config.secrets if s.database is not None}
        ):
            port = DATABASE_ENGINES[engine][1]
            group.add_egress_rule(cidr, ec2.Port.tcp(port), f"{engine} in the VPC")
        return group


def expected_readers(
    application: str,
    environment: EnvironmentConfig,
    *,
    rotation_roles: Sequence[str],
    deploy_role: str,
    partition: str,
) -> list[str]:
    """The role ARNs whose reads of the environment's secrets do not alert: the rotation
    functions' (`rotation_roles`), the workload's, the deploy role, the key administrators and
    `alerts.allowed_readers`."""
    return [
        *rotation_roles,
        *(
            role.arn(partition, environment.account)
            for role in reader_roles(application, environment)
        ),
        # CloudFormation reads db-credentials to pass the password to the database.
        deploy_role,
        *environment.key_administrators,
        *environment.alerts.allowed_readers,
    ]


def rotation_schedule(secret: SecretConfig) -> RotationSchedule:
    assert secret.rotation.schedule is not None  # callers pass rotating secrets only
    return RotationSchedule(
        expression=secret.rotation.schedule,
        window=secret.rotation.window,
        rotate_immediately=secret.rotation.rotate_immediately,
    )


def _generation(secret: SecretConfig) -> Generation:
    return generation_of(secret.generation)


def generation_of(config: GenerationConfig) -> Generation:
    return Generation(
        length=config.length,
        exclude_characters=config.exclude_characters,
        exclude_punctuation=config.exclude_punctuation,
    )


def _database_fields(secret: SecretConfig, application: str) -> DatabaseFields | None:
    if secret.database is None:
        return None
    return DatabaseFields(
        engine=secret.database.engine,
        username=secret.database.username,
        dbname=secret.database.dbname or application.replace("-", "_"),
        port=secret.database.port,
    )
