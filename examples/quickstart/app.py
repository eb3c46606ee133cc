#!/usr/bin/env python3
"""Quickstart: one key, two secrets, a Fargate service and a Lambda that read exactly theirs.

Synthesizes with no AWS credentials (`cdk synth`), all four cdk-nag packs on.
"""

from __future__ import annotations

import sys

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam

from constructs import Construct
from strongbox import (
    FAIL_SYNTH_ON_VALIDATION_ERRORS,
    FixedZonesStack,
    KeyAccess,
    ManagedSecret,
    PrivateEndpoints,
    RotationFunction,
    RotationSchedule,
    SecretConsumer,
    SecretReadingFunction,
    SecretsKey,
    SecretUse,
    TaskExecutionRole,
    acknowledge,
    add_compliance_plugins,
    encrypted_log_group,
    flow_log_destination,
    synthesize,
)

ACCOUNT = "123456789012"  # your account: policies name it, so synth needs no lookup
REGION = "eu-west-1"
ZONES = ["eu-west-1a", "eu-west-1b"]
CIDR = "10.20.0.0/16"
# Secrets are named <environment>/<application>/<purpose>; the endpoint policy admits these only.
NAME_PREFIX = "dev/shop/"
ISOLATED = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)


class ShopSecrets(FixedZonesStack):
    """Everything in one stack: network, key, secrets, rotation, a service and a function."""

    def __init__(self, scope: Construct, id_: str, **kwargs: object) -> None:
        super().__init__(
            scope,
            id_,
            availability_zones=ZONES,
            env=cdk.Environment(account=ACCOUNT, region=REGION),
            **kwargs,
        )
        key = SecretsKey(
            self,
            "Key",
            application="shop",
            environment_name="dev",
            access=KeyAccess(account=ACCOUNT, regions=(REGION,), encrypts_log_groups=True),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        vpc = self.network(key)

        # Two secrets on the key; their names come from it: dev/shop/<purpose>.
        payment_token = ManagedSecret(
            self,
            "PaymentToken",
            purpose="payment-token",
            kind="api-key",
            description="Token the checkout sends to the payment provider",
            owner="team-checkout",
            encryption_key=key,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        session_key = ManagedSecret(
            self,
            "SessionKey",
            purpose="session-key",
            kind="json",
            description="Signs the shop's session cookies",
            owner="team-web",
            encryption_key=key,
            rotation_disabled_reason="Rotating it logs every customer out; the web team rotates "
            "it by hand in the quarterly maintenance window.",
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        rotation = RotationFunction(
            self,
            "Rotation",
            vpc=vpc,
            vpc_subnets=ISOLATED,
            vpc_cidr=CIDR,
            encryption_key=key,
            generation=payment_token.generation,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        rotation.rotate(payment_token, RotationSchedule("rate(30 days)"))

        # The checkout service (Fargate) reads both; its execution role reads nothing else.
        checkout = SecretConsumer(
            self,
            "CheckoutSecrets",
            secrets=[
                SecretUse("PAYMENT_TOKEN", payment_token),
                SecretUse("SESSION_KEY", session_key, field="value"),
            ],
        )
        self.service(key, vpc, checkout)

        # The refund job (Lambda) reads the payment token only.
        SecretReadingFunction(
            self,
            "Refunds",
            consumer=SecretConsumer(
                self, "RefundSecrets", secrets=[SecretUse("PAYMENT_TOKEN", payment_token)]
            ),
            description="Refunds: reads the payment token through the extension",
            vpc=vpc,
            vpc_subnets=ISOLATED,
            vpc_cidr=CIDR,
            encryption_key=key,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )

    def network(self, key: SecretsKey) -> ec2.Vpc:
        """Isolated subnets (no internet, no NAT) reaching AWS through private endpoints."""
        flow_logs = encrypted_log_group(
            self, "FlowLogs", encryption_key=key, removal_policy=cdk.RemovalPolicy.DESTROY
        )
        vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(CIDR),
            availability_zones=ZONES,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="Isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                )
            ],
            restrict_default_security_group=True,
            # Written by a role with a managed policy (the packs refuse the default inline one).
            flow_logs={
                "All": ec2.FlowLogOptions(destination=flow_log_destination(self, flow_logs))
            },
        )
        acknowledge(
            vpc,
            "W3010",
            "The zones are fixed on purpose: synth looks nothing up and stays reproducible.",
        )
        PrivateEndpoints(
            self,
            "Endpoints",
            vpc=vpc,
            subnets=ISOLATED,
            vpc_cidr=CIDR,
            account=ACCOUNT,
            secret_name_prefix=NAME_PREFIX,
            parameter_path="/shop/dev/",
        )
        return vpc

    def service(self, key: SecretsKey, vpc: ec2.Vpc, consumer: SecretConsumer) -> None:
        """A Fargate service whose task gets its secrets at start, through the execution role."""
        logs = encrypted_log_group(
            self, "CheckoutLogs", encryption_key=key, removal_policy=cdk.RemovalPolicy.DESTROY
        )
        repository = ecr.Repository.from_repository_name(self, "Repository", "shop/checkout")
        execution = TaskExecutionRole(
            self, "CheckoutExecution", consumer=consumer, log_group=logs, repository=repository
        )
        task = ecs.FargateTaskDefinition(
            self,
            "CheckoutTask",
            execution_role=execution.role_for_task_definition,
            task_role=iam.Role(
                self, "CheckoutTaskRole", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com")
            ),
        )
        task.add_container(
            "checkout",
            image=ecs.ContainerImage.from_ecr_repository(repository, "1.0.0"),
            secrets=consumer.ecs_secrets(),  # never `environment`: no value in the template
            readonly_root_filesystem=True,
            logging=ecs.LogDriver.aws_logs(stream_prefix="checkout", log_group=logs),
        )
        cluster = ecs.Cluster(
            self, "Cluster", vpc=vpc, container_insights_v2=ecs.ContainerInsights.ENABLED
        )
        service = ecs.FargateService(
            self,
            "Checkout",
            cluster=cluster,
            task_definition=task,
            vpc_subnets=ISOLATED,
            desired_count=1,
        )
        # The service waits for the role's policies; `strongbox check` sees what starting needs.
        execution.starts(service, stream_prefix="checkout", container_name="checkout")


app = cdk.App(context={FAIL_SYNTH_ON_VALIDATION_ERRORS: False})  # synthesize() reports
# The four cdk-nag packs and Strongbox's Guard rules: synth fails on any finding.
add_compliance_plugins(app)
ShopSecrets(app, "ShopSecrets")
# Synth, then the compliance findings and the call-path proof, one line per problem.
sys.exit(synthesize(app))
