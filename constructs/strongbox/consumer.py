"""SecretConsumer: one workload's access to exactly the secrets and parameters it uses."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import aws_cdk as cdk
import jsii
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_ssm as ssm

from constructs import Construct, IValidation
from strongbox.access.calls import Call, parameter_read, secret_read
from strongbox.errors import StrongboxError
from strongbox.keys import in_another_account
from strongbox.parameter_tree import ParameterTree
from strongbox.secrets import ManagedSecret
from strongbox.signature import shows_init_signature

# IAM's limit for a customer-managed policy (characters, whitespace excluded).
MANAGED_POLICY_LIMIT = 6144
# IAM's default quota of managed policies attached to one role (20 on request).
ROLE_MANAGED_POLICY_QUOTA = 10
POLICY_BUDGET = MANAGED_POLICY_LIMIT - 200  # the policy document's own framing
# What a rendered secret ARN adds beyond its name: "arn:aws:secretsmanager:<region>:<12>:secret:"
# (at most ~60 characters), the "-XXXXXX" suffix, quotes and a comma.
ARN_OVERHEAD = 75
STATEMENT_OVERHEAD = 150  # Effect, Action, Condition and punctuation of one statement
KEY_ARN_SIZE = 95  # "arn:aws:kms:<region>:<12>:key/<uuid or mrk-...>", quotes and a comma
# Lambda's limit for all environment variables of a function (names and values, in bytes);
# the extension's own settings take about 400 of them.
LAMBDA_ENVIRONMENT_LIMIT = 4096
LAMBDA_ENVIRONMENT_BUDGET = LAMBDA_ENVIRONMENT_LIMIT - 600
T = TypeVar("T")
_ENV_VAR = re.compile(r"^[A-Z_][A-Z0-9_]*\Z")  # \Z: "$" would let a final newline through


@dataclass(frozen=True)
class SecretUse:
    """A workload reads `secret` (its JSON `field`, at `version_stage`) into `env_var`."""

    env_var: str
    secret: ManagedSecret
    field: str | None = None
    version_stage: str | None = None


@dataclass(frozen=True)
class ParameterUse:
    """A workload reads parameter `name` of `tree` into `env_var`."""

    env_var: str
    tree: ParameterTree
    name: str


@shows_init_signature
class SecretConsumer(Construct):
    """Customer-managed policies that let a role read exactly the secrets and parameters a
    workload uses, in the primary region, and nothing else:

    - secretsmanager:GetSecretValue on the complete secret ARNs, one statement per version
      stage (a stage-pinned use is conditioned on `secretsmanager:VersionStage`);
    - kms:Decrypt on exactly the keys involved, through Secrets Manager or SSM only;
    - ssm:GetParameter and ssm:GetParameters on the exact parameter ARNs (ECS uses the
      second; the Lambda extension and most SDK code the first).

    Statements are consolidated (one per service and condition, not one per secret) and split
    into as many managed policies as IAM's 6,144-character limit needs; a statement naming more
    secrets or parameters than one policy holds is split too. A consumer in another
    stack than a `ParameterTree` it reads makes its stack depend on the tree's.

    Attributes:
        policies: the `iam.ManagedPolicy` objects; attach them with `attach_to`.
        secrets, parameters: the uses, as given.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        secrets: Sequence[SecretUse] = (),
        parameters: Sequence[ParameterUse] = (),
    ) -> None:
        super().__init__(scope, id_)
        names = [use.env_var for use in secrets] + [use.env_var for use in parameters]
        for name in names:
            if not _ENV_VAR.match(name):
                raise ValueError(f"env_var {name!r} must be upper-case letters, digits and '_'")
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"env_var used twice: {', '.join(duplicates)}")
        for use in secrets:  # a wrong field or stage fails here, at synth
            use.secret.read_statements(field=use.field, version_stage=use.version_stage)
        self.secrets = tuple(secrets)
        self.parameters = tuple(parameters)
        for tree in {id(use.tree): use.tree for use in parameters}.values():
            _deploy_after(self, tree)
        region = cdk.Stack.of(self).region

        # (statement, estimated rendered size): the size decides how statements share policies.
        statements: list[tuple[iam.PolicyStatement, int]] = []
        by_stage: dict[str | None, list[ManagedSecret]] = {}
        for use in secrets:
            group = by_stage.setdefault(use.version_stage, [])
            if use.secret not in group:
                group.append(use.secret)
        for stage, group in by_stage.items():
            for chunk in _chunks(group):
                statements.append(
                    (
                        iam.PolicyStatement(
                            actions=["secretsmanager:GetSecretValue"],
                            resources=[secret.secret_arns()[0] for secret in chunk],
                            conditions={"StringEquals": {"secretsmanager:VersionStage": stage}}
                            if stage
                            else None,
                        ),
                        STATEMENT_OVERHEAD + sum(_arn_size(secret) for secret in chunk),
                    )
                )
        parameter_arns = sorted({p.tree.parameter_arn(p.name) for p in parameters})
        for arns in _pack(parameter_arns, _parameter_arn_size):
            statements.append(
                (
                    iam.PolicyStatement(
                        actions=["ssm:GetParameter", "ssm:GetParameters"], resources=arns
                    ),
                    STATEMENT_OVERHEAD + sum(_parameter_arn_size(arn) for arn in arns),
                )
            )
        decrypt: dict[str, list[str]] = {}
        for secret in {id(use.secret): use.secret for use in secrets}.values():
            _add_once(decrypt, f"secretsmanager.{region}.amazonaws.com", secret.key_arns()[0])
        for parameter in parameters:
            if parameter.tree.is_secure_string(parameter.name):
                key_arn = parameter.tree.encryption_key.key_arn
                _add_once(decrypt, f"ssm.{region}.amazonaws.com", key_arn)
        for service, keys in sorted(decrypt.items()):
            statements.append(
                (
                    iam.PolicyStatement(
                        actions=["kms:Decrypt"],
                        resources=keys,
                        conditions={"StringEquals": {"kms:ViaService": service}},
                    ),
                    STATEMENT_OVERHEAD + KEY_ARN_SIZE * len(keys),
                )
            )
        self.policies = [
            iam.ManagedPolicy(self, f"Policy{index}" if index else "Policy", statements=batch)
            for index, batch in enumerate(_batches(statements))
        ]
        self._attached = False
        self.node.add_validation(_AttachedToARole(self))

    def attach_to(self, role: iam.IRole) -> None:
        """Attach the policies to `role`, the role that reads the values: an ECS task's execution
        role, a function's role, an instance role. A role created in this app lists them; any
        other (its `without_policy_updates()` view, an imported role of this account), which
        would drop them silently, is named in each policy's `Roles` instead. Until this is
        called, synth fails: policies attached to nothing grant nothing."""
        if in_another_account(self, role.principal_account):
            raise StrongboxError(
                self,
                f"attach_to: the role is in account {role.principal_account}, not "
                f"{cdk.Stack.of(self).account}; a role in another account reads through "
                "cross_account_readers and its own policies",
            )
        if len(self.policies) > ROLE_MANAGED_POLICY_QUOTA:
            raise StrongboxError(
                self,
                f"attach_to: {len(self.secrets)} secrets and {len(self.parameters)} parameters "
                f"need {len(self.policies)} managed policies, over the "
                f"{ROLE_MANAGED_POLICY_QUOTA} IAM attaches to one role by default; split the "
                "workload's values across consumers with roles of their own",
            )
        for policy in self.policies:
            if isinstance(role, iam.Role):
                role.add_managed_policy(policy)
            else:
                policy.attach_to_role(role)
        self._attached = True

    def declared_calls(
        self, *, parameter_actions: Sequence[str], endpoints: bool = True
    ) -> tuple[Call, ...]:
        """The reads a workload makes of its values, for `strongbox.access.declare_runtime`:
        GetSecretValue (naming the stage when pinned) and each of `parameter_actions`, through
        the VPC's endpoints when `endpoints`, with the kms:Decrypt Secrets Manager or Parameter
        Store makes for them."""
        calls: list[Call] = []
        # One read per secret and stage, however many fields (env vars) it fills.
        reads: dict[tuple[int, str | None], list[SecretUse]] = {}
        for use in self.secrets:
            reads.setdefault((id(use.secret), use.version_stage), []).append(use)
        for (_, stage), uses in reads.items():
            secret = uses[0].secret
            calls += secret_read(
                secret.secret_arns()[0],
                secret.key_arns()[0],
                endpoint="secretsmanager" if endpoints else None,
                version_stage=stage,
                purpose=f"read {secret.secret_name} into {', '.join(u.env_var for u in uses)}",
            )
        for parameter in self.parameters:
            tree, name = parameter.tree, parameter.name
            key = tree.encryption_key.key_arn if tree.is_secure_string(name) else None
            for number, action in enumerate(parameter_actions):
                calls += parameter_read(
                    tree.parameter_arn(name),
                    key if number == 0 else None,
                    endpoint="ssm" if endpoints else None,
                    action=action,
                    purpose=f"read {tree.path}{name} into {parameter.env_var}",
                )
        return tuple(calls)

    def ecs_secrets(self) -> dict[str, ecs.Secret]:
        """The task definition's `secrets` block: env var -> secret (field, stage) or parameter.

        Apply it to a task definition whose execution role gets this consumer's policies and is
        otherwise immutable (`role.without_policy_updates()`): ecs.Secret would grant more.
        """
        mapping: dict[str, ecs.Secret] = {}
        for use in self.secrets:
            mapping[use.env_var] = (
                ecs.Secret.from_secrets_manager_version(
                    use.secret.secret,
                    ecs.SecretVersionInfo(version_stage=use.version_stage),
                    field=use.field,
                )
                if use.version_stage
                else ecs.Secret.from_secrets_manager(use.secret.secret, field=use.field)
            )
        for parameter_use in self.parameters:
            tree, name = parameter_use.tree, parameter_use.name
            construct_id = f"Parameter{parameter_use.env_var}"
            parameter = (
                ssm.StringParameter.from_secure_string_parameter_attributes(
                    self, construct_id, parameter_name=tree.path + name
                )
                if tree.is_secure_string(name)
                else ssm.StringParameter.from_string_parameter_name(
                    self, construct_id, tree.path + name
                )
            )
            mapping[parameter_use.env_var] = ecs.Secret.from_ssm_parameter(parameter)
        return mapping

    def lambda_environment(self) -> dict[str, str]:
        """Environment variables that tell a function where each of its values lives, never a
        value: `<NAME>_SECRET_ARN` (with `<NAME>_SECRET_FIELD` and `<NAME>_SECRET_STAGE` when
        set) per secret and `<NAME>_PARAMETER_NAME` per parameter. The handler in
        strongbox/reader reads them through the Parameters and Secrets extension.

        Raises ValueError when they would not fit Lambda's 4 KB environment.
        """
        variables: dict[str, str] = {}
        size = 0
        for use in self.secrets:
            variables[f"{use.env_var}_SECRET_ARN"] = use.secret.secret_arns()[0]
            size += len(use.env_var) + 11 + ARN_OVERHEAD + len(use.secret.secret_name)
            for suffix, value in (("FIELD", use.field), ("STAGE", use.version_stage)):
                if value:
                    variables[f"{use.env_var}_SECRET_{suffix}"] = value
                    size += len(use.env_var) + 14 + len(value)
        for parameter in self.parameters:
            name = parameter.tree.path + parameter.name
            variables[f"{parameter.env_var}_PARAMETER_NAME"] = name
            size += len(parameter.env_var) + 15 + len(name)
        if size > LAMBDA_ENVIRONMENT_BUDGET:
            raise ValueError(
                f"{len(self.secrets)} secrets and {len(self.parameters)} parameters need about "
                f"{size} bytes of environment, over the {LAMBDA_ENVIRONMENT_BUDGET} left of "
                f"Lambda's {LAMBDA_ENVIRONMENT_LIMIT}; split the function or read a parameter "
                "that lists them"
            )
        return variables


