"""ManagedSecret as a library user would use it: policies, grants, refusals."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Template

from strongbox import DatabaseFields, Generation, JsonFields, KeyAccess, ManagedSecret, SecretsKey
from strongbox.keys import consumer_principal
from strongbox.secrets import (
    DATABASE_EXCLUDED_CHARACTERS,
    PROTECTED_ACTIONS,
    PUNCTUATION,
    READ_ACTIONS,
    VALUE_ACTIONS,
    SecretKind,
    _resource_policy,
)
from tests.conftest import feature_flag_app

ACCOUNT = "333333333333"
REASON = "Rotated by the provider's dashboard; tracked by the owning team."
EXEC_ROLE = f"arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-cfn-exec-role-{ACCOUNT}-eu-west-1"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/strongbox-key-admin"


@dataclass
class Fixture:
    stack: cdk.Stack
    key: SecretsKey
    replica_key: kms.IKey

    def secret(self, purpose: str = "stripe-api-key", **overrides: Any) -> ManagedSecret:
        arguments: dict[str, Any] = {
            "application": "payments",
            "environment_name": "prod",
            "purpose": purpose,
            "kind": "api-key",
            "description": "Stripe secret key",
            "owner": "team-payments",
            "encryption_key": self.key.key,
            "rotation_disabled_reason": REASON,
            "replica_regions": [
                secretsmanager.ReplicaRegion(region="eu-central-1", encryption_key=self.replica_key)
            ],
            **overrides,
        }
        return ManagedSecret(
            self.stack, "".join(p.capitalize() for p in purpose.split("-")), **arguments
        )

    def template(self) -> Template:
        return Template.from_stack(self.stack)

    def logical_id(self, construct: Any) -> str:
        return self.stack.get_logical_id(construct.node.default_child)


@pytest.fixture
def fixture() -> Fixture:
    stack = cdk.Stack(
        feature_flag_app(), "Secrets", env=cdk.Environment(account=ACCOUNT, region="eu-west-1")
    )
    key = SecretsKey(
        stack,
        "SecretsKey",
        application="payments",
        environment_name="prod",
        access=KeyAccess(account=ACCOUNT, regions=("eu-west-1", "eu-central-1")),
    )
    replica_key = kms.Key.from_key_arn(stack, "Replica", key.key_arn_in(stack, "eu-central-1"))
    return Fixture(stack, key, replica_key)


def statements_of(template: Template, role_logical_id: str) -> list[dict[str, Any]]:
    policies = template.find_resources(
        "AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role_logical_id}]}}
    )
    (policy,) = policies.values()
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def reader_role(fixture: Fixture) -> iam.Role:
    return iam.Role(
        fixture.stack, "Reader", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com")
    )


def replica_arn(secret_logical_id: str, region: str) -> dict[str, Any]:
    def part(index: int) -> dict[str, Any]:
        return {"Fn::Select": [index, {"Fn::Split": [":", {"Ref": secret_logical_id}]}]}

    return {"Fn::Join": [":", [part(0), part(1), part(2), region, part(4), part(5), part(6)]]}


def key_arn_in(fixture: Fixture, region: str) -> dict[str, Any]:
    key_id = fixture.logical_id(fixture.key.key)
    return {"Fn::Join": ["", [f"arn:aws:kms:{region}:{ACCOUNT}:key/", {"Ref": key_id}]]}


def test_grant_read_scopes_to_the_exact_secret_and_keys_in_every_region(fixture: Fixture) -> None:
    secret = fixture.secret()
    role = reader_role(fixture)
    secret.grant_read(role)
    secret_id = fixture.logical_id(secret.secret)

    assert statements_of(fixture.template(), fixture.logical_id(role)) == [
        {
            "Action": ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
            "Effect": "Allow",
            "Resource": [replica_arn(secret_id, "eu-central-1"), {"Ref": secret_id}],
        },
        {
            "Action": "kms:Decrypt",
            "Condition": {
                "StringEquals": {
                    "kms:ViaService": [
                        "secretsmanager.eu-west-1.amazonaws.com",
                        "secretsmanager.eu-central-1.amazonaws.com",
                    ]
                }
            },
            "Effect": "Allow",
            "Resource": [
                {"Fn::GetAtt": [fixture.logical_id(fixture.key.key), "Arn"]},
                key_arn_in(fixture, "eu-central-1"),
            ],
        },
    ]


def test_grant_read_with_a_version_stage_conditions_only_get_secret_value(fixture: Fixture) -> None:
    secret = fixture.secret()
    role = reader_role(fixture)
    secret.grant_read(role, version_stage="AWSCURRENT")
    secret_id = fixture.logical_id(secret.secret)
    statements = statements_of(fixture.template(), fixture.logical_id(role))

    assert statements[0] == {
        "Action": "secretsmanager:GetSecretValue",
        "Condition": {"StringEquals": {"secretsmanager:VersionStage": "AWSCURRENT"}},
        "Effect": "Allow",
        "Resource": [replica_arn(secret_id, "eu-central-1"), {"Ref": secret_id}],
    }
    assert statements[1] == {
        "Action": "secretsmanager:DescribeSecret",
        "Effect": "Allow",
        "Resource": [replica_arn(secret_id, "eu-central-1"), {"Ref": secret_id}],
    }
    assert statements[2]["Action"] == "kms:Decrypt"


def test_grant_read_checks_the_field_and_stage(fixture: Fixture) -> None:
    database = fixture.secret(
        "db-credentials", kind="database", database=DatabaseFields(dbname="payments")
    )
    role = reader_role(fixture)
    database.grant_read(role, field="password")
    with pytest.raises(
        ValueError,
        match=r"field 'pasword' is not in prod/payments/db-credentials; "
        r"fields: dbname, engine, host, port, username, password",
    ):
        database.grant_read(role, field="pasword")
    with pytest.raises(ValueError, match="an api-key secret is a plain string"):
        fixture.secret().grant_read(role, field="value")
    with pytest.raises(ValueError, match="is not a staging label"):
        database.grant_read(role, version_stage="AWS CURRENT")


def test_secret_never_widens_the_key_policy(fixture: Fixture) -> None:
    fixture.secret()
    fixture.secret("db-credentials", kind="database")
    (key,) = fixture.template().find_resources("AWS::KMS::Key").values()
    sids = [s.get("Sid") for s in key["Properties"]["KeyPolicy"]["Statement"]]
    assert sids == ["KeyAdministration", "UseThroughSecretsManagerAndSsm"]


def test_resource_policy_default(fixture: Fixture) -> None:
    secret = fixture.secret(administrators=[ADMIN])
    (policy,) = fixture.template().find_resources("AWS::SecretsManager::ResourcePolicy").values()
    assert policy["Properties"] == {
        "BlockPublicPolicy": True,
        "SecretId": {"Ref": fixture.logical_id(secret.secret)},
        "ResourcePolicy": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "OnlyAdministratorsDeleteOrChangePolicy",
                    "Effect": "Deny",
                    "Principal": {"AWS": "*"},
                    "Action": [
                        "secretsmanager:DeleteResourcePolicy",
                        "secretsmanager:DeleteSecret",
                        "secretsmanager:PutResourcePolicy",
                        "secretsmanager:RemoveRegionsFromReplication",
                        "secretsmanager:StopReplicationToReplica",
                    ],
                    "Resource": "*",
                    "Condition": {
                        "ArnNotLike": {
                            "aws:PrincipalArn": [f"arn:aws:iam::{ACCOUNT}:root", EXEC_ROLE, ADMIN]
                        }
                    },
                }
            ],
        },
    }


def test_cross_account_reader_roles_get_one_statement_each(fixture: Fixture) -> None:
    fixture.secret(
        cross_account_readers=[
            "arn:aws:iam::444444444444:role/reporting",
            "arn:aws:iam::444444444444:role/team/audit-reader",
        ]
    )
    (policy,) = fixture.template().find_resources("AWS::SecretsManager::ResourcePolicy").values()
    statements = {s["Sid"]: s for s in policy["Properties"]["ResourcePolicy"]["Statement"]}

    assert statements["CrossAccountRead444444444444Reporting"] == {
        "Sid": "CrossAccountRead444444444444Reporting",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::444444444444:role/reporting"},
        "Action": ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
        "Resource": "*",
    }
    assert statements["CrossAccountRead444444444444AuditReader"]["Principal"] == {
        "AWS": "arn:aws:iam::444444444444:role/team/audit-reader"
    }


def test_resource_policy_is_retained_with_its_secret(fixture: Fixture) -> None:
    fixture.secret(removal_policy=cdk.RemovalPolicy.RETAIN)
    (policy,) = fixture.template().find_resources("AWS::SecretsManager::ResourcePolicy").values()
    assert (policy["DeletionPolicy"], policy["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_vpc_endpoint_only_restricts_value_actions_with_exemptions(fixture: Fixture) -> None:
    fixture.secret(replica_regions=[], vpc_endpoint_ids=["vpce-0a1b2c3d4e5f60718"])
    (policy,) = fixture.template().find_resources("AWS::SecretsManager::ResourcePolicy").values()
    statements = {s["Sid"]: s for s in policy["Properties"]["ResourcePolicy"]["Statement"]}

    assert statements["OnlyThroughVpcEndpoints"] == {
        "Sid": "OnlyThroughVpcEndpoints",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        # Metadata calls stay open: AWS Config's service-linked role reads them for Security Hub.
        "Action": [
            "secretsmanager:GetSecretValue",
            "secretsmanager:PutSecretValue",
            "secretsmanager:UpdateSecret",
        ],
        "Resource": "*",
        "Condition": {
            "StringNotEquals": {"aws:SourceVpce": ["vpce-0a1b2c3d4e5f60718"]},
            "ArnNotLike": {"aws:PrincipalArn": [f"arn:aws:iam::{ACCOUNT}:root", EXEC_ROLE]},
            "BoolIfExists": {"aws:PrincipalIsAWSService": "false"},
        },
    }


def test_consumer_statements_for_a_cross_account_role(fixture: Fixture) -> None:
    secret = fixture.secret(cross_account_readers=["444444444444"])
    statements = [
        fixture.stack.resolve(s.to_statement_json()) for s in secret.consumer_statements()
    ]
    assert statements[0] == {
        "Sid": "ReadStrongboxSecret",
        "Effect": "Allow",
        "Action": ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
        "Resource": [
            f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:prod/payments/stripe-api-key-??????",
            f"arn:aws:secretsmanager:eu-central-1:{ACCOUNT}:secret:prod/payments/stripe-api-key-??????",
        ],
    }
    assert statements[1]["Action"] == "kms:Decrypt"
    # Literal, so another account's app can use it; no wider than the secret (see docstring).
    assert statements[1]["Resource"] == [
        f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/*",
        f"arn:aws:kms:eu-central-1:{ACCOUNT}:key/*",
    ]
    assert statements[1]["Condition"]["StringEquals"]["kms:ViaService"] == [
        "secretsmanager.eu-west-1.amazonaws.com",
        "secretsmanager.eu-central-1.amazonaws.com",
    ]


def test_kinds_generate_their_values(fixture: Fixture) -> None:
    fixture.secret("db-credentials", kind="database", database=DatabaseFields(engine="mongodb"))
    fixture.secret(
        "webhook-signing",
        kind="json",
        json_fields=JsonFields(template={"algorithm": "HMAC-SHA256"}, generate_key="signing_key"),
    )
    secrets = {
        r["Properties"]["Name"]: r["Properties"]
        for r in fixture.template().find_resources("AWS::SecretsManager::Secret").values()
    }
    database = secrets["prod/payments/db-credentials"]["GenerateSecretString"]
    assert database["SecretStringTemplate"] == (
        '{"engine": "mongo", "host": "", "port": 27017, "username": "app"}'
    )
    assert database["GenerateStringKey"] == "password"
    webhook = secrets["prod/payments/webhook-signing"]["GenerateSecretString"]
    assert webhook["GenerateStringKey"] == "signing_key"
    assert "ExcludePunctuation" not in webhook
    for properties in secrets.values():
        assert "SecretString" not in properties
        assert properties["ReplicaRegions"][0]["Region"] == "eu-central-1"


def _aws_managed_alias(fixture: Fixture) -> kms.IKey:
    return kms.Alias.from_alias_name(fixture.stack, "AwsManaged", "alias/aws/secretsmanager")


REFUSALS: list[tuple[str, Callable[[Fixture], dict[str, Any]], str]] = [
    (
        "aws-managed key",
        lambda f: {"encryption_key": _aws_managed_alias(f)},
        "encryption_key: the AWS-managed key cannot be used",
    ),
    (
        "replica without a key",
        lambda f: {"replica_regions": [secretsmanager.ReplicaRegion(region="eu-central-1")]},
        "replica_regions: eu-central-1 needs its replica key",
    ),
    ("unknown kind", lambda f: {"kind": "password"}, "kind must be one of database, api-key, json"),
    ("empty description", lambda f: {"description": " "}, "description is required"),
    ("empty owner", lambda f: {"owner": ""}, "owner is required"),
    (
        "mandatory tag override",
        lambda f: {"tags": {"Owner": "x", "CostCentre": "42"}},
        "tags may not override Owner",
    ),
    (
        "database fields on an api-key",
        lambda f: {"database": DatabaseFields()},
        "database applies to kind 'database' only",
    ),
    (
        "generated key in the json template",
        lambda f: {"kind": "json", "json_fields": JsonFields(template={"value": "x"})},
        "json_fields.generate_key 'value' is also in the template",
    ),
    (
        "unknown database engine",
        lambda f: {"kind": "database", "database": DatabaseFields(engine="db2")},
        "database.engine must be one of",
    ),
    (
        "vpc-endpoint-only with replicas",
        lambda f: {"vpc_endpoint_ids": ["vpce-0a1b2c3d4e5f60718"]},
        "vpc_endpoint_ids cannot be combined with replica_regions or cross_account_readers",
    ),
    (
        "vpc-endpoint-only with a cross-account reader",
        lambda f: {
            "replica_regions": [],
            "cross_account_readers": ["444444444444"],
            "vpc_endpoint_ids": ["vpce-0a1b2c3d4e5f60718"],
        },
        "vpc_endpoint_ids cannot be combined with replica_regions or cross_account_readers",
    ),
    (
        "rotation reason too short",
        lambda f: {"rotation_disabled_reason": "later"},
        r"Secrets/StripeApiKey: rotation_disabled_reason must say why this secret does not rotate "
        r"\(at least 20 characters\)",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "message"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_refusals(
    fixture: Fixture, overrides: Callable[[Fixture], dict[str, Any]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        fixture.secret(**overrides(fixture))


def _policy_document_oracle(
    exempt: list[str], readers: list[str], endpoints: list[str]
) -> iam.PolicyDocument:
    """The resource policy built from `iam` objects, as ManagedSecret built it until it wrote
    the JSON itself: what that JSON must still render to."""
    statements = [
        iam.PolicyStatement(
            sid="OnlyAdministratorsDeleteOrChangePolicy",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=list(PROTECTED_ACTIONS),
            resources=["*"],
            conditions={"ArnNotLike": {"aws:PrincipalArn": exempt}},
        )
    ]
    for reader in readers:
        principal, name = consumer_principal(reader)
        statements.append(
            iam.PolicyStatement(
                sid=f"CrossAccountRead{name}",
                principals=[principal],
                actions=list(READ_ACTIONS),
                resources=["*"],
            )
        )
    if endpoints:
        statements.append(
            iam.PolicyStatement(
                sid="OnlyThroughVpcEndpoints",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=list(VALUE_ACTIONS),
                resources=["*"],
                conditions={
                    "StringNotEquals": {"aws:SourceVpce": endpoints},
                    "ArnNotLike": {"aws:PrincipalArn": exempt},
                    "BoolIfExists": {"aws:PrincipalIsAWSService": "false"},
                },
            )
        )
    return iam.PolicyDocument(statements=statements)


@pytest.mark.parametrize(
    "environment",
    [cdk.Environment(account=ACCOUNT, region="eu-west-1"), None],
    ids=["env", "agnostic"],
)
@pytest.mark.parametrize(
    ("readers", "endpoints"),
    [
        ([], []),
        (["444444444444", "arn:aws:iam::555555555555:role/team/reporting-reader"], []),
        (["444444444444", "444444444444"], []),
        ([], ["vpce-0a1b2c3d4e5f60718"]),
    ],
)
def test_resource_policy_json_renders_as_the_policy_document_did(
    environment: cdk.Environment | None, readers: list[str], endpoints: list[str]
) -> None:
    stack = cdk.Stack(feature_flag_app(), "Secrets", env=environment)
    exempt = [f"arn:{stack.partition}:iam::{stack.account}:root", ADMIN]
    written = _resource_policy(
        exempt=exempt, cross_account_readers=readers, vpc_endpoint_ids=endpoints
    )
    oracle = _policy_document_oracle(exempt, readers, endpoints)
    assert stack.resolve(written) == stack.resolve(oracle)


def test_a_database_secret_s_exclusions_add_to_what_rds_refuses() -> None:
    """A database secret's exclude_characters used to replace the defaults, so a password could
    contain / @ " or a space, which RDS refuses as a master password."""
    generation = Generation(exclude_characters="%#").resolved("database")

    assert generation.exclude_characters == DATABASE_EXCLUDED_CHARACTERS + "%#"
    assert Generation().resolved("database").exclude_characters == DATABASE_EXCLUDED_CHARACTERS
    assert Generation(exclude_characters="%#").resolved("api-key").exclude_characters == "%#"


