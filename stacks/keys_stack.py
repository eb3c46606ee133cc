"""Keys stacks: the environment's CMK in its primary region and, in each other one, its replica
and the rule that forwards reads of the replicated secrets there to the primary's alerts."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk

from constructs import Construct
from stacks.config import EnvironmentConfig
from strongbox import KeyAccess, ReplicaReadWatch, SecretsKey, SecretsReplicaKey


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
        secret_name_prefix: str,
        primary_region: str,
        removal_policy: cdk.RemovalPolicy,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        self.replica_key = SecretsReplicaKey(
            self, "SecretsReplicaKey", primary=primary, removal_policy=removal_policy
        )
        # Reads of the replicas in this region, to the primary region's unexpected-read rule.
        self.read_watch = ReplicaReadWatch(
            self, "ReadWatch", secret_name_prefix=secret_name_prefix, primary_region=primary_region
        )
