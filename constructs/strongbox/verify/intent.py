"""What one stage of the cloud assembly intends: its stacks, secrets, roles and who reads what."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strongbox.assembly.resolver import (
    AssemblyError,
    Resolver,
    Stack,
    generated_name,
    key_arn,
    read_assembly,
    secret_id_arn,
)
from strongbox.report.inventory import AWS_MANAGED_KEY, environments

MANDATORY_TAGS = ("Environment", "Application", "Component", "Owner", "SecretKind")


@dataclass(frozen=True)
class IntendedReplica:
    region: str
    key: str | None  # the replica's key ARN (placeholders for generated ids); None: AWS managed


@dataclass(frozen=True)
class IntendedRotation:
    schedule: str  # "rate(30 days)", "cron(...)", or "rate(N days)" from AutomaticallyAfterDays
    window: str | None  # the rotation window (RotationRules.Duration, e.g. "4h"), when set


@dataclass(frozen=True)
class IntendedSecret:
    """One secret as the assembly declares it, values resolved offline (generated physical ids
    are placeholders that the live account's stack resources replace)."""

    name: str
    stack: Stack = field(repr=False)
    logical_id: str
    arn: str  # the resolver's ARN, which the who-can-read matrix names
    region: str
    account: str
    key: str | None  # key ARN; None: the AWS managed key aws/secretsmanager
    key_aliases: tuple[str, ...]  # alias names (alias/...) the assembly gives that key
    tags: Mapping[str, str]
    replicas: tuple[IntendedReplica, ...]
    rotation: IntendedRotation | None
    policy: tuple[Mapping[str, Any], ...]  # resource policy statements
    readers: frozenset[str]  # ARNs of the stage's roles that the matrix lets read it


@dataclass(frozen=True)
class IntendedRole:
    arn: str  # with a placeholder for a name CloudFormation generates
    stack: Stack = field(repr=False)
    logical_id: str


@dataclass(frozen=True)
class Intent:
    """One stage (`Strongbox-<Env>`) of the assembly, as `strongbox verify` compares it."""

    stage: str
    account: str
    stacks: tuple[Stack, ...] = field(repr=False)
    secrets: tuple[IntendedSecret, ...]
    roles: tuple[IntendedRole, ...]
    # Placeholder text the resolver writes for a physical id -> (stack name, region, logical id).
    placeholders: Mapping[str, tuple[str, str, str]] = field(repr=False)

    @property
    def primary_region(self) -> str:
        """The region of the stage's secrets (else of its first stack)."""
        regions = [secret.region for secret in self.secrets] or [self.stacks[0].region]
        return regions[0]


def stage_name(environment: str) -> str:
    """`prod` -> `Strongbox-Prod`, `eu-prod` -> `Strongbox-Eu-Prod` (as the app names stages)."""
    return "Strongbox-" + "-".join(part.capitalize() for part in environment.split("-"))


def read_intent(assembly: Path, environment: str) -> Intent:
    """The stage of `environment` in the assembly directory `assembly`; AssemblyError (one line)
    when the assembly has no such stage or the stage spans several accounts."""
    resolver = Resolver(read_assembly(assembly))
    stage = stage_name(environment)
    stacks = tuple(stack for stack in resolver.stacks if stack.environment == stage)
    if not stacks:
        known = sorted({stack.environment for stack in resolver.stacks})
        raise AssemblyError(
            f"--env {environment}: the assembly {assembly} has no stage {stage} "
            f"(stages: {', '.join(known)})"
        )
    accounts = sorted({stack.account for stack in stacks})
    if len(accounts) != 1 or not accounts[0].isdigit():
        raise AssemblyError(
            f"{stage}: its stacks deploy to {', '.join(accounts)}; verify needs one account"
        )
    (inventory,) = (part for part in environments(resolver) if part.name == stage)
    rotations = _rotations(resolver, stacks)
    policies = _resource_policies(resolver, stacks)
    aliases = {key.arn: key.aliases for key in inventory.keys}
    secrets = []
    for secret in inventory.secrets:
        stack = next(s for s in stacks if s.display_name == secret.stack)
        properties = stack.resources[secret.logical_id].get("Properties", {})
        key = (
            key_arn(stack, resolver.text(stack, properties["KmsKeyId"]))
            if "KmsKeyId" in properties
            else None
        )
        secrets.append(
            IntendedSecret(
                name=secret.name,
                stack=stack,
                logical_id=secret.logical_id,
                arn=secret.arn,
                region=secret.region,
                account=secret.account,
                key=key,
                key_aliases=aliases.get(key, ()) if key else (),
                tags=dict(secret.tags),
                replicas=tuple(
                    IntendedReplica(
                        region=replica.region,
                        key=None if replica.key == AWS_MANAGED_KEY else replica.key,
                    )
                    for replica in secret.replicas
                ),
                rotation=rotations.get(secret.arn),
                policy=tuple(policies.get(secret.arn, ())),
                readers=frozenset(
                    reader.principal for reader in secret.readers if reader.kind == "role"
                ),
            )
        )
    roles = tuple(
        sorted(
            (
                IntendedRole(
                    arn=resolver.text(stack, {"Fn::GetAtt": [logical_id, "Arn"]}),
                    stack=stack,
                    logical_id=logical_id,
                )
                for stack in stacks
                for logical_id, _ in stack.of_type("AWS::IAM::Role")
            ),
            key=lambda role: role.arn,
        )
    )
    return Intent(
        stage=stage,
        account=accounts[0],
        stacks=stacks,
        secrets=tuple(secrets),
        roles=roles,
        placeholders=_placeholders(resolver, stacks),
    )


def _rotations(resolver: Resolver, stacks: Sequence[Stack]) -> dict[str, IntendedRotation]:
    found = {}
    for stack in stacks:
        for _, properties in stack.of_type("AWS::SecretsManager::RotationSchedule"):
            rules = resolver.resolve(stack, properties.get("RotationRules", {}))
            if not isinstance(rules, dict):
                continue
            schedule = rules.get("ScheduleExpression")
            if schedule is None and "AutomaticallyAfterDays" in rules:
                schedule = f"rate({rules['AutomaticallyAfterDays']} days)"
            if schedule is None:
                continue  # rotation on demand only: nothing to hold its age to
            secret = secret_id_arn(stack, resolver.text(stack, properties.get("SecretId")))
            window = rules.get("Duration")
            found[secret] = IntendedRotation(str(schedule), None if window is None else str(window))
    return found


def _resource_policies(
    resolver: Resolver, stacks: Sequence[Stack]
) -> dict[str, list[Mapping[str, Any]]]:
    found: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for stack in stacks:
        for _, properties in stack.of_type("AWS::SecretsManager::ResourcePolicy"):
            secret = secret_id_arn(stack, resolver.text(stack, properties.get("SecretId")))
            document = resolver.resolve(stack, properties.get("ResourcePolicy", {}))
            statements = document.get("Statement", []) if isinstance(document, dict) else []
            listed = [statements] if isinstance(statements, dict) else statements
            found[secret].extend(s for s in listed if isinstance(s, dict))
    return found


def _placeholders(resolver: Resolver, stacks: Sequence[Stack]) -> dict[str, tuple[str, str, str]]:
    """Every text the resolver writes for a physical id that only the deployment knows."""
    found: dict[str, tuple[str, str, str]] = {}
    for stack in stacks:
        for logical_id, resource in stack.resources.items():
            where = (stack.stack_name, stack.region, logical_id)
            found[generated_name(stack, logical_id)] = where
            found[f"{stack.stack_name}.{logical_id}"] = where
            if resource.get("Type") == "AWS::KMS::Key":
                found[str(resolver.resolve(stack, {"Ref": logical_id}))] = where
    return found
