"""What the integration apps (tests/integ/integ_*.py) share: where they deploy, the network every
Strongbox function needs, the probe function, and the IntegTest around the stacks.

Snapshot mode (`make test`, no credentials) synthesizes each app with the placeholder account
and region below. Deploy mode (`make integ`) runs each app under the CDK CLI, which sets
CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION from the caller's credentials, and gives each run its
own STRONGBOX_INTEG_RUN: a deleted secret's name stays taken for its recovery window, so names
never repeat between runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import integ_tests_alpha as integ

from constructs import Construct
from strongbox import (
    FixedZonesStack,
    KeyAccess,
    ManagedSecret,
    PrivateEndpoints,
    RotationFunction,
    RotationSchedule,
    SecretConsumer,
    SecretReadingFunction,
    SecretsKey,
    acknowledge,
    encrypted_log_group,
    flow_log_destination,
)

ACCOUNT = os.environ.get("CDK_DEFAULT_ACCOUNT", "111111111111")
REGION = os.environ.get("CDK_DEFAULT_REGION", "eu-west-1")
REPLICA_REGION = os.environ.get("STRONGBOX_INTEG_REPLICA_REGION", "eu-central-1")
RUN = os.environ.get("STRONGBOX_INTEG_RUN", "snap")
APPLICATION = "integ"
CIDR = "10.40.0.0/16"
ISOLATED = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
DESTROY = cdk.RemovalPolicy.DESTROY
CHECKER = Path(__file__).resolve().parent / "checker"


def environment_name(scenario: str) -> str:
    """The environment part of every name a scenario creates: `<scenario>-<run>`."""
    return f"{scenario}-{RUN}"


def env(region: str = REGION) -> cdk.Environment:
    return cdk.Environment(account=ACCOUNT, region=region)


def secrets_key(
    scope: Construct, environment_name: str, replica_regions: tuple[str, ...] = ()
) -> SecretsKey:
    """A Strongbox key for `environment_name`, deleted 7 days after its stack."""
    return SecretsKey(
        scope,
        "Key",
        application=APPLICATION,
        environment_name=environment_name,
        access=KeyAccess(
            account=ACCOUNT,
            regions=(REGION, *replica_regions),
            encrypts_log_groups=True,
            encrypts_alerts=True,
        ),
        pending_window=cdk.Duration.days(7),
        removal_policy=DESTROY,
    )


class ScenarioStack(FixedZonesStack):
    """A stack with a Strongbox key (its own, deleted with the stack, unless `key` is given) and,
    unless `network` is false, an isolated VPC reaching AWS only through Strongbox's private
    endpoints."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        scenario: str,
        key: SecretsKey | None = None,
        network: bool = True,
    ) -> None:
        super().__init__(scope, id_, availability_zones=[f"{REGION}a", f"{REGION}b"], env=env())
        self.environment_name = environment_name(scenario)
        self.key = key or secrets_key(self, self.environment_name)
        self.vpc = self._network() if network else None

    @property
    def name_prefix(self) -> str:
        return f"{self.environment_name}/{APPLICATION}/"

    def secret(self, purpose: str, **kwargs: object) -> ManagedSecret:
        """An api-key secret on the stack's key, deleted with the stack."""
        return ManagedSecret(
            self,
            purpose.title().replace("-", ""),
            purpose=purpose,
            kind="api-key",
            description=f"Integration test secret ({purpose})",
            owner="strongbox-integ",
            encryption_key=self.key,
            removal_policy=DESTROY,
            **kwargs,  # type: ignore[arg-type]
        )

    def reading_function(
        self, id_: str, consumer: SecretConsumer, description: str
    ) -> SecretReadingFunction:
        """A `SecretReadingFunction` in the VPC (Strongbox's reader: it answers with the names
        it loaded, never a value), reading what `consumer` lists."""
        assert self.vpc is not None
        return SecretReadingFunction(
            self,
            id_,
            consumer=consumer,
            description=description,
            vpc=self.vpc,
            vpc_subnets=ISOLATED,
            vpc_cidr=CIDR,
            encryption_key=self.key,
            removal_policy=DESTROY,
        )

    def _network(self) -> ec2.Vpc:
        vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(CIDR),
            availability_zones=[f"{REGION}a", f"{REGION}b"],
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="Isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                )
            ],
            restrict_default_security_group=True,
            flow_logs={
                "All": ec2.FlowLogOptions(
                    destination=flow_log_destination(
                        self,
                        encrypted_log_group(
                            self, "FlowLogs", encryption_key=self.key, removal_policy=DESTROY
                        ),
                    )
                )
            },
        )
        acknowledge(vpc, "W3010", "The zones are fixed on purpose: the snapshot looks nothing up.")
        PrivateEndpoints(
            self,
            "Endpoints",
            vpc=vpc,
            subnets=ISOLATED,
            vpc_cidr=CIDR,
            account=ACCOUNT,
            secret_name_prefix=self.name_prefix,
            parameter_path=f"/{APPLICATION}/{self.environment_name}/",
        )
        return vpc


