"""Log groups for audit data: encrypted with the environment's key and kept for a year."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs

from constructs import Construct
from strongbox.keys import key_reference

# A year covers the retention the HIPAA, NIST 800-53 and PCI DSS packs look for.
AUDIT_RETENTION = logs.RetentionDays.ONE_YEAR


def encrypted_log_group(
    scope: Construct,
    id_: str,
    *,
    encryption_key: kms.IKey,
    removal_policy: cdk.RemovalPolicy,
    log_group_name: str | None = None,
) -> logs.LogGroup:
    """A log group encrypted with `encryption_key` (whose policy must let CloudWatch Logs use it:
    `KeyAccess(encrypts_log_groups=True)`), kept for a year. `log_group_name`: for a group a
    service writes to by name (created here first, so it is encrypted and kept)."""
    return logs.LogGroup(
        scope,
        id_,
        log_group_name=log_group_name,
        encryption_key=key_reference(scope, f"{id_}Key", encryption_key),
        retention=AUDIT_RETENTION,
        removal_policy=removal_policy,
    )
