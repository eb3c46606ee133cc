"""SecretsKey: the customer-managed KMS key for an environment's secrets and parameters."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms

from constructs import Construct

MIN_ROTATION_DAYS, MAX_ROTATION_DAYS = 90, 2560
MIN_PENDING_DAYS, MAX_PENDING_DAYS = 7, 30


class SecretsKey(Construct):
    """A symmetric CMK with rotation on and the alias `alias/<application>/<environment>/<purpose>`.

    Attributes:
        key: the `kms.Key`.
        alias_name: the alias, usable in IAM and in KMS calls.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        application: str,
        environment_name: str,
        purpose: str = "secrets",
        multi_region: bool = False,
        rotation_period: cdk.Duration | None = None,
        pending_window: cdk.Duration | None = None,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        """
        Args:
            application: application name, the alias's first segment.
            environment_name: environment name (dev, staging, prod, ...).
            purpose: what the key protects. Default: "secrets".
            multi_region: create a multi-region primary key (for replica keys). Default: False.
            rotation_period: automatic rotation period, 90-2560 days. Default: 365 days.
            pending_window: deletion waiting period, 7-30 days. Default: 30 days.
            removal_policy: what happens on stack deletion. Default: RETAIN.
        """
        super().__init__(scope, id_)
        rotation_period = rotation_period or cdk.Duration.days(365)
        pending_window = pending_window or cdk.Duration.days(MAX_PENDING_DAYS)
        _require_days("rotation_period", rotation_period, MIN_ROTATION_DAYS, MAX_ROTATION_DAYS)
        _require_days("pending_window", pending_window, MIN_PENDING_DAYS, MAX_PENDING_DAYS)

        self.alias_name = f"alias/{application}/{environment_name}/{purpose}"
        self.key = kms.Key(
            self,
            "Key",
            description=f"Encrypts {application} {environment_name} {purpose} (Strongbox)",
            enable_key_rotation=True,
            rotation_period=rotation_period,
            pending_window=pending_window,
            multi_region=multi_region,
            alias=self.alias_name,
            removal_policy=removal_policy,
        )


def _require_days(name: str, duration: cdk.Duration, low: int, high: int) -> None:
    days = duration.to_days()
    if not low <= days <= high:
        raise ValueError(f"{name} must be {low}-{high} days, got {days:g}")
