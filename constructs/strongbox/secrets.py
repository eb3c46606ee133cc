"""ManagedSecret: one Secrets Manager secret with a generated value, a CMK and mandatory tags."""

from __future__ import annotations

import json
from typing import Literal, get_args

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager

from constructs import Construct
from strongbox.compliance import ROTATION_FINDINGS, acknowledge

SecretKind = Literal["database", "api-key", "json"]
SECRET_KINDS: tuple[str, ...] = get_args(SecretKind)

# Characters RDS refuses in a master password (/ @ " and space) plus quotes and backslash,
# which break connection strings and shell usage.
DATABASE_EXCLUDED_CHARACTERS = "/@\"' \\`"


class ManagedSecret(Construct):
    """A secret named `<environment>/<application>/<purpose>`; its value is generated, not written.

    Attributes:
        secret: the `secretsmanager.Secret`.
        secret_name: its name.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        application: str,
        environment_name: str,
        purpose: str,
        kind: SecretKind,
        description: str,
        owner: str,
        encryption_key: kms.IKey,
        rotation_disabled_reason: str,
        component: str | None = None,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        """
        Args:
            application: application name (tag Application, name segment).
            environment_name: environment name (tag Environment, name prefix).
            purpose: what the secret is for, e.g. "db-credentials" (name suffix).
            kind: "database" (JSON with the keys AWS's rotation functions expect),
                "api-key" (a generated token) or "json" (an object with a generated "value").
            description: required; shown in the console and in audits.
            owner: team accountable for the secret (tag Owner).
            encryption_key: the customer-managed key; the AWS-managed key is never used.
            rotation_disabled_reason: why this secret does not rotate; it becomes the
                acknowledgment of the compliance packs' rotation findings.
            component: tag Component. Default: `purpose`.
            removal_policy: what happens on stack deletion. Default: RETAIN.
        """
        super().__init__(scope, id_)
        if kind not in SECRET_KINDS:
            raise ValueError(f"kind must be one of {', '.join(SECRET_KINDS)}, got {kind!r}")
        for name, value in (("description", description), ("owner", owner)):
            if not value.strip():
                raise ValueError(f"{name} is required and must not be empty")

        self.secret_name = f"{environment_name}/{application}/{purpose}"
        self.secret = secretsmanager.Secret(
            self,
            "Secret",
            secret_name=self.secret_name,
            description=description,
            encryption_key=encryption_key,
            generate_secret_string=_generator(kind, application),
            removal_policy=removal_policy,
        )
        for key, value in (
            ("Environment", environment_name),
            ("Application", application),
            ("Component", component or purpose),
            ("Owner", owner),
        ):
            cdk.Tags.of(self).add(key, value)
        for finding in ROTATION_FINDINGS:
            acknowledge(self.secret, finding, rotation_disabled_reason)


def _generator(kind: SecretKind, application: str) -> secretsmanager.SecretStringGenerator:
    if kind == "database":
        template = {"engine": "postgres", "username": application.replace("-", "_")}
        return secretsmanager.SecretStringGenerator(
            secret_string_template=json.dumps(template),
            generate_string_key="password",
            password_length=32,
            exclude_characters=DATABASE_EXCLUDED_CHARACTERS,
        )
    if kind == "api-key":
        return secretsmanager.SecretStringGenerator(password_length=40, exclude_punctuation=True)
    return secretsmanager.SecretStringGenerator(
        secret_string_template="{}",  # noqa: S106 - an empty JSON object, not a password
        generate_string_key="value",
        password_length=40,
    )
