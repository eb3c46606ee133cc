"""Secrets stack: the environment's secrets, encrypted with the Keys stack's CMK."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from strongbox import ManagedSecret

from constructs import Construct
from stacks.config import EnvironmentConfig


class SecretsStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        application: str,
        environment: EnvironmentConfig,
        encryption_key: kms.IKey,
        removal_policy: cdk.RemovalPolicy,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
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
                encryption_key=encryption_key,
                # parse_config guarantees a reason whenever there is no schedule.
                rotation_disabled_reason=secret.rotation.disabled_reason or "",
                removal_policy=removal_policy,
            )
            for secret in environment.secrets
        }


def construct_id(purpose: str) -> str:
    """`db-credentials` -> `DbCredentials`: the construct id, and so the logical id, of a secret."""
    return "".join(part.capitalize() for part in purpose.split("-"))
