"""RotationFunction: a hardened four-step rotation Lambda for secrets without hosted rotation."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_

from constructs import Construct
from strongbox.access.calls import Call, Runtime
from strongbox.access.declare import declare_runtime
from strongbox.errors import StrongboxError
from strongbox.keys import KeyLike
from strongbox.private_function import PrivateFunction, bundled_code
from strongbox.rotation.calls import CALLS
from strongbox.secrets import Generation, ManagedSecret, RotationSchedule
from strongbox.signature import shows_init_signature

HANDLER_DIRECTORY = Path(__file__).parent / "rotation"


@shows_init_signature
class RotationFunction(PrivateFunction):
    """The four-step rotation Lambda (createSecret, setSecret, testSecret, finishSecret), a
    `PrivateFunction` whose policy can rotate exactly the secrets given to `rotate` (plus
    GetRandomPassword, which has no resource).

    The built-in strategy is "token": a new random value from GetRandomPassword with the
    `generation` options (for a json secret, only `json_field` changes); the old value stays
    valid as AWSPREVIOUS. For another strategy, pass `code` holding handler.py next to your
    module and `strategy="module:Class"` (see strongbox/rotation/handler.py).
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
                    "aws:SourceArn": secret.secret.secret_arn,
                    "aws:SourceAccount": stack.account,
                },
            ),
        )


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