def rotate(stack: ScenarioStack, secret: ManagedSecret) -> RotationFunction:
    """Strongbox's four-step rotation function for `secret`, on a schedule that does not rotate
    at creation (the test triggers the rotation it checks)."""
    assert stack.vpc is not None
    rotation = RotationFunction(
        stack,
        "Rotation",
        vpc=stack.vpc,
        vpc_subnets=ISOLATED,
        vpc_cidr=CIDR,
        encryption_key=stack.key,
        generation=secret.generation,
        removal_policy=DESTROY,
    )
    rotation.rotate(secret, RotationSchedule("rate(30 days)", rotate_immediately=False))
    return rotation


def rotation_checked(
    test: integ.IntegTest,
    secret: ManagedSecret,
    rotation_function: RotationFunction,
    probe: lambda_.IFunction,
) -> integ.IApiCall:
    """RotateSecret, then, until it holds (10 minutes at most): the version RotateSecret created is
    AWSCURRENT, the one before it AWSPREVIOUS, their values differ, and no other version keeps
    AWSPENDING. `probe` must be granted both stages. Returns the check, for what must follow it."""
    arn = secret.secret_arns()[0]
    rotation = test.assertions.aws_api_call("SecretsManager", "rotateSecret", {"SecretId": arn})
    # RotateSecret's caller also needs to invoke the rotation function (its API reference).
    rotation.provider.add_to_role_policy(
        {
            "Effect": "Allow",
            "Action": ["lambda:InvokeFunction"],
            "Resource": [rotation_function.function.function_arn],
        }
    )
    check = invoked(
        test,
        probe,
        {"action": "rotated", "secret_id": arn, "version": rotation.get_att_string("VersionId")},
    )
    rotation.next(check)
    returns(
        check,
        {
            "current_is_rotated_version": True,
            "previous_is_older_version": True,
            "value_changed": True,
            "pending_left": False,
        },
    )
    check.wait_for_assertions(
        total_timeout=cdk.Duration.minutes(10), interval=cdk.Duration.seconds(30)
    )
    return check


def checker(scope: Construct, id_: str) -> lambda_.Function:
    """The probe (tests/integ/checker): outside the VPC, with no grant of its own; a test grants
    it what the scenario says it may read."""
    return lambda_.Function(
        scope,
        id_,
        runtime=lambda_.Runtime.PYTHON_3_13,
        handler="index.handler",
        code=lambda_.Code.from_asset(str(CHECKER)),
        timeout=cdk.Duration.seconds(30),
        role=iam.Role(
            scope,
            f"{id_}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(
                    "service-role/AWSLambdaBasicExecutionRole"
                )
            ],
        ),
    )


def integ_test(app: cdk.App, name: str, stacks: list[cdk.Stack]) -> integ.IntegTest:
    """The IntegTest around `stacks`, its assertions in a stack of their own in the primary
    region. No update workflow: each run deploys from nothing and destroys everything."""
    return integ.IntegTest(
        app,
        name,
        test_cases=stacks,
        assertion_stack=cdk.Stack(app, f"{name}Assertions", env=env()),
        regions=[REGION],
        stack_update_workflow=False,
    )


def invoked(
    test: integ.IntegTest, function: lambda_.IFunction, payload: Mapping[str, object]
) -> integ.IApiCall:
    """`function` invoked synchronously with `payload`, whose values may be tokens of strings
    (ARNs, ids). The payload is JSON text: the assertion provider writes it into the template
    as one string and resolves the tokens inside it, so they must not be JSON-encoded twice."""
    return test.assertions.invoke_function(
        function_name=function.function_name, payload=json.dumps(dict(payload))
    )


def returns(call: integ.IApiCall, result: Mapping[str, object]) -> None:
    """Assert that the invoked function returned exactly the JSON object `result`."""
    call.expect(integ.ExpectedResult.object_like({"Payload": integ.Match.serialized_json(result)}))
