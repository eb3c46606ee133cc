"""ManagedSecret: a Secrets Manager secret with a generated value, a CMK, replicas and a policy."""

from __future__ import annotations

import difflib
import json
import re
import string
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import aws_cdk as cdk
import jsii
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager

from constructs import Construct, IConstruct, IValidation
from strongbox.access.calls import (
    SECRET_CONTEXT,
    Call,
    Runtime,
    handler_calls,
    secret_read,
)
from strongbox.access.declare import declare_runtime
from strongbox.compliance import MIN_REASON_LENGTH, ROTATION_FINDINGS, acknowledge_all
from strongbox.errors import StrongboxError
from strongbox.keys import (
    KeyLike,
    arn_of,
    as_key,
    consumer_account,
    consumer_principal,
    in_another_account,
    key_reference,
    names_from_key,
    via_services,
)
from strongbox.naming import claim_name, stack_facts
from strongbox.signature import shows_init_signature

SecretKind = Literal["database", "api-key", "json"]
SECRET_KINDS: tuple[str, ...] = get_args(SecretKind)
MANDATORY_TAGS = ("Environment", "Application", "Component", "Owner", "SecretKind")

# One policy statement as (actions, resources, conditions): built in Python, where a
# PolicyStatement would cost a jsii round trip to create and one for each read back.
StatementParts = tuple[list[str], list[str], dict[str, Any] | None]

# The 2024 version keeps the hosted rotation function's Lambda runtime upgraded by AWS.
HOSTED_ROTATION_TRANSFORM = "AWS::SecretsManager-2024-09-16"
# What AWS's single- and multi-user rotation functions call (aws-samples/aws-secrets-manager-
# rotation-lambdas): the four steps on the secret and a new password.
HOSTED_ROTATION_CALLS = {
    "secretsmanager:DescribeSecret": "secret",
    "secretsmanager:GetSecretValue": "secret",
    "secretsmanager:PutSecretValue": "secret",
    "secretsmanager:UpdateSecretVersionStage": "secret",
    "secretsmanager:GetRandomPassword": "*",
}
# Engine -> the prefix of its hosted rotation type (`PostgreSQLSingleUser`, ...).
HOSTED_ROTATION_TYPES: Mapping[str, str] = {
    "postgres": "PostgreSQL",
    "mysql": "MySQL",
    "mariadb": "MariaDB",
    "oracle": "Oracle",
    "sqlserver": "SQLServer",
    "redshift": "Redshift",
    "mongodb": "MongoDB",
}
ROTATION_ACTIONS = (
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecretVersionStage",
)
# Engine -> (the `engine` value AWS's rotation functions expect, default port).
DATABASE_ENGINES: Mapping[str, tuple[str, int]] = {
    "postgres": ("postgres", 5432),
    "mysql": ("mysql", 3306),
    "mariadb": ("mariadb", 3306),
    "oracle": ("oracle", 1521),
    "sqlserver": ("sqlserver", 1433),
    "redshift": ("redshift", 5439),
    "mongodb": ("mongo", 27017),
}
# Characters RDS refuses in a master password (/ @ " and space) plus quotes, backslash and
# backtick, which break connection strings and shells.
DATABASE_EXCLUDED_CHARACTERS = "/@\"' \\`"
# What Secrets Manager generates from (GetRandomPassword): each type is included unless
# excluded, with at least one character of each (RequireEachIncludedType defaults to true).
PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
CHARACTER_TYPES: Mapping[str, str] = {
    "uppercase letters": string.ascii_uppercase,
    "lowercase letters": string.ascii_lowercase,
    "digits": string.digits,
}
DEFAULT_LENGTHS: Mapping[str, int] = {"database": 32, "api-key": 40, "json": 40}
MIN_LENGTH, MAX_LENGTH = 16, 4096
VERSION_STAGE = re.compile(r"^[A-Za-z0-9_.-]{1,256}$")
AWS_VERSION_STAGES = ("AWSCURRENT", "AWSPENDING", "AWSPREVIOUS")

READ_ACTIONS = ("secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue")
# Actions that destroy the secret, a replica, or the policy that protects them.
PROTECTED_ACTIONS = (
    "secretsmanager:DeleteResourcePolicy",
    "secretsmanager:DeleteSecret",
    "secretsmanager:PutResourcePolicy",
    "secretsmanager:RemoveRegionsFromReplication",
    "secretsmanager:StopReplicationToReplica",
)
# Actions that carry a secret value. VPC-endpoint-only access restricts these and leaves metadata
# calls alone, so AWS Config's service-linked role (Security Hub's SecretsManager.1-4) still works.
VALUE_ACTIONS = (
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecret",
)


