"""RotationFunction: a hardened four-step rotation Lambda for secrets without hosted rotation."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs

from constructs import Construct
from strongbox.compliance import acknowledge
from strongbox.log_groups import encrypted_log_group
from strongbox.secrets import DEFAULT_LENGTHS, Generation, ManagedSecret, RotationSchedule

HANDLER_DIRECTORY = Path(__file__).parent / "rotation"
# Creating, describing and deleting its network interfaces is what a Lambda in a VPC must be able
# to do; EC2 does not support resource-level permissions for these actions.
NETWORK_INTERFACE_ACTIONS = (
    "ec2:AssignPrivateIpAddresses",
    "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:UnassignPrivateIpAddresses",
)


class RotationFunction(Construct):
    """The four-step rotation Lambda (createSecret, setSecret, testSecret, finishSecret).

    Python 3.13, boto3 only, in isolated subnets reaching Secrets Manager through its endpoint;
    encrypted dead-letter queue, reserved concurrency, a log group encrypted with the key and
    kept for a year, JSON logs without secret values, and a role that can rotate exactly the
    secrets given to `rotate` (plus GetRandomPassword, which has no resource).

    The built-in strategy is "token": a new random value from GetRandomPassword with the
    `generation` options (for a json secret, only `json_field` changes); the old value stays
    valid as AWSPREVIOUS. For another strategy, pass `code` holding handler.py next to your
    module and `strategy="module:Class"` (see strongbox/rotation/handler.py).

    Attributes:
        function: the `lambda_.Function`.
        dead_letter_queue: the `sqs.Queue`.
        log_group: the `logs.LogGroup`.
        security_group: the function's security group (HTTPS to the VPC only).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        vpc: ec2.IVpc,
        vpc_subnets: ec2.SubnetSelection,
        vpc_cidr: str,
        encryption_key: kms.IKey,
        generation: Generation | None = None,
        json_field: str | None = None,
        strategy: str = "token",
        code: lambda_.Code | None = None,
        reserved_concurrency: int = 2,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        """
        Args:
            vpc: the VPC; the function runs in `vpc_subnets` and must reach Secrets Manager
                through an interface endpoint with private DNS.
            vpc_subnets: isolated subnets.
            vpc_cidr: the VPC's CIDR block; the function's only egress is HTTPS to it.
            encryption_key: encrypts the log group (its policy must allow CloudWatch Logs).
            generation: token length and character rules. Default: 40 letters and digits.
            json_field: for json secrets, the field that is regenerated. Default: the whole
                secret string is the token.
            strategy: "token" or "module:attribute" of a strategy shipped in `code`.
                Default: "token".
            code: the Lambda code. Default: Strongbox's handler.
            reserved_concurrency: Default: 2 (rotations of one secret run one step at a time).
            removal_policy: for the log group. Default: RETAIN.
        """
        super().__init__(scope, id_)
        generation = generation or Generation()
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
            "This queue is the rotation Lambda's dead-letter queue; it has no DLQ of its own.",
        )
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="Rotation function: HTTPS to the Secrets Manager endpoint only",
            allow_all_outbound=False,
        )
        self.security_group.add_egress_rule(
            ec2.Peer.ipv4(vpc_cidr), ec2.Port.tcp(443), "HTTPS to the VPC's AWS endpoints"
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Rotates Strongbox secrets; no AWS-managed or inline policies",
        )
        # Every permission is written here or by `rotate`, in one customer-managed policy.
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[self.log_group.log_group_arn, f"{self.log_group.log_group_arn}:*"],
                ),
                iam.PolicyStatement(actions=list(NETWORK_INTERFACE_ACTIONS), resources=["*"]),
                iam.PolicyStatement(actions=["secretsmanager:GetRandomPassword"], resources=["*"]),
                iam.PolicyStatement(
                    actions=["sqs:SendMessage"], resources=[self.dead_letter_queue.queue_arn]
                ),
            ],
        )
        acknowledge(
            self.policy,
            "AwsSolutions-IAM5[Resource::*]",
            "Only ec2 network-interface actions (a VPC Lambda's ENIs, which EC2 cannot scope "
            "to resources) and secretsmanager:GetRandomPassword (which has no resource).",
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
            runtime=lambda_.Runtime.PYTHON_3_13,
            architecture=lambda_.Architecture.ARM_64,
            handler="handler.lambda_handler",
            code=code
            or lambda_.Code.from_asset(str(HANDLER_DIRECTORY), exclude=["__pycache__", "*.pyc"]),
            # Immutable for the CDK: its implicit grants would create an inline policy.
            role=self.role.without_policy_updates(),
            timeout=cdk.Duration.seconds(60),
            memory_size=256,
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            security_groups=[self.security_group],
            reserved_concurrent_executions=reserved_concurrency,
            dead_letter_queue=self.dead_letter_queue,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            description="Strongbox four-step secret rotation",
            environment={
                # Private DNS on the interface endpoint resolves this name inside the VPC.
                "SECRETS_MANAGER_ENDPOINT": f"https://secretsmanager.{stack.region}.{stack.url_suffix}",
                "ROTATION_STRATEGY": strategy,
                "TOKEN_LENGTH": str(generation.length or DEFAULT_LENGTHS["api-key"]),
                "TOKEN_EXCLUDE_CHARACTERS": generation.exclude_characters or "",
                "TOKEN_EXCLUDE_PUNCTUATION": str(
                    True
                    if generation.exclude_punctuation is None
                    else generation.exclude_punctuation
                ).lower(),
                "TOKEN_FIELD": json_field or "",
            },
        )
        # A function in a VPC is created only if its role can already manage network interfaces.
        self.function.node.add_dependency(self.policy)
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            "Pinned to python3.13, a supported Lambda runtime, so the deployed runtime is the one "
            "the handler's tests ran on; moving to a newer runtime is a reviewed change.",
        )

    def rotate(self, secret: ManagedSecret, schedule: RotationSchedule) -> None:
        """Rotate `secret` on `schedule`: grants, an invoke permission for Secrets Manager
        limited to this account and this secret, and the rotation schedule."""
        stack = cdk.Stack.of(self)
        self.policy.add_statements(*secret.rotation_statements())
        permission = lambda_.CfnPermission(
            self,
            f"InvokeFor{secret.node.id}",
            action="lambda:InvokeFunction",
            function_name=self.function.function_arn,
            principal="secretsmanager.amazonaws.com",
            source_account=stack.account,
            source_arn=secret.secret.secret_arn,
        )
        rotation_schedule = secret.add_rotation_schedule(
            schedule=schedule, rotation_lambda=self.function
        )
        # Secrets Manager invokes the function as soon as the schedule exists (rotate
        # immediately): the invoke permission must already be in place.
        rotation_schedule.add_resource_dependency(permission)
