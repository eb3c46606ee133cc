"""One deployable environment: a Stage named `Strongbox-<Env>` holding its stacks."""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk

from constructs import Construct
from stacks.config import ConfigError, EnvironmentConfig, alert_pattern_size
from stacks.database_stack import DatabaseStack
from stacks.detection_stack import DetectionStack
from stacks.keys_stack import KeysStack, ReplicaKeysStack
from stacks.network_stack import NetworkStack
from stacks.parameters_stack import ParametersStack
from stacks.placement import (
    PARAMETERS,
    place_parameters,
    place_secrets,
    rotation_functions,
    stack_order,
)
from stacks.secrets_stack import SecretsStack
from stacks.workload_stack import WorkloadStack
from strongbox.alerts import EVENT_PATTERN_LIMIT


class EnvironmentStage(cdk.Stage):
    def __init__(
        self,
        scope: Construct,
        *,
        application: str,
        environment: EnvironmentConfig,
        recorded_placement: Mapping[str, str] | None = None,
        recorded_parameter_placement: Mapping[str, str] | None = None,
    ) -> None:
        _check_alert_pattern(application, environment, recorded_placement or {})
        super().__init__(
            scope,
            environment.stage_name,
            env=cdk.Environment(account=environment.account, region=environment.region),
        )
        self.environment = environment
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
        self.replica_keys = [
            ReplicaKeysStack(
                self,
                f"ReplicaKeys-{region}",
                primary=self.keys.secrets_key,
                secret_name_prefix=f"{environment.name}/{application}/",
                primary_region=environment.region,
                removal_policy=removal_policy,
                env=cdk.Environment(account=environment.account, region=region),
                description=f"Strongbox {environment.name}: replica of the secrets key in "
                f"{region}, and reads of replicas there forwarded to the alerts",
            )
            for region in environment.replica_regions
        ]
        self.network = NetworkStack(
            self,
            "Network",
            application=application,
            environment=environment,
            encryption_key=self.keys.secrets_key.key,
            removal_policy=removal_policy,
            description=f"Strongbox {environment.name}: VPC and private endpoints",
        )
        # Each secret in the stack recorded for it (stacks/placement.py); new ones where there
        # is room. The first stack also holds the alerts for all of them.
        self.placement = place_secrets(application, environment, recorded_placement or {})
        self.secrets_stacks = [
            SecretsStack(
                self,
                stack_id,
                application=application,
                environment=environment,
                secrets=[s for s in environment.secrets if self.placement[s.purpose] == stack_id],
                secrets_key=self.keys.secrets_key,
                network=self.network,
                removal_policy=removal_policy,
                description=f"Strongbox {environment.name}: Secrets Manager secrets"
                + (f" ({stack_id})" if stack_id != "Secrets" else ""),
            )
            for stack_id in stack_order(self.placement)
        ]
        self.secrets = self.secrets_stacks[0]
        self.secrets.add_alerts(
            application,
            [f for stack in self.secrets_stacks for f in stack.rotation_functions.values()],
        )
        self.managed_secrets = {
            purpose: managed
            for stack in self.secrets_stacks
            for purpose, managed in stack.secrets.items()
        }
        # Parameters the same way: each in the Parameters stack recorded for it, each stack a
        # ParameterTree of the same path with a SecureString provider of its own.
        self.parameter_placement = placed = place_parameters(
            application, environment, recorded_parameter_placement or {}
        )
        self.parameters_stacks = [
            ParametersStack(
                self,
                stack_id,
                application=application,
                environment=environment,
                parameters=[p for p in environment.parameters if placed[p.name] == stack_id],
                secrets_key=self.keys.secrets_key,
                network=self.network,
                secrets=self.managed_secrets,
                removal_policy=removal_policy,
                description=f"Strongbox {environment.name}: Parameter Store hierarchy"
                + (f" ({stack_id})" if stack_id != "Parameters" else ""),
            )
            for stack_id in PARAMETERS.order(placed)
        ]
        self.parameter_trees = {
            name: stack.tree for stack in self.parameters_stacks for name in stack.tree.parameters
        }
        workload = environment.workload
        self.database = (
            DatabaseStack(
                self,
                "Database",
                application=application,
                environment=environment,
                secrets_key=self.keys.secrets_key,
                network=self.network,
                secrets=self.managed_secrets,
                removal_policy=removal_policy,
                description=f"Strongbox {environment.name}: the workload's PostgreSQL",
            )
            if workload and workload.database
            else None
        )
        self.workload = (
            WorkloadStack(
                self,
                "Workload",
                application=application,
                environment=environment,
                secrets_key=self.keys.secrets_key,
                network=self.network,
                secrets=self.managed_secrets,
                parameters=self.parameter_trees,
                database=self.database,
                removal_policy=removal_policy,
                description=f"Strongbox {environment.name}: the workload's service, function "
                "and instance profile",
            )
            if workload
            else None
        )
        # Secrets Manager needs each replica key to exist before it can replicate into its region.
        for replica_keys in self.replica_keys:
            for secrets_stack in self.secrets_stacks:
                secrets_stack.add_stack_dependency(replica_keys)
        self.detection = (
            DetectionStack(
                self,
                "Detection",
                application=application,
                environment=environment,
                secrets_key=self.keys.secrets_key,
                alerts=self.secrets.alerts,
                secrets=list(self.managed_secrets.values()),
                description=f"Strongbox {environment.name}: AWS Config rules for the Security "
                "Hub controls, their alerts"
                + (" and the Config recorder" if environment.detection.create_recorder else ""),
            )
            if environment.config_rules
            else None
        )
        if self.detection is not None:
            for secrets_stack in self.secrets_stacks:
                self.detection.add_stack_dependency(secrets_stack)
        stacks = (
            self.keys,
            *self.replica_keys,
            self.network,
            *self.secrets_stacks,
            *self.parameters_stacks,
            *([self.detection] if self.detection else []),
        )
        optional = [stack for stack in (self.database, self.workload) if stack is not None]
        for stack in (*stacks, *optional):
            # Outside dev a stack is deleted only after someone turns this off on purpose.
            stack.termination_protection = not environment.is_development
            cdk.Tags.of(stack).add("Application", application)
            cdk.Tags.of(stack).add("Environment", environment.name)


def _check_alert_pattern(
    application: str, environment: EnvironmentConfig, recorded: Mapping[str, str]
) -> None:
    """Refuses `alerts.allowed_readers` that, with the roles Strongbox adds, make the
    unexpected-read rule's pattern longer than EventBridge takes. Config counts the rotation
    functions of a new placement; each Secrets stack has its own, so the rule is measured again
    here with the recorded placement. Before any stack is built, so nothing is written."""
    functions = rotation_functions(application, environment, recorded)
    size, roles = alert_pattern_size(application, environment, len(functions))
    if size > EVENT_PATTERN_LIMIT:
        stacks = len({stack for stack, _ in functions})
        raise ConfigError(
            f"environments.{environment.name}.alerts.allowed_readers",
            f"the unexpected-read rule would name {roles} roles ({len(functions)} of them "
            f"rotation functions, one a generation in each of {stacks} Secrets stacks) in a "
            f"pattern of {size:,} characters, over EventBridge's {EVENT_PATTERN_LIMIT:,}; list "
            "fewer roles (or raise the quota and the limit together)",
        )
