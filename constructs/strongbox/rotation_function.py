"""RotationFunction: a hardened four-step rotation Lambda for secrets without hosted rotation."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_

from constructs import Construct
from strongbox.access.calls import Call, Runtime
from strongbox.access.declare import declare_runtime
from strongbox.consumer import ARN_OVERHEAD, KEY_ARN_SIZE, POLICY_BUDGET, ROLE_MANAGED_POLICY_QUOTA
from strongbox.errors import StrongboxError
from strongbox.keys import KeyLike
from strongbox.private_function import PrivateFunction, bundled_code
from strongbox.rotation.calls import CALLS
from strongbox.secrets import Generation, ManagedSecret, RotationSchedule, StatementParts
from strongbox.signature import shows_init_signature

HANDLER_DIRECTORY = Path(__file__).parent / "rotation"
# What any other reference in the role's statements renders as at most: the ARN of a resource
# whose name CloudFormation generates (the function's log group, its dead-letter queue).
GENERATED_ARN_SIZE = 200


@shows_init_signature
class RotationFunction(PrivateFunction):
    """The four-step rotation Lambda (createSecret, setSecret, testSecret, finishSecret), a
    `PrivateFunction` whose policies can rotate exactly the secrets given to `rotate` (plus
    GetRandomPassword, which has no resource).

    The grants are consolidated (one statement per action set and condition, not one per
    secret) and spread over as many managed policies of the role as IAM's 6,144-character limit
    needs: `policy` first, then `Policy1`, `Policy2`, ... `rotate` refuses a secret that would
    need more than the 10 IAM attaches to one role by default.

    The built-in strategy is "token": a new random value from GetRandomPassword with the
    `generation` options (for a json secret, only `json_field` changes); the old value stays
    valid as AWSPREVIOUS. For another strategy, pass `code` holding handler.py next to your
    module and `strategy="module:Class"` (see strongbox/rotation/handler.py).

    Attributes:
        policies: every managed policy of the role: `policy` (the function's own logs,
            network and queue statements, then the first secrets' grants) first.
        generation, json_field: what the function generates, as given.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        vpc: ec2.IVpc,
        vpc_subnets: ec2.SubnetSelection,
        vpc_cidr: str,
        encryption_key: KeyLike,
        generation: Generation | None = None,
        json_field: str | None = None,
        strategy: str = "token",
        strategy_modules: Path | None = None,
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
            generation: token length and character rules; pass the secret's resolved options
                (`ManagedSecret.generation`). Default: 40 letters and digits.
            json_field: for json secrets, the field that is regenerated. Default: the whole
                secret string is the token.
            strategy: "token" or "module:attribute" of a strategy in `strategy_modules`.
                Default: "token".
            strategy_modules: a directory of your Python modules, shipped beside Strongbox's
                handler; `strategy`'s module must be one of them (`my_vendor:VendorKeyStrategy`
                -> `<directory>/my_vendor.py`). Default: none.
            code: the whole Lambda code instead, handler included (`handler.lambda_handler`).
                Default: Strongbox's handler, with `strategy_modules` when given.
            reserved_concurrency: Default: 2 (rotations of one secret run one step at a time).
            removal_policy: for the log group. Default: RETAIN.
        """
        if code is None:
            code = _handler_code(scope, id_, strategy, strategy_modules)
        generation = (generation or Generation()).resolved("api-key")
        region = cdk.Stack.of(scope).region
        url_suffix = cdk.Stack.of(scope).url_suffix
        self.generation = generation
        self.json_field = json_field
        super().__init__(
            scope,
            id_,
            description="Strongbox four-step secret rotation",
            code=code,
            environment={
                # Private DNS on the interface endpoint resolves this name inside the VPC.
                "SECRETS_MANAGER_ENDPOINT": f"https://secretsmanager.{region}.{url_suffix}",
                "ROTATION_STRATEGY": strategy,
                "TOKEN_LENGTH": str(generation.length),
                "TOKEN_EXCLUDE_CHARACTERS": generation.exclude_characters or "",
                "TOKEN_EXCLUDE_PUNCTUATION": str(bool(generation.exclude_punctuation)).lower(),
                "TOKEN_FIELD": json_field or "",
            },
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            vpc_cidr=vpc_cidr,
            encryption_key=encryption_key,
            unscoped_actions=["secretsmanager:GetRandomPassword"],
            unscoped_reason="secretsmanager:GetRandomPassword, which has no resource",
            reserved_concurrency=reserved_concurrency,
            removal_policy=removal_policy,
        )
        self.policies = [self.policy]
        self._rotated = 0  # secrets given to `rotate`
        self._grants = [_Grants(self.policy, _rendered_size(self.policy.document.to_json(), {}))]

    def rotate(self, secret: ManagedSecret, schedule: RotationSchedule) -> None:
        """Rotate `secret` on `schedule`: grants, an invoke permission for Secrets Manager
        limited to this account and this secret, and the rotation schedule. The secret's
        generation options must be this function's, or rotation would change its format."""
        if secret.generation != self.generation or secret.generated_field != self.json_field:
            raise ValueError(
                f"{secret.secret_name} generates {secret.generation} into "
                f"{secret.generated_field!r}; this function rotates {self.generation} into "
                f"{self.json_field!r}"
            )
        stack = cdk.Stack.of(self)
        secret_arn = secret.secret_arns()[0]
        grants = self._grant(secret)
        permission = lambda_.CfnPermission(
            self,
            f"InvokeFor{secret.node.id}",
            action="lambda:InvokeFunction",
            function_name=self.function.function_arn,
            principal="secretsmanager.amazonaws.com",
            source_account=stack.account,
            source_arn=secret_arn,
        )
        rotation_schedule = secret.add_rotation_schedule(
            schedule=schedule, rotation_lambda=self.function
        )
        # Secrets Manager invokes the function as soon as the schedule exists (rotate
        # immediately): the invoke permission must already be in place.
        rotation_schedule.add_resource_dependency(permission)
        if grants.policy is not self.policy:  # the function already waits for its own policy
            rotation_schedule.node.add_dependency(grants.policy)
        declare_runtime(
            self,
            Runtime(
                name="rotation function",
                kind="role",
                principal=self.role.role_arn,
                calls=secret.rotation_calls(CALLS, purpose=f"rotate {secret.secret_name}"),
            ),
        )
        declare_runtime(
            self,
            Runtime(
                name=f"Secrets Manager rotating {secret.secret_name}",
                kind="service",
                principal="secretsmanager.amazonaws.com",
                calls=(
                    Call(
                        "lambda:InvokeFunction",
                        self.function.function_arn,
                        purpose=f"rotate {secret.secret_name}",
                    ),
                ),
                source={
                    "aws:SourceArn": secret_arn,
                    "aws:SourceAccount": stack.account,
                },
            ),
        )

    def _grant(self, secret: ManagedSecret) -> _Grants:
        """Add `secret.rotation_statements()` to the last policy, or to a new one when they would
        not fit it; return the policy's grants."""
        statements = secret.rotation_parts()
        sizes = {secret.secret_arns()[0]: ARN_OVERHEAD + len(secret.secret_name)}
        sizes.update((key_arn, KEY_ARN_SIZE) for key_arn in secret.key_arns())
        grants = self._grants[-1]
        if grants.size + grants.added_size(statements, sizes) > POLICY_BUDGET:
            if len(self.policies) == ROLE_MANAGED_POLICY_QUOTA:
                raise StrongboxError(
                    self,
                    f"rotate {secret.secret_name}: the grants of {self._rotated + 1} secrets "
                    f"need more than the {ROLE_MANAGED_POLICY_QUOTA} managed policies IAM "
                    "attaches to one role by default; rotate the rest with another "
                    "RotationFunction",
                )
            policy = iam.ManagedPolicy(self, f"Policy{len(self.policies)}", roles=[self.role])
            self.policies.append(policy)
            grants = _Grants(policy, _rendered_size(policy.document.to_json() or {}, {}))
            self._grants.append(grants)
        grants.add(statements, sizes)
        self._rotated += 1
        return grants