@dataclass(frozen=True)
class Generation:
    """How Secrets Manager generates the value.

    Attributes:
        length: characters, 16-4096. Default: 32 for database, 40 otherwise.
        exclude_characters: never used. For a database secret, added to the characters RDS and
            connection strings refuse (always excluded). Default: none beyond those.
        exclude_punctuation: letters and digits only. Default: True for api-key, False otherwise.
    """

    length: int | None = None
    exclude_characters: str | None = None
    exclude_punctuation: bool | None = None

    def resolved(self, kind: SecretKind) -> Generation:
        """These options with every default of `kind` filled in: the one place defaults are
        decided, so a secret's first value and its rotations follow the same rules. Refuses
        options Secrets Manager cannot generate from."""
        resolved = self.with_defaults(kind)
        if missing := resolved.unavailable_types():
            raise ValueError(
                f"generation.exclude_characters leaves no {' and no '.join(missing)}; Secrets "
                "Manager includes at least one character of each type it generates"
            )
        return resolved

    def with_defaults(self, kind: SecretKind) -> Generation:
        """These options with every default of `kind` filled in, unchecked."""
        length = self.length or DEFAULT_LENGTHS[kind]
        if not MIN_LENGTH <= length <= MAX_LENGTH:
            raise ValueError(f"generation.length must be {MIN_LENGTH}-{MAX_LENGTH}, got {length}")
        excluded = self.exclude_characters or ""
        if kind == "database":
            # Added to, never replaced: RDS refuses a master password with / @ " or a space.
            excluded = DATABASE_EXCLUDED_CHARACTERS + "".join(
                dict.fromkeys(c for c in excluded if c not in DATABASE_EXCLUDED_CHARACTERS)
            )
        punctuation = self.exclude_punctuation
        if punctuation is None:
            punctuation = kind == "api-key"
        return Generation(length, excluded, punctuation)

    def unavailable_types(self) -> list[str]:
        """The character types this generation includes but excludes every character of, which
        Secrets Manager cannot generate (it puts at least one of each type into a value)."""
        types = dict(CHARACTER_TYPES)
        if not self.exclude_punctuation:
            types["punctuation"] = PUNCTUATION
        excluded = set(self.exclude_characters or "")
        return [name for name, characters in types.items() if set(characters) <= excluded]


@dataclass(frozen=True)
class DatabaseFields:
    """The non-secret fields of a database secret (the keys AWS's rotation functions read).

    Attributes:
        engine: postgres, mysql, mariadb, oracle, sqlserver, redshift or mongodb.
        username: the database user. Default: "app".
        dbname: the database name. Default: none (the engine's default database).
        port: Default: the engine's port.
        host: Default: empty, filled in when the secret is attached to a database.
    """

    engine: str = "postgres"
    username: str = "app"
    dbname: str | None = None
    port: int | None = None
    host: str = ""

    def template(self) -> dict[str, str | int]:
        if self.engine not in DATABASE_ENGINES:
            raise ValueError(
                f"database.engine must be one of {', '.join(DATABASE_ENGINES)}, got {self.engine!r}"
            )
        engine, port = DATABASE_ENGINES[self.engine]
        fields: dict[str, str | int] = {
            "engine": engine,
            "host": self.host,
            "port": self.port or port,
            "username": self.username,
        }
        if self.dbname:
            fields["dbname"] = self.dbname
        return fields


@dataclass(frozen=True)
class RotationSchedule:
    """When a secret rotates.

    Attributes:
        expression: `rate(N days)`, `rate(N hours)` (4 hours to 1000 days) or `cron(...)`.
        window: the rotation window in hours, e.g. "3h". Default: Secrets Manager's default.
        rotate_immediately: rotate when the schedule is created or changed. Default: True.
    """

    expression: str
    window: str | None = None
    rotate_immediately: bool = True

    def rules(self) -> secretsmanager.CfnRotationSchedule.RotationRulesProperty:
        return secretsmanager.CfnRotationSchedule.RotationRulesProperty(
            schedule_expression=self.expression, duration=self.window
        )


@dataclass(frozen=True)
class JsonFields:
    """A JSON secret: non-secret `template` fields plus one generated field named `generate_key`."""

    template: Mapping[str, str | int | bool] = field(default_factory=dict)
    generate_key: str = "value"