@jsii.implements(IValidation)
class _AttachedToARole:
    def __init__(self, consumer: SecretConsumer) -> None:
        self._consumer = consumer

    def validate(self) -> list[str]:
        consumer = self._consumer
        if consumer._attached or not consumer.policies:
            return []
        return [
            "SecretConsumer is attached to no role, so the workload could not read its values: "
            "call attach_to(role) with the role that reads them (for ECS, TaskExecutionRole "
            "does it)"
        ]


def _deploy_after(consumer: Construct, tree: ParameterTree) -> None:
    """The policies, the ECS `secrets` block and a function's environment name the tree's
    parameters by literal ARN or name, which CloudFormation does not see as a reference: without
    a stack dependency, `cdk deploy --concurrency` or `-e` could start tasks before their
    parameters exist, and `cdk destroy` could delete the parameters first."""
    stack, owner = cdk.Stack.of(consumer), cdk.Stack.of(tree)
    if stack.node.path != owner.node.path:
        stack.add_stack_dependency(
            owner, f"{consumer.node.path} names parameters of {tree.node.path}"
        )


def _add_once(groups: dict[str, list[str]], key: str, value: str) -> None:
    group = groups.setdefault(key, [])
    if value not in group:
        group.append(value)


def _arn_size(secret: ManagedSecret) -> int:
    return len(secret.secret_name) + ARN_OVERHEAD


