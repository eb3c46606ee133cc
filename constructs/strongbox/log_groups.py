"""Log groups for audit data, encrypted with the environment's key and kept for a year, and the
VPC flow logs written to one."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs

from constructs import Construct
from strongbox.access.calls import Call, Runtime, assumed_by
from strongbox.access.declare import declare_runtime
from strongbox.compliance import acknowledge
from strongbox.keys import KeyLike, as_key, key_reference
from strongbox.trust import source_conditions

# A year covers the retention the HIPAA, NIST 800-53 and PCI DSS packs look for.
AUDIT_RETENTION = logs.RetentionDays.ONE_YEAR


def encrypted_log_group(
    scope: Construct,
    id_: str,
    *,
    encryption_key: KeyLike,
    removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    log_group_name: str | None = None,
) -> logs.LogGroup:
    """A log group encrypted with `encryption_key` (whose policy must let CloudWatch Logs use it:
    `KeyAccess(encrypts_log_groups=True)`; a `SecretsKey` or its `kms.IKey`), kept for a year,
    retained on stack deletion unless `removal_policy` says otherwise. `log_group_name`: for a
    group a service writes to by name (created here first, so it is encrypted and kept)."""
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


def flow_log_destination(scope: Construct, log_group: logs.ILogGroup) -> ec2.FlowLogDestination:
    """VPC flow logs to `log_group` (e.g. an `encrypted_log_group`), written by a role of their
    own (created in `scope` as FlowLogRole and FlowLogPolicy) whose customer-managed policy
    reaches that group only, trusted by VPC Flow Logs for this account's flow logs only. The
    CDK's default role carries an inline policy, which three compliance packs refuse."""
    stack = cdk.Stack.of(scope)
    role = iam.Role(
        scope,
        "FlowLogRole",
        # Confused deputy: only for this account's flow logs (VPC user guide, "IAM role for
        # publishing flow logs to CloudWatch Logs"). The flow log's id is generated and the flow
        # log names this role, so the id is a wildcard, as that guide allows.
        assumed_by=iam.ServicePrincipal(
            "vpc-flow-logs.amazonaws.com",
            conditions=source_conditions(
                stack.account,
                f"arn:{stack.partition}:ec2:{stack.region}:{stack.account}:vpc-flow-log/*",
            ),
        ),
        description="Writes this VPC's flow logs to its log group",
    )
    policy = iam.ManagedPolicy(
        scope,
        "FlowLogPolicy",
        roles=[role],
        statements=[
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn, f"{log_group.log_group_arn}:*"],
            )
        ],
    )
    log_group_id = cdk.Stack.of(scope).get_logical_id(log_group.node.default_child)  # type: ignore[arg-type]
    acknowledge(
        policy,
        f"AwsSolutions-IAM5[Resource::<{log_group_id}.Arn>:*]",
        "The log streams of this VPC's own flow-log group, whose names VPC Flow Logs generates.",
    )
    flow_log = f"arn:{stack.partition}:ec2:{stack.region}:{stack.account}:vpc-flow-log/fl-id"
    declare_runtime(
        role,
        assumed_by(
            "vpc-flow-logs.amazonaws.com",
            role.role_arn,
            name="VPC Flow Logs",
            source_arn=flow_log,
            source_account=stack.account,
        ),
    )
    stream = (
        f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:"
        f"{log_group.log_group_name}:log-stream:eni-id-all"
    )
    declare_runtime(
        role,
        Runtime(
            name="VPC Flow Logs writing",
            kind="role",
            principal=role.role_arn,
            calls=tuple(
                Call(action, stream, purpose="flow log records")
                for action in (
                    "logs:CreateLogStream",
                    "logs:DescribeLogStreams",
                    "logs:PutLogEvents",
                )
            ),
        ),
    )
    # The flow log would add the same grants inline; the managed policy above holds them.
    return ec2.FlowLogDestination.to_cloud_watch_logs(log_group, role.without_policy_updates())