@dataclass
class _Grants:
    """One managed policy of a rotation function's role, its statements by everything but their
    resources (so a secret's grants join the statements already there) with the resources each
    holds, and its estimated rendered size. Kept in Python: reading a statement back from jsii
    is a round trip per read."""

    policy: iam.ManagedPolicy
    size: int
    statements: dict[str, tuple[iam.PolicyStatement, list[str]]] = field(default_factory=dict)

    def added_size(self, statements: Sequence[StatementParts], sizes: Mapping[str, int]) -> int:
        """What `add(statements)` would add to the rendered policy, at most."""
        added = 0
        for actions, resources, conditions in statements:
            existing = self.statements.get(_shape(actions, conditions))
            if existing is None:
                # Rendered with its resources as a list, as it will be once a second joins.
                added += _rendered_size(_statement_json(actions, conditions), sizes) + 1
                existing_resources: list[str] = []
            else:
                existing_resources = existing[1]
            added += sum(
                _rendered_size(resource, sizes) + 1
                for resource in dict.fromkeys(resources)
                if resource not in existing_resources
            )
        return added

    def add(self, statements: Sequence[StatementParts], sizes: Mapping[str, int]) -> None:
        """Add `statements` to the policy, each joining a statement of its shape if any."""
        self.size += self.added_size(statements, sizes)
        for actions, resources, conditions in statements:
            shape = _shape(actions, conditions)
            existing = self.statements.get(shape)
            if existing is None:
                statement = iam.PolicyStatement(
                    actions=actions, resources=resources, conditions=conditions
                )
                self.statements[shape] = (statement, list(dict.fromkeys(resources)))
                self.policy.add_statements(statement)
            else:
                statement, held = existing
                new = [r for r in dict.fromkeys(resources) if r not in held]
                if new:
                    statement.add_resources(*new)
                    held.extend(new)


