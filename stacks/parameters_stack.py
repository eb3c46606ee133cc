"""Parameters stack: parameters of the environment's hierarchy /<application>/<environment>/."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import aws_cdk as cdk

from constructs import Construct
from stacks.config import EnvironmentConfig, ParameterConfig
from stacks.network_stack import NetworkStack
from stacks.secrets_stack import generation_of
from strongbox import ManagedSecret, ParameterTree, SecretsKey


class ParametersStack(cdk.Stack):
    """Some of an environment's parameters (those `stacks.placement` puts here), in a
    `ParameterTree` of the environment's path with a SecureString provider of its own.

    Attributes:
        tree: the `ParameterTree` of this stack's parameters.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        application: str,
        environment: EnvironmentConfig,
        parameters: Sequence[ParameterConfig],
        secrets_key: SecretsKey,
        network: NetworkStack,
        secrets: Mapping[str, ManagedSecret],
        removal_policy: cdk.RemovalPolicy,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        self.tree = ParameterTree(
            self,
            "Parameters",
            application=application,
            environment_name=environment.name,
            encryption_key=secrets_key.key,
            vpc=network.vpc,
            vpc_subnets=network.isolated_subnets,
            vpc_cidr=environment.network.cidr,
            removal_policy=removal_policy,
        )
        for parameter in parameters:
            common: dict[str, Any] = {"description": parameter.description}
            if parameter.type == "SecureString":
                source = parameter.source
                assert source is not None  # parse_config requires a source for SecureString
                self.tree.add_secure_string(
                    parameter.name,
                    generation=generation_of(source.generation) if source.generation else None,
                    copy_from=secrets[source.secret] if source.secret else None,
                    field=source.field,
                    tier=parameter.tier,
                    **common,
                )
                continue
            assert parameter.value is not None  # parse_config requires a value otherwise
            common.update(
                tier=parameter.tier,
                policies=[policy.as_json() for policy in parameter.policies],
            )
            if parameter.type == "StringList":
                self.tree.add_string_list(parameter.name, parameter.value.split(","), **common)
            else:
                self.tree.add_string(parameter.name, parameter.value, **common)
