"""Keys stack: the environment's customer-managed key in its primary region."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from strongbox import SecretsKey

from constructs import Construct
from stacks.config import EnvironmentConfig


class KeysStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        application: str,
        environment: EnvironmentConfig,
        removal_policy: cdk.RemovalPolicy,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        self.secrets_key = SecretsKey(
            self,
            "SecretsKey",
            application=application,
            environment_name=environment.name,
            multi_region=bool(environment.replica_regions),
            pending_window=cdk.Duration.days(7 if environment.is_development else 30),
            removal_policy=removal_policy,
        )