def _parameter_arn_size(arn: str) -> int:
    # Its quotes and a comma; an unresolved region or account counts at its token's length,
    # longer than the value it stands for.
    return len(arn) + 3


def _chunks(secrets: Sequence[ManagedSecret]) -> list[list[ManagedSecret]]:
    """Secrets in groups whose rendered ARNs fit one managed policy."""
    return _pack(secrets, _arn_size)


def _pack(items: Sequence[T], size_of: Callable[[T], int]) -> list[list[T]]:
    """`items` in order, in groups whose sizes add up to at most one policy's budget."""
    groups: list[list[T]] = [[]]
    size = 0
    for item in items:
        if groups[-1] and size + size_of(item) > POLICY_BUDGET:
            groups.append([])
            size = 0
        groups[-1].append(item)
        size += size_of(item)
    return [group for group in groups if group]


def fewest_policies(secret_names: Sequence[str]) -> int:
    """The fewest managed policies a consumer of these secrets (by name) takes: their
    GetSecretValue statements alone, packed as the construct packs them. The construct adds its
    key and parameter statements, so it may take more, never fewer."""
    return len(_pack(secret_names, lambda name: len(name) + ARN_OVERHEAD))


def _batches(
    statements: Sequence[tuple[iam.PolicyStatement, int]],
) -> list[list[iam.PolicyStatement]]:
    """Statements in groups whose estimated rendered size fits one managed policy."""
    return [[statement for statement, _ in group] for group in _pack(statements, lambda s: s[1])]