@shows_init_signature
class ManagedSecret(Construct):
    """A secret named `<environment>/<application>/<purpose>` whose value is generated, never
    written: CMK-encrypted, replicated with replica keys, guarded by a resource policy.

    Attributes:
        secret: the `secretsmanager.Secret`.
        secret_name: its name.
        generation: the generation options with the kind's defaults filled in (rotation uses
            them too).
        generated_field: the JSON field holding the generated value (None for api-key).
        resource_policy: the `CfnResourcePolicy` (BlockPublicPolicy on).
        fields: the JSON fields a reader may select (empty for api-key).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        purpose: str,
        kind: SecretKind,
        description: str,
        owner: str,
        encryption_key: KeyLike,
        application: str | None = None,
        environment_name: str | None = None,
        rotation_disabled_reason: str | None = None,
        replica_regions: Sequence[secretsmanager.ReplicaRegion] = (),
        generation: Generation | None = None,
        database: DatabaseFields | None = None,
        json_fields: JsonFields | None = None,
        administrators: Sequence[str] = (),
        cross_account_readers: Sequence[str] = (),
        vpc_endpoint_ids: Sequence[str] = (),
        deploy_role_arn: str | None = None,
        component: str | None = None,
        tags: Mapping[str, str] | None = None,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        """
        Args:
            purpose: what the secret is for, e.g. "db-credentials" (name suffix).
            kind: "database" (JSON with username, password, engine, host, port, dbname),
                "api-key" (a generated token) or "json" (`json_fields`' template plus one
                generated field).
            description: required; shown in the console and in audits.
            owner: team accountable for the secret (tag Owner).
            encryption_key: a `SecretsKey` or another customer-managed key; the AWS-managed key
                is refused.
            application: application name (tag Application, name segment). Default: the
                `SecretsKey`'s; required with any other key.
            environment_name: environment name (tag Environment, name prefix). Default: the
                `SecretsKey`'s; required with any other key.
            rotation_disabled_reason: why this secret does not rotate; it becomes the
                acknowledgment of the compliance packs' rotation findings. Without it, the secret
                must get a rotation (`add_rotation_schedule`, `rotate_hosted` or
                `RotationFunction.rotate`) or synth fails. Default: none.
            replica_regions: regions to replicate to, each with its (replica) key; required.
                Default: none.
            generation: length and character rules. Default: see `Generation`.
            database: fields of a database secret. Default: `DatabaseFields()`.
            json_fields: template and generated key of a json secret. Default: `JsonFields()`.
            administrators: role ARNs that may delete the secret or change its policy (with the
                account root and the deploy role). Default: none.
            cross_account_readers: 12-digit accounts or role ARNs in other accounts allowed to
                read; the key policy must trust them too. Default: none.
            vpc_endpoint_ids: when set, reading or writing the value must come through one of
                these interface endpoints, except for administrators, the deploy role and AWS
                services. Endpoint ids are regional and a resource policy is replicated, so this
                cannot be combined with replica regions or cross-account readers.
                Default: none (no network restriction).
            deploy_role_arn: CloudFormation's execution role, exempt from the policy's denies.
                Default: the stack synthesizer's execution role.
            component: tag Component. Default: `purpose`.
            tags: more tags; may not override the mandatory ones (Environment, Application,
                Component, Owner and SecretKind, which `strongbox report` reads as the kind).
            removal_policy: what happens on stack deletion. Default: RETAIN.
        """
        super().__init__(scope, id_)
        stack = cdk.Stack.of(self)
        account, region, partition, root = stack_facts(stack)
        self._account = account
        application, environment_name = names_from_key(
            self, encryption_key, application, environment_name
        )
        encryption_key = as_key(encryption_key)
        if kind not in SECRET_KINDS:
            raise ValueError(f"kind must be one of {', '.join(SECRET_KINDS)}, got {kind!r}")
        for name, value in (("description", description), ("owner", owner)):
            if not value.strip():
                raise ValueError(f"{name} is required and must not be empty")
        _refuse_aws_managed_key("encryption_key", encryption_key)
        for replica in replica_regions:
            if replica.encryption_key is None:
                raise ValueError(
                    f"replica_regions: {replica.region} needs its replica key; the AWS-managed "
                    "key is never used"
                )
            _refuse_aws_managed_key(f"replica_regions[{replica.region}]", replica.encryption_key)
        if vpc_endpoint_ids and (replica_regions or cross_account_readers):
            raise ValueError(
                "vpc_endpoint_ids cannot be combined with replica_regions or "
                "cross_account_readers: the policy is replicated and the endpoints are regional, "
                "so replicas and other accounts' callers would be denied"
            )
        overridden = set(tags or {}) & set(MANDATORY_TAGS)
        if overridden:
            raise ValueError(f"tags may not override {', '.join(sorted(overridden))}")

        self.kind = kind
        self.engine = (database or DatabaseFields()).engine if kind == "database" else None
        self.rotation_disabled_reason = rotation_disabled_reason
        self.rotation_schedule: secretsmanager.CfnRotationSchedule | None = None
        self._secret_arns: list[str] | None = None
        self._keys_arns: list[str] | None = None
        self.secret_name = f"{environment_name}/{application}/{purpose}"
        claim_name(self, "secret", self.secret_name, account=account, region=region, root=root)
        self.regions = (region, *(replica.region for replica in replica_regions))
        self.keys = (
            encryption_key,
            *(r.encryption_key for r in replica_regions if r.encryption_key),
        )
        template, generate_key, self.fields = _value_shape(kind, database, json_fields)
        self.generation = (generation or Generation()).resolved(kind)
        self.generated_field = generate_key
        self.secret: secretsmanager.Secret = _SecretReadThroughItsKey(
            self,
            "Secret",
            secret_name=self.secret_name,
            description=description,
            # Given the key object, the L2 would add a statement for every account principal,
            # CreateGrant included, to a key policy that SecretsKey owns exactly.
            encryption_key=key_reference(self, "EncryptionKey", encryption_key),
            generate_secret_string=_generator(self.generation, template, generate_key),
            replica_regions=list(replica_regions),
            removal_policy=removal_policy,
        )
        self._primary_arn: str = self.secret.secret_arn  # read from jsii once
        self.resource_policy = secretsmanager.CfnResourcePolicy(
            self,
            "ResourcePolicy",
            secret_id=self._primary_arn,
            block_public_policy=True,
            resource_policy=_resource_policy(
                exempt=[
                    f"arn:{partition}:iam::{account}:root",
                    deploy_role_arn or deploy_role_arn_of(stack),
                    *administrators,
                ],
                cross_account_readers=cross_account_readers,
                vpc_endpoint_ids=vpc_endpoint_ids,
            ),
        )
        # Retained with the secret, so a deleted stack does not leave a retained secret unguarded.
        self.resource_policy.apply_removal_policy(removal_policy)
        tags_of_secret = cdk.Tags.of(self)
        for key, value in {
            "Environment": environment_name,
            "Application": application,
            "Component": component or purpose,
            "Owner": owner,
            # Read back by `strongbox report` (and by people in the console) as the secret's kind.
            "SecretKind": kind,
            **(tags or {}),
        }.items():
            tags_of_secret.add(key, value)
        if rotation_disabled_reason is not None:
            if len(rotation_disabled_reason.strip()) < MIN_REASON_LENGTH:
                raise StrongboxError(
                    self,
                    "rotation_disabled_reason must say why this secret does not rotate (at least "
                    f"{MIN_REASON_LENGTH} characters); a reviewer reads it as the compliance "
                    f"packs' acknowledgment, got {rotation_disabled_reason!r}",
                )
            self._record_rotation({"DisabledReason": rotation_disabled_reason})
            acknowledge_all(self.secret, ROTATION_FINDINGS, rotation_disabled_reason)
        else:
            # With a reason it can never fail: only a secret without one is checked at synth.
            self.node.add_validation(_RotatesOrSaysWhyNot(self))
        # Every region the secret lives in (the resource policy is replicated with it).
        regional = (
            list(zip(self.secret_arns(), self.key_arns(), strict=True))
            if cross_account_readers
            else []
        )
        for reader in dict.fromkeys(cross_account_readers):
            reader_account = reader if reader.isdigit() else reader.split(":")[4]
            declare_runtime(
                self,
                Runtime(
                    name=f"reader in account {reader_account} ({self.secret_name})",
                    kind="outside",
                    principal=f"arn:{partition}:iam::{reader}:root" if reader.isdigit() else reader,
                    # From its own account, so not through this environment's endpoints.
                    calls=tuple(
                        call
                        for arn, key_arn in regional
                        for call in secret_read(arn, key_arn, endpoint=None)
                    ),
                ),
            )

    def add_rotation_schedule(
        self,
        *,
        schedule: RotationSchedule,
        rotation_lambda: lambda_.IFunction | None = None,
        hosted_rotation: secretsmanager.CfnRotationSchedule.HostedRotationLambdaProperty
        | None = None,
        scope: Construct | None = None,
    ) -> secretsmanager.CfnRotationSchedule:
        """Rotate on `schedule` with a Lambda or AWS hosted rotation (exactly one; hosted
        rotation only without replica regions, see `rotate_hosted`).

        `scope` is where the schedule lives. Default: this secret. Give a construct of the
        stack that holds what the secret is attached to (a database), so the schedule is
        created after the attachment; the compliance findings on the secret's own stack are
        then acknowledged with the schedule's location.

        Written as the L1 because the CDK's RotationSchedule has no cron expression and no
        window, and would add grants of its own that this library writes exactly.
        """
        if (rotation_lambda is None) == (hosted_rotation is None):
            raise ValueError("give exactly one of rotation_lambda or hosted_rotation")
        if self.rotation_disabled_reason is not None:
            raise ValueError(
                f"{self.secret_name} has rotation_disabled_reason; it cannot also rotate"
            )
        if self.rotation_schedule is not None:
            raise ValueError(f"{self.secret_name} already has a rotation schedule")
        if hosted_rotation is not None and len(self.regions) > 1:
            # Secrets Manager re-encrypts each new version with the replica keys on behalf of the
            # caller that wrote it. The role the hosted rotation transform creates is granted only
            # HostedRotationLambda.KmsKeyArn, and no property grants it another key, so replicas
            # would silently keep the old value after every rotation.
            raise ValueError(
                f"{self.node.path}: hosted_rotation cannot re-encrypt the rotated value with the "
                f"replica keys ({', '.join(self.regions[1:])}): the role AWS's hosted rotation "
                "creates is granted only the primary key, so replicas would keep the old value; "
                "allowed: no replica_regions, or a rotation_lambda whose role holds "
                "rotation_statements() (every key)"
            )
        owner = scope or self
        self.rotation_schedule = secretsmanager.CfnRotationSchedule(
            owner,
            "RotationSchedule" if owner is self else f"{self.node.id}Rotation",
            secret_id=self._primary_arn,
            rotation_lambda_arn=rotation_lambda.function_arn if rotation_lambda else None,
            hosted_rotation_lambda=hosted_rotation,
            rotation_rules=schedule.rules(),
            rotate_immediately_on_update=schedule.rotate_immediately,
        )
        owner_stack = cdk.Stack.of(owner)
        if hosted_rotation is not None:
            owner_stack.add_transform(HOSTED_ROTATION_TRANSFORM)
        self._record_rotation({"Schedule": schedule.expression, "Stack": owner_stack.stack_name})
        if owner is not self and owner_stack is not cdk.Stack.of(self):
            acknowledge_all(
                self.secret,
                ROTATION_FINDINGS,
                f"Rotates on {schedule.expression} by the rotation schedule in stack "
                f"{owner_stack.stack_name} ({self.rotation_schedule.node.path}), next to the "
                "resource the secret is attached to.",
            )
        return self.rotation_schedule

    def _record_rotation(self, rotation: Mapping[str, str]) -> None:
        """The template says how the secret rotates, or why it does not, for the Guard rule
        `secrets_rotate_or_say_why` (a schedule may live in another stack)."""
        secret = self.secret.node.default_child
        assert isinstance(secret, secretsmanager.CfnSecret)
        secret.add_metadata("StrongboxRotation", dict(rotation))

    def rotate_hosted(
        self,
        *,
        schedule: RotationSchedule,
        subnet_ids: Sequence[str],
        security_groups: Sequence[ec2.ISecurityGroup],
        master_secret: ManagedSecret | None = None,
        scope: Construct | None = None,
    ) -> secretsmanager.CfnRotationSchedule:
        """Rotate a database secret with AWS hosted rotation for its engine.

        Single-user (the secret's own user changes its password) or, with `master_secret`,
        multi-user (the master user alternates two users). The hosted function runs in
        `subnet_ids` with `security_groups`, which must reach the database port and the
        Secrets Manager endpoint. `scope`: see `add_rotation_schedule`. Refused for a secret
        with replica regions: the hosted function's role cannot use the replica keys.
        """
        if self.engine is None:
            raise ValueError(f"{self.secret_name} is not a database secret; use RotationFunction")
        if master_secret is not None and master_secret.engine != self.engine:
            raise ValueError("master_secret must be a database secret of the same engine")
        rotation_type = HOSTED_ROTATION_TYPES[self.engine] + (
            "MultiUser" if master_secret else "SingleUser"
        )
        self._declare_hosted_rotation(rotation_type, scope or self)
        return self.add_rotation_schedule(
            schedule=schedule,
            hosted_rotation=secretsmanager.CfnRotationSchedule.HostedRotationLambdaProperty(
                rotation_type=rotation_type,
                vpc_subnet_ids=cdk.Fn.join(",", list(subnet_ids)),
                vpc_security_group_ids=cdk.Fn.join(
                    ",", [group.security_group_id for group in security_groups]
                ),
                kms_key_arn=self.key_arns()[0],
                master_secret_arn=master_secret.secret_arns()[0] if master_secret else None,
                master_secret_kms_key_arn=master_secret.key_arns()[0] if master_secret else None,
                exclude_characters=self.generation.exclude_characters or None,
            ),
            scope=scope,
        )

    def _declare_hosted_rotation(self, rotation_type: str, scope: Construct) -> None:
        """The calls of AWS's rotation function, made with the role its transform creates. That
        role is not in the template, so its policy is modeled from the policy AWS documents
        for it: the secret's actions, GetRandomPassword, and the `KmsKeyArn` key only."""
        stack = cdk.Stack.of(scope)
        arn, key = self._primary_arn, self.key_arns()[0]
        declare_runtime(
            scope,
            Runtime(
                name=f"AWS hosted rotation {rotation_type} of {self.secret_name}",
                kind="outside",
                principal=f"arn:{stack.partition}:iam::{stack.account}:role/"
                f"hosted-rotation-{self.node.id}",
                calls=self.rotation_calls(HOSTED_ROTATION_CALLS, purpose="hosted rotation"),
                modeled_statements=(
                    {"Effect": "Allow", "Action": list(ROTATION_ACTIONS), "Resource": arn},
                    {
                        "Effect": "Allow",
                        "Action": "secretsmanager:GetRandomPassword",
                        "Resource": "*",
                    },
                    {
                        "Effect": "Allow",
                        "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"],
                        "Resource": key,
                    },
                ),
                model="the Secrets Manager user guide, 'Lambda rotation function execution role "
                "permissions' (the policy the hosted rotation transform attaches for KmsKeyArn)",
            ),
        )

    def rotation_calls(self, declared: Mapping[str, str], *, purpose: str) -> tuple[Call, ...]:
        """A rotation's calls on this secret through the Secrets Manager endpoint: `declared`
        (action -> "secret" or "*"), and the key use Secrets Manager makes for them with the
        rotator's credentials: decrypt under the primary key, encrypt the new version with it
        and, for each replica, with the replica's key in its region (Secrets Manager user
        guide, "Troubleshoot replication")."""
        arn = self._primary_arn
        context = {SECRET_CONTEXT: arn}
        key_arns = self.key_arns()
        keys = [
            Call(
                "kms:Decrypt",
                key_arns[0],
                via="secretsmanager",
                context=context,
                purpose=f"{purpose}: read a version",
            ),
        ]
        # Replication re-encrypts with each replica's key: kms:GenerateDataKey and kms:Encrypt
        # (Secrets Manager user guide, "Troubleshoot replication").
        keys += [
            Call(
                action,
                key_arn,
                region=region,
                via="secretsmanager",
                context=context,
                purpose=f"{purpose}: encrypt the new version in {region}",
            )
            for region, key_arn in zip(self.regions, key_arns, strict=True)
            for action in (
                "kms:GenerateDataKey",
                *(("kms:Encrypt",) if region != self.regions[0] else ()),
            )
        ]
        return (
            *handler_calls(declared, {"secret": arn}, endpoints=True, purpose=purpose),
            *keys,
        )

    def rotation_statements(self) -> list[iam.PolicyStatement]:
        """What a rotation function needs: read and write versions of this secret (the primary;
        Secrets Manager replicates), and use the keys through Secrets Manager in every region."""
        return [
            iam.PolicyStatement(actions=actions, resources=resources, conditions=conditions)
            for actions, resources, conditions in self.rotation_parts()
        ]

    def rotation_parts(self) -> list[StatementParts]:
        """`rotation_statements()` as (actions, resources, conditions), built without jsii."""
        return [
            (list(ROTATION_ACTIONS), [self._primary_arn], None),
            (
                ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                self.key_arns(),
                {
                    "StringEquals": {
                        "kms:ViaService": via_services(self.regions, ["secretsmanager"])
                    }
                },
            ),
        ]

    def grant_rotation(self, grantee: iam.IGrantable) -> None:
        """Add `rotation_statements()` to `grantee`'s identity policy."""
        for statement in self.rotation_statements():
            grantee.grant_principal.add_to_principal_policy(statement)

    def secret_arns(self) -> list[str]:
        """The complete ARN in the primary region and in every replica region.

        A replica keeps the primary's name and random suffix; only the region differs.
        """
        if self._secret_arns is None:  # the same tokens every time: built once (jsii calls)
            arn = self._primary_arn
            parts = cdk.Fn.split(":", arn, assumed_length=7)
            self._secret_arns = [arn] + [
                cdk.Fn.join(":", [*parts[:3], region, *parts[4:]]) for region in self.regions[1:]
            ]
        return list(self._secret_arns)

    def grant_read(
        self,
        grantee: iam.IGrantable,
        field: str | None = None,
        version_stage: str | None = None,
    ) -> iam.Grant:
        """Let `grantee` (same account) read this secret in every region it lives in.

        Grants GetSecretValue and DescribeSecret on the exact secret ARNs, optionally only for
        `version_stage`, and kms:Decrypt on the keys through Secrets Manager only. The
        `secretsmanager:VersionStage` condition is matched against the stage named in the
        request, so a caller granted one stage must name it (ECS: `valueFrom` ending in
        `:<field>:<stage>:`; SDK: `VersionStage=`); a request that names none is denied. IAM cannot
        narrow a grant to one JSON field; `field` is checked against the secret's fields so a
        consumer's typo fails at synth, not at container start.

        `self.secret.grant_read(grantee)`, which CDK code such as
        `ecs.Secret.from_secrets_manager(self.secret)` calls, grants the same (without `field`).
        Another account's principal is refused: list it in `cross_account_readers`.
        """
        self.check_field(field)
        return self._grant(grantee, (version_stage,) if version_stage else ())

    def read_statements(
        self,
        field: str | None = None,
        version_stage: str | None = None,
        *,
        primary_only: bool = False,
    ) -> list[iam.PolicyStatement]:
        """The statements `grant_read` writes, for a caller that keeps them in its own policy.
        `primary_only` leaves out the replicas, for a caller that reads only in the primary
        region (a replica readable but never read would be a reader nobody declared)."""
        self.check_field(field)
        return self._read_statements(
            (version_stage,) if version_stage else (), primary_only=primary_only
        )

    def check_field(self, field: str | None) -> None:
        """Refuses a JSON `field` this secret does not have."""
        if field is not None and field not in self.fields:
            allowed = ", ".join(self.fields) or "none: an api-key secret is a plain string"
            raise StrongboxError(
                self, f"field {field!r} is not in {self.secret_name}; fields: {allowed}"
            )

    def _grant(self, grantee: iam.IGrantable, version_stages: Sequence[str]) -> iam.Grant:
        principal_account = grantee.grant_principal.principal_account
        if in_another_account(self, principal_account, own=self._account):
            raise StrongboxError(
                self,
                f"grant_read cannot grant {principal_account}, another account: list it in "
                "cross_account_readers (and the key's cross_account_consumers)",
            )
        grant: iam.Grant | None = None
        # From the parts, not read back from PolicyStatements (each read a jsii round trip).
        for actions, resources, conditions in self._read_parts(version_stages):
            added = iam.Grant.add_to_principal(
                grantee=grantee,
                actions=actions,
                resource_arns=resources,
                conditions=conditions,
            )
            grant = added if grant is None else grant.combine(added)
        assert grant is not None
        return grant

    def _read_statements(
        self, version_stages: Sequence[str], *, primary_only: bool = False
    ) -> list[iam.PolicyStatement]:
        return [
            iam.PolicyStatement(actions=actions, resources=resources, conditions=conditions)
            for actions, resources, conditions in self._read_parts(
                version_stages, primary_only=primary_only
            )
        ]

    def _read_parts(
        self, version_stages: Sequence[str], *, primary_only: bool = False
    ) -> list[StatementParts]:
        """(actions, resources, conditions) of each statement that reads this secret."""
        for stage in version_stages:
            check_version_stage(self, "version_stage", stage)
        regions = self.regions[:1] if primary_only else self.regions
        arns = self.secret_arns()[: len(regions)]
        parts: list[StatementParts]
        if not version_stages:
            parts = [(list(READ_ACTIONS), arns, None)]
        else:
            stages: str | list[str] = (
                version_stages[0] if len(version_stages) == 1 else list(version_stages)
            )
            parts = [
                (
                    ["secretsmanager:GetSecretValue"],
                    arns,
                    {"StringEquals": {"secretsmanager:VersionStage": stages}},
                ),
                (["secretsmanager:DescribeSecret"], arns, None),
            ]
        parts.append(
            (
                ["kms:Decrypt"],
                self.key_arns()[: len(regions)],
                {"StringEquals": {"kms:ViaService": via_services(regions, ["secretsmanager"])}},
            )
        )
        return parts

    def key_arns(self) -> list[str]:
        """The ARN of each key, primary then replicas (read from jsii once)."""
        if self._keys_arns is None:
            self._keys_arns = [arn_of(key) for key in self.keys]
        return list(self._keys_arns)

    def consumer_statements(self) -> list[iam.PolicyStatement]:
        """The identity-policy statements a role in a cross-account reader account needs.

        Everything is literal, so another account's app can use them: the secret by its
        `-??????` pattern (the consumer does not know the random suffix) in every region, and this
        account's keys by `key/*`, usable only through Secrets Manager. That is no wider than the
        secret: the key policy trusts the consumer only through Secrets Manager, and Secrets
        Manager decrypts only secrets whose resource policy lets the consumer read them.
        """
        stack = cdk.Stack.of(self)
        return [
            iam.PolicyStatement(
                sid="ReadStrongboxSecret",
                actions=list(READ_ACTIONS),
                resources=[
                    f"arn:{stack.partition}:secretsmanager:{region}:{stack.account}:secret:"
                    f"{self.secret_name}-??????"
                    for region in self.regions
                ],
            ),
            iam.PolicyStatement(
                sid="DecryptStrongboxSecret",
                actions=["kms:Decrypt"],
                resources=[
                    f"arn:{stack.partition}:kms:{region}:{stack.account}:key/*"
                    for region in self.regions
                ],
                conditions={
                    "StringEquals": {
                        "kms:ViaService": via_services(self.regions, ["secretsmanager"])
                    }
                },
            ),
        ]