def _statement_json(actions: Sequence[str], conditions: Mapping[str, Any] | None) -> dict[str, Any]:
    """An Allow statement as PolicyStatement.to_statement_json() renders it, resources empty."""
    unique = list(dict.fromkeys(actions))
    json_: dict[str, Any] = {"Action": unique[0] if len(unique) == 1 else unique}
    if conditions:
        json_["Condition"] = conditions
    return {**json_, "Effect": "Allow", "Resource": []}


def _shape(actions: Sequence[str], conditions: Mapping[str, Any] | None) -> str:
    """A statement's actions and conditions (every statement here allows): statements of one
    shape merge."""
    return json.dumps([sorted(set(actions)), conditions or {}], sort_keys=True, default=str)


def _rendered_size(value: Any, sizes: Mapping[str, int]) -> int:
    """Characters of `value`, part of a policy document with its tokens unresolved, as IAM
    counts it once deployed (compact JSON): a string of `sizes` at its size, any other token at
    GENERATED_ARN_SIZE."""
    if isinstance(value, str):
        if value in sizes:
            return sizes[value]
        return GENERATED_ARN_SIZE if cdk.Token.is_unresolved(value) else len(json.dumps(value))
    if isinstance(value, Mapping):
        items = [len(json.dumps(str(k))) + 1 + _rendered_size(v, sizes) for k, v in value.items()]
        return 2 + sum(items) + max(len(items) - 1, 0)
    if isinstance(value, list | tuple):
        items = [_rendered_size(item, sizes) for item in value]
        return 2 + sum(items) + max(len(items) - 1, 0)
    if value is None or isinstance(value, bool | int | float):
        return len(json.dumps(value))
    return GENERATED_ARN_SIZE  # an unresolved intrinsic object


def _handler_code(
    scope: Construct, id_: str, strategy: str, strategy_modules: Path | None
) -> lambda_.Code:
    """Strongbox's handler, with the modules of `strategy_modules` beside it when given.

    Refuses a strategy whose module would be missing: the handler would import it only when a
    rotation runs, and fail every rotation."""
    module = strategy.partition(":")[0]
    if strategy_modules is None:
        if strategy != "token":
            raise StrongboxError(
                scope,
                f"{id_}: strategy {strategy!r} needs strategy_modules, the directory holding "
                f"{module}.py (or code with the whole handler)",
            )
        return bundled_code(HANDLER_DIRECTORY)
    top = module.split(".")[0]
    if not ((strategy_modules / f"{top}.py").is_file() or (strategy_modules / top).is_dir()):
        raise StrongboxError(
            scope,
            f"{id_}: strategy_modules {strategy_modules} has no {top}.py for strategy {strategy!r}",
        )
    staged = Path(tempfile.mkdtemp(prefix="strongbox-rotation-"))
    shutil.copytree(HANDLER_DIRECTORY, staged, dirs_exist_ok=True)
    shutil.copytree(strategy_modules, staged, dirs_exist_ok=True)
    return bundled_code(staged)
