"""PrivateFunction: a Python Lambda in isolated subnets, hardened the way Strongbox needs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs

from constructs import Construct
from strongbox.compliance import acknowledge
from strongbox.log_groups import encrypted_log_group

# Creating, describing and deleting its network interfaces is what a Lambda in a VPC must be able
# to do; EC2 does not support resource-level permissions for these actions.
NETWORK_INTERFACE_ACTIONS = (
    "ec2:AssignPrivateIpAddresses",
    "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:UnassignPrivateIpAddresses",
)
RUNTIME = lambda_.Runtime.PYTHON_3_13


class PrivateFunction(Construct):
    """Python 3.13 on arm64 in isolated subnets whose only egress is HTTPS to the VPC (AWS
    endpoints), with a dead-letter queue (SQS-managed encryption, TLS only), reserved
    concurrency, a log group encrypted with the key and kept a year, JSON logs, and a role with
    one customer-managed policy that the CDK cannot widen with implicit grants.

    Attributes:
        function, role, policy (add statements here), log_group, dead_letter_queue,
        security_group.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        description: str,
        code: lambda_.Code,
        environment: Mapping[str, str],
        vpc: ec2.IVpc,
        vpc_subnets: ec2.SubnetSelection,
        vpc_cidr: str,
        encryption_key: kms.IKey,
        unscoped_actions: Sequence[str] = (),
        unscoped_reason: str = "",
        reserved_concurrency: int = 2,
        timeout: cdk.Duration | None = None,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        """
        Args:
            description: what the function does.
            code: its code; the handler is `handler.lambda_handler`.
            environment: its environment variables (never a secret value).
            vpc, vpc_subnets: where it runs; isolated subnets reaching AWS through endpoints.
            vpc_cidr: the VPC's CIDR; the function's only egress is HTTPS to it.
            encryption_key: encrypts the log group (its policy must allow CloudWatch Logs).
            unscoped_actions: actions that have no resource to scope to (Resource "*"), with
                `unscoped_reason` saying why, for the compliance acknowledgment.
            reserved_concurrency: Default: 2.
            timeout: Default: 60 seconds.
            removal_policy: for the log group. Default: RETAIN.
        """
        super().__init__(scope, id_)
        stack = cdk.Stack.of(self)
        self.log_group = encrypted_log_group(
            self, "Logs", encryption_key=encryption_key, removal_policy=removal_policy
        )
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        acknowledge(
            self.dead_letter_queue,
            "AwsSolutions-SQS3",
            "This queue is a Lambda function's dead-letter queue; it has no DLQ of its own.",
        )
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description=f"{description}: HTTPS to the AWS endpoints in the VPC only",
            allow_all_outbound=False,
        )
        self.security_group.add_egress_rule(
            ec2.Peer.ipv4(vpc_cidr), ec2.Port.tcp(443), "HTTPS to the VPC's AWS endpoints"
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{description}; no AWS-managed or inline policies",
        )
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[self.log_group.log_group_arn, f"{self.log_group.log_group_arn}:*"],
                ),
                iam.PolicyStatement(
                    actions=[*NETWORK_INTERFACE_ACTIONS, *unscoped_actions], resources=["*"]
                ),
                iam.PolicyStatement(
                    actions=["sqs:SendMessage"], resources=[self.dead_letter_queue.queue_arn]
                ),
            ],
        )
        acknowledge(
            self.policy,
            "AwsSolutions-IAM5[Resource::*]",
            "Only the ec2 network-interface actions a VPC Lambda needs, which EC2 cannot scope "
            "to resources" + (f", and {unscoped_reason}" if unscoped_actions else "") + ".",
        )
        log_group_id = stack.get_logical_id(self.log_group.node.default_child)  # type: ignore[arg-type]
        acknowledge(
            self.policy,
            f"AwsSolutions-IAM5[Resource::<{log_group_id}.Arn>:*]",
            "The log streams of this function's own log group, whose names Lambda generates.",
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler="handler.lambda_handler",
            code=code,
            # Immutable for the CDK: its implicit grants would create an inline policy.
            role=self.role.without_policy_updates(),
            timeout=timeout or cdk.Duration.seconds(60),
            memory_size=256,
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            security_groups=[self.security_group],
            reserved_concurrent_executions=reserved_concurrency,
            dead_letter_queue=self.dead_letter_queue,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            description=description,
            environment=dict(environment),
        )
        # A function in a VPC is created only if its role can already manage network interfaces.
        self.function.node.add_dependency(self.policy)
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            "Pinned to python3.13, a supported Lambda runtime, so the deployed runtime is the one "
            "the handler's tests ran on; moving to a newer runtime is a reviewed change.",
        )
