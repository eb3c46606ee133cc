"""Log groups for audit data: encrypted with the environment's key and kept for a year."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_logs as logs

from constructs import Construct
from strongbox.access.calls import Call, Runtime
from strongbox.access.declare import declare_runtime
from strongbox.keys import KeyLike, as_key, key_reference

# A year covers the retention the HIPAA, NIST 800-53 and PCI DSS packs look for.
AUDIT_RETENTION = logs.RetentionDays.ONE_YEAR


def encrypted_log_group(
    scope: Construct,
    id_: str,
    *,
    encryption_key: KeyLike,
    removal_policy: cdk.RemovalPolicy,
    log_group_name: str | None = None,
) -> logs.LogGroup:
    """A log group encrypted with `encryption_key` (whose policy must let CloudWatch Logs use it:
    `KeyAccess(encrypts_log_groups=True)`), kept for a year. `log_group_name`: for a group a
    service writes to by name (created here first, so it is encrypted and kept)."""
    encryption_key = as_key(encryption_key)
    group = logs.LogGroup(
        scope,
        id_,
        log_group_name=log_group_name,
        encryption_key=key_reference(scope, f"{id_}Key", encryption_key),
        retention=AUDIT_RETENTION,
        removal_policy=removal_policy,
    )
    stack = cdk.Stack.of(scope)
    # CloudWatch Logs encrypts and decrypts the group's data itself, as its service principal,
    # naming the group in the encryption context (CloudWatch Logs user guide, "Encrypt log
    # data in CloudWatch Logs using AWS KMS").
    arn = (
        f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:"
        f"{group.log_group_name}"
    )
    context = {"kms:EncryptionContext:aws:logs:arn": arn}
    declare_runtime(
        group,
        Runtime(
            name=f"CloudWatch Logs encrypting {id_}",
            kind="service",
            principal=f"logs.{stack.region}.amazonaws.com",
            calls=tuple(
                Call(action, encryption_key.key_arn, context=context, purpose="log data")
                for action in ("kms:GenerateDataKey", "kms:Decrypt")
            ),
            source={"aws:SourceAccount": stack.account},
        ),
    )
    return group
