"""The environment's AWS Config rules, in a stack of their own after the Secrets stacks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk

from constructs import Construct
from stacks.config import EnvironmentConfig
from stacks.recorder import ConfigRecorder
from strongbox import DetectionRules, ManagedSecret, RotationAlerts, SecretsKey


class DetectionStack(cdk.Stack):
    """The Config rules of `environment` (strongbox.DetectionRules) and, with
    `detection.create_recorder`, the recorder they need.

    A stack of its own, deployed after the Secrets stacks: Config refuses a rule while the
    region has no recorder, and that failure rolls back this stack, not the one holding the
    secrets. The rules reach the Secrets stack's alert topic through a rule it names.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        application: str,
        environment: EnvironmentConfig,
        secrets_key: SecretsKey,
        alerts: RotationAlerts,
        secrets: Sequence[ManagedSecret],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        key = secrets_key.key
        recorder = (
            ConfigRecorder(
                self,
                "Recorder",
                description=f"Strongbox {environment.name}",
                alias_name=f"alias/{application}/{environment.name}/config-history",
                recorded_keys=[key.key_arn],
                recorded_secrets=[managed.secret.secret_arn for managed in secrets],
            )
            if environment.detection.create_recorder
            else None
        )
        self.rules = DetectionRules(
            self,
            "Rules",
            alerts=alerts,
            secret_name_prefix=f"{environment.name}/{application}/",
            scope_tag=("Environment", environment.name),
            key_arns=[key.key_arn],
            key_ids=[key.key_id, *([recorder.key.key_id] if recorder else [])],
            rotation_schedules=[
                secret.rotation.schedule
                for secret in environment.secrets
                if secret.rotation.schedule
            ],
        )
        if recorder is not None:
            # Config refuses a rule while the region has no recorder; CloudFormation starts the
            # recorder once its channel exists, with the role's policies attached.
            for rule in self.rules.rules.values():
                rule.node.add_dependency(recorder)