class _SecretReadThroughItsKey(secretsmanager.Secret):
    """The L2 secret, whose `grant_read` (which CDK code such as `ecs.Secret.from_secrets_manager`
    calls from jsii) is `ManagedSecret.grant_read`: the L2's own would grant no kms:Decrypt,
    because the key is referenced by ARN (`key_reference`), so every read would be denied."""

    def __init__(self, scope: ManagedSecret, id_: str, **kwargs: Any) -> None:
        super().__init__(scope, id_, **kwargs)
        self._managed = scope

    def grant_read(
        self, grantee: iam.IGrantable, version_stages: Sequence[str] | None = None
    ) -> iam.Grant:
        return self._managed._grant(grantee, tuple(version_stages or ()))


def check_version_stage(scope: IConstruct, argument: str, stage: str) -> None:
    """Refuses a staging label that is not one, or that is a near-miss of AWS's own
    (`AWSCURENT`): it would be a valid custom label that no version ever carries, so every
    read of it would fail at run time."""
    if not VERSION_STAGE.match(stage):
        raise StrongboxError(scope, f"{argument} {stage!r} is not a staging label")
    if stage in AWS_VERSION_STAGES:
        return
    near = difflib.get_close_matches(stage.upper(), AWS_VERSION_STAGES, n=1, cutoff=0.8)
    if near:
        raise StrongboxError(
            scope,
            f"{argument} {stage!r} is not one of AWS's stages; did you mean {near[0]}? "
            f"(allowed: {', '.join(AWS_VERSION_STAGES)} or a custom label unlike them)",
        )