@pytest.mark.parametrize(
    ("generation", "kind", "missing"),
    [
        (Generation(exclude_characters="0123456789"), "api-key", "digits"),
        (
            Generation(exclude_characters=PUNCTUATION, exclude_punctuation=False),
            "json",
            "punctuation",
        ),
    ],
)
def test_a_generation_that_excludes_a_whole_character_type_is_refused(
    generation: Generation, kind: SecretKind, missing: str
) -> None:
    """Secrets Manager puts one character of each included type into a value; excluding all of
    one fails at deploy. Excluding punctuation itself is the way to leave it out."""
    with pytest.raises(ValueError, match=f"leaves no {missing};"):
        generation.resolved(kind)
    assert Generation(exclude_punctuation=True, exclude_characters=PUNCTUATION).resolved("json")


def test_primary_only_read_statements_leave_the_replicas_out(fixture: Fixture) -> None:
    """A SecureString's provider copies a replicated secret in its own region: its grant names
    the primary ARN and key through the primary region's Secrets Manager only (the call-path
    proof counts a readable replica nobody declares reading as an undeclared reader)."""
    secret = fixture.secret()
    resolve = fixture.stack.resolve
    every = [resolve(s.to_statement_json()) for s in secret.read_statements()]
    primary = [resolve(s.to_statement_json()) for s in secret.read_statements(primary_only=True)]

    assert every[0]["Resource"] == [
        {"Ref": fixture.logical_id(secret.secret)},
        replica_arn(fixture.logical_id(secret.secret), "eu-central-1"),
    ]
    assert primary[0]["Resource"] == {"Ref": fixture.logical_id(secret.secret)}
    assert primary[1]["Condition"] == {
        "StringEquals": {"kms:ViaService": ["secretsmanager.eu-west-1.amazonaws.com"]}
    }
    assert "eu-central-1" not in json.dumps(primary)
