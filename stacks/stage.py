"""One deployable environment: a Stage named `Strongbox-<Env>` holding its stacks."""

from __future__ import annotations

import aws_cdk as cdk

from constructs import Construct
from stacks.config import EnvironmentConfig
from stacks.keys_stack import KeysStack
from stacks.secrets_stack import SecretsStack


class EnvironmentStage(cdk.Stage):
    def __init__(
        self, scope: Construct, *, application: str, environment: EnvironmentConfig
    ) -> None:
        super().__init__(
            scope,
            environment.stage_name,
            env=cdk.Environment(account=environment.account, region=environment.region),
        )
        # Dev may be torn down completely; everywhere else stateful resources outlive their stacks.
        removal_policy = (
            cdk.RemovalPolicy.DESTROY if environment.is_development else cdk.RemovalPolicy.RETAIN
        )
        self.keys = KeysStack(
            self,
            "Keys",
            application=application,
            environment=environment,
            removal_policy=removal_policy,
            description=f"Strongbox {environment.name}: customer-managed KMS keys",
        )
        self.secrets = SecretsStack(
            self,
            "Secrets",
            application=application,
            environment=environment,
            encryption_key=self.keys.secrets_key.key,
            removal_policy=removal_policy,
            description=f"Strongbox {environment.name}: Secrets Manager secrets",
        )
        for stack in (self.keys, self.secrets):
            cdk.Tags.of(stack).add("Application", application)
            cdk.Tags.of(stack).add("Environment", environment.name)