@jsii.implements(IValidation)
class _RotatesOrSaysWhyNot:
    def __init__(self, secret: ManagedSecret) -> None:
        self._secret = secret

    def validate(self) -> list[str]:
        secret = self._secret
        if secret.rotation_schedule is None and secret.rotation_disabled_reason is None:
            return [
                f"{secret.secret_name} has no rotation: add one (RotationFunction.rotate, "
                "rotate_hosted, add_rotation_schedule) or set rotation_disabled_reason"
            ]
        return []


def deploy_role_arn_of(stack: cdk.Stack) -> str:
    """The CloudFormation execution role of `stack`'s (default) synthesizer."""
    synthesizer = stack.synthesizer
    if isinstance(synthesizer, cdk.DefaultStackSynthesizer):
        # The synthesizer writes `${AWS::Partition}` for asset manifests; a template needs a value.
        return synthesizer.cloud_formation_execution_role_arn.replace(
            "${AWS::Partition}", stack.partition
        )
    raise ValueError(
        "deploy_role_arn is required with a synthesizer other than DefaultStackSynthesizer"
    )


def _refuse_aws_managed_key(name: str, key: kms.IKey) -> None:
    if isinstance(key, kms.Key) or key in _CUSTOMER_MANAGED:
        return  # created in this app, or already checked: no need to ask jsii (a round trip)
    alias = getattr(key, "alias_name", None)
    arn = key.key_arn
    if (isinstance(alias, str) and alias.startswith("alias/aws/")) or (
        not cdk.Token.is_unresolved(arn) and ":alias/aws/" in arn
    ):
        raise ValueError(f"{name}: the AWS-managed key cannot be used; pass a customer-managed key")
    # The same key object (a stack's reference to a replica key) serves many secrets.
    _CUSTOMER_MANAGED.add(key)


