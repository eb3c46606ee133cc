"""SecretReadingFunction: a workload Lambda that reads exactly its secrets through the extension."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import region_info

from constructs import Construct
from strongbox.access.calls import Runtime
from strongbox.access.declare import declare_runtime
from strongbox.consumer import SecretConsumer
from strongbox.keys import KeyLike
from strongbox.private_function import PrivateFunction, bundled_code
from strongbox.reader.calls import CALLS
from strongbox.signature import shows_init_signature

HANDLER_DIRECTORY = Path(__file__).parent / "reader"
# The newest extension version whose per-region layer ARNs aws-cdk-lib's region table lists.
EXTENSION_VERSION = lambda_.ParamsAndSecretsVersions.V1_0_103
MAX_CACHE_TTL = cdk.Duration.minutes(5)  # the extension's upper bound for both TTLs


def extension_layer_arn(region: str) -> str | None:
    """The extension's arm64 layer in `region` (PrivateFunction runs on arm64), or None where
    aws-cdk-lib's region table has none: there the CDK refuses the function at synth."""
    version = EXTENSION_VERSION.value.removeprefix("V").replace("_", ".")
    arn: str | None = region_info.RegionInfo.get(region).params_and_secrets_lambda_layer_arn(
        version, "arm64"
    )
    return arn


@shows_init_signature
class SecretReadingFunction(PrivateFunction):
    """A `PrivateFunction` whose role holds exactly `consumer`'s policies and which reads its
    values through the AWS Parameters and Secrets Lambda Extension: a layer (ARN per region from
    aws-cdk-lib's table) serving a local cache, so a warm function does not call Secrets Manager
    or SSM again before `cache_ttl`.

    The environment says where each value lives (`SecretConsumer.lambda_environment`), never
    what it is. The default code (strongbox/reader/handler.py) loads every value on each
    invocation, served from the extension's cache; its `fresh(name)` bypasses the cache for the
    one retry after an authentication failure, since a rotated credential can stay cached until
    the TTL expires.

    Attributes:
        consumer: the `SecretConsumer`; and those of `PrivateFunction`.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        consumer: SecretConsumer,
        description: str,
        vpc: ec2.IVpc,
        vpc_subnets: ec2.SubnetSelection,
        vpc_cidr: str,
        encryption_key: KeyLike,
        code: lambda_.Code | None = None,
        cache_ttl: cdk.Duration = MAX_CACHE_TTL,
        role_name: str | None = None,
        role_path: str | None = None,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        """
        Args:
            consumer: the secrets and parameters the function reads, as env var names.
            code: the function's code, `handler.lambda_handler`. Default: strongbox/reader.
            cache_ttl: how long the extension serves a value from its cache (at most 5 minutes,
                0 to always fetch). Default: 5 minutes.
            Others: see `PrivateFunction`.
        """
        if cache_ttl.to_seconds() > MAX_CACHE_TTL.to_seconds():
            raise ValueError(f"cache_ttl is at most 300 seconds, got {cache_ttl.to_seconds()}")
        super().__init__(
            scope,
            id_,
            description=description,
            code=code or bundled_code(HANDLER_DIRECTORY),
            environment=consumer.lambda_environment(),
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            vpc_cidr=vpc_cidr,
            encryption_key=encryption_key,
            removal_policy=removal_policy,
            role_name=role_name,
            role_path=role_path,
            params_and_secrets=lambda_.ParamsAndSecretsLayerVersion.from_version(
                EXTENSION_VERSION,
                cache_enabled=cache_ttl.to_seconds() > 0,
                secrets_manager_ttl=cache_ttl,
                parameter_store_ttl=cache_ttl,
            ),
        )
        self.consumer = consumer
        consumer.attach_to(self.role)
        parameter_actions = [action for action, what in CALLS.items() if what == "parameter"]
        declare_runtime(
            self,
            Runtime(
                name=f"reading function ({description})",
                kind="role",
                principal=self.role.role_arn,
                calls=consumer.declared_calls(parameter_actions=parameter_actions),
            ),
        )
