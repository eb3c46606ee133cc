"""Secrets stack: the environment's secrets, CMK-encrypted and replicated with replica keys."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager

from constructs import Construct
from stacks.config import EnvironmentConfig, SecretConfig
from strongbox import DatabaseFields, Generation, JsonFields, ManagedSecret, SecretsKey


class SecretsStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        application: str,
        environment: EnvironmentConfig,
        secrets_key: SecretsKey,
        removal_policy: cdk.RemovalPolicy,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        # Replica keys by computed ARN: a same-region reference to the key id, no cross-region one.
        replica_keys = {
            region: kms.Key.from_key_arn(
                self, f"ReplicaKey-{region}", secrets_key.key_arn_in(self, region)
            )
            for region in environment.replica_regions
        }
        self.secrets = {
            secret.purpose: ManagedSecret(
                self,
                construct_id(secret.purpose),
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
                # parse_config guarantees a reason whenever there is no schedule.
                rotation_disabled_reason=secret.rotation.disabled_reason or "",
                generation=Generation(
                    length=secret.generation.length,
                    exclude_characters=secret.generation.exclude_characters,
                    exclude_punctuation=secret.generation.exclude_punctuation,
                ),
                database=_database_fields(secret, application),
                json_fields=JsonFields(
                    template=secret.template or {}, generate_key=secret.generate_key or "value"
                )
                if secret.kind == "json"
                else None,
                administrators=environment.key_administrators,
                cross_account_readers=secret.cross_account_readers,
                vpc_endpoint_ids=environment.network.vpc_endpoint_ids
                if secret.vpc_endpoint_only
                else (),
                tags=secret.tags,
                removal_policy=removal_policy,
            )
            for secret in environment.secrets
        }


def _database_fields(secret: SecretConfig, application: str) -> DatabaseFields | None:
    if secret.database is None:
        return None
    return DatabaseFields(
        engine=secret.database.engine,
        username=secret.database.username,
        dbname=secret.database.dbname or application.replace("-", "_"),
        port=secret.database.port,
    )


def construct_id(purpose: str) -> str:
    """`db-credentials` -> `DbCredentials`: the construct id, and so the logical id, of a secret."""
    return "".join(part.capitalize() for part in purpose.split("-"))