# Key objects `_refuse_aws_managed_key` has checked, for as long as they live.
_CUSTOMER_MANAGED: weakref.WeakSet[kms.IKey] = weakref.WeakSet()


# Secrets Manager's limit on a resource policy (characters of its JSON, whitespace excluded).
RESOURCE_POLICY_LIMIT = 20_480


def resource_policy_size(
    *, exempt: Sequence[str], cross_account_readers: Sequence[str], vpc_endpoint_ids: Sequence[str]
) -> int:
    """Characters of the resource policy a secret gets with these principals and endpoints, as
    deployed (compact JSON): for refusing, before synth, what Secrets Manager would refuse."""
    readers = list(dict.fromkeys(cross_account_readers))
    document = _resource_policy(
        exempt=exempt, cross_account_readers=readers, vpc_endpoint_ids=vpc_endpoint_ids
    )
    for statement, reader in zip(document["Statement"][1:], readers, strict=False):
        if reader == consumer_account(reader):  # an account's root: a token until deployed
            statement["Principal"] = {"AWS": f"arn:aws:iam::{reader}:root"}
    return len(json.dumps(document, separators=(",", ":")))


def _resource_policy(
    *, exempt: Sequence[str], cross_account_readers: Sequence[str], vpc_endpoint_ids: Sequence[str]
) -> dict[str, Any]:
    """The secret's resource policy, written as the JSON CloudFormation receives (keys in the
    order the CDK renders them). Not built from `iam` objects: those are four jsii objects a
    secret, about 2 s of the 21 s synth of a thousand secrets."""
    anyone = {"AWS": "*"}
    statements: list[dict[str, Any]] = [
        {
            "Action": list(PROTECTED_ACTIONS),
            "Condition": {"ArnNotLike": {"aws:PrincipalArn": list(exempt)}},
            "Effect": "Deny",
            "Principal": anyone,
            "Resource": "*",
            "Sid": "OnlyAdministratorsDeleteOrChangePolicy",
        }
    ]
    for reader in dict.fromkeys(cross_account_readers):  # once each, as a PolicyDocument would
        principal, name = consumer_principal(reader)
        statements.append(
            {
                "Action": list(READ_ACTIONS),
                "Effect": "Allow",
                "Principal": {
                    kind: values[0] if len(values) == 1 else values
                    for kind, values in principal.policy_fragment.principal_json.items()
                },
                "Resource": "*",
                "Sid": f"CrossAccountRead{name}",
            }
        )
    if vpc_endpoint_ids:
        statements.append(
            {
                "Action": list(VALUE_ACTIONS),
                "Condition": {
                    "StringNotEquals": {"aws:SourceVpce": list(vpc_endpoint_ids)},
                    "ArnNotLike": {"aws:PrincipalArn": list(exempt)},
                    "BoolIfExists": {"aws:PrincipalIsAWSService": "false"},
                },
                "Effect": "Deny",
                "Principal": anyone,
                "Resource": "*",
                "Sid": "OnlyThroughVpcEndpoints",
            }
        )
    return {"Statement": statements, "Version": "2012-10-17"}


