"""Keys stacks: the environment's CMK in its primary region and its replica in each other one."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk

from constructs import Construct
from stacks.config import EnvironmentConfig
from strongbox import KeyAccess, SecretsKey, SecretsReplicaKey


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
            access=KeyAccess(
                account=environment.account,
                regions=environment.regions,
                administrators=environment.key_administrators,
                cross_account_consumers=environment.cross_account_readers,
                encrypts_log_groups=True,
                encrypts_alerts=True,
                encrypts_databases=environment.workload is not None
                and environment.workload.database is not None,
            ),
            pending_window=cdk.Duration.days(7 if environment.is_development else 30),
            removal_policy=removal_policy,
        )


class ReplicaKeysStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        primary: SecretsKey,
        removal_policy: cdk.RemovalPolicy,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        self.replica_key = SecretsReplicaKey(
            self, "SecretsReplicaKey", primary=primary, removal_policy=removal_policy
        )