def _value_shape(
    kind: SecretKind, database: DatabaseFields | None, json_fields: JsonFields | None
) -> tuple[dict[str, str | int | bool] | None, str | None, tuple[str, ...]]:
    """(template, generated key, readable fields) for a kind."""
    if kind == "database":
        if json_fields is not None:
            raise ValueError("json_fields applies to kind 'json' only")
        database_template = (database or DatabaseFields()).template()
        return dict(database_template), "password", (*sorted(database_template), "password")
    if database is not None:
        raise ValueError("database applies to kind 'database' only")
    if kind == "api-key":
        if json_fields is not None:
            raise ValueError("json_fields applies to kind 'json' only")
        return None, None, ()
    spec = json_fields or JsonFields()
    if spec.generate_key in spec.template:
        raise ValueError(f"json_fields.generate_key {spec.generate_key!r} is also in the template")
    return dict(spec.template), spec.generate_key, (*sorted(spec.template), spec.generate_key)


def _generator(
    generation: Generation,
    template: Mapping[str, str | int | bool] | None,
    generate_key: str | None,
) -> secretsmanager.SecretStringGenerator:
    return secretsmanager.SecretStringGenerator(
        password_length=generation.length,
        exclude_characters=generation.exclude_characters or None,
        exclude_punctuation=generation.exclude_punctuation or None,
        secret_string_template=json.dumps(template, sort_keys=True)
        if template is not None
        else None,
        generate_string_key=generate_key,
    )
