"""Config model: the default config parses, and every invalid input names its key path."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsii.errors import JSIIError

from stacks.config import ConfigError, check_cdk_json, parse_config
from tests.conftest import ROOT, default_strongbox_config

Mutation = Callable[[dict[str, Any]], None]


def env(raw: dict[str, Any], name: str) -> dict[str, Any]:
    environment: dict[str, Any] = raw["environments"][name]
    return environment


def test_default_config_parses_into_typed_environments() -> None:
    config = parse_config(default_strongbox_config())

    assert config.application == "payments"
    assert [e.name for e in config.environments] == ["dev", "staging", "prod"]
    prod = config.environment("prod")
    assert (prod.account, prod.region) == ("333333333333", "eu-west-1")
    assert prod.availability_zones == ("eu-west-1a", "eu-west-1b", "eu-west-1c")
    assert prod.replica_regions == ("eu-central-1",)
    assert prod.stage_name == "Strongbox-Prod"
    assert [s.purpose for s in prod.secrets] == [
        "db-credentials",
        "stripe-api-key",
        "session-signing-key",
        "webhook-signing",
        "reporting-api-token",
    ]
    assert prod.regions == ("eu-west-1", "eu-central-1")
    assert prod.key_administrators == ("arn:aws:iam::333333333333:role/strongbox-key-admin",)
    assert prod.cross_account_readers == ("444444444444",)
    assert prod.secrets[4].cross_account_readers == ("444444444444",)
    assert prod.secrets[0].database is not None
    assert prod.secrets[0].database.username == "payments_app"
    assert prod.secrets[3].template == {"algorithm": "HMAC-SHA256"}
    assert prod.secrets[3].generate_key == "signing_key"
    assert prod.secrets[3].generation.length == 64
    session = prod.secrets[2].rotation
    assert (session.schedule, session.window, session.strategy) == ("rate(30 days)", "4h", "token")
    assert session.rotate_immediately is True
    assert all(s.rotation.disabled_reason for s in prod.secrets if not s.rotation.enabled)
    assert config.environment("dev").replica_regions == ()
    assert config.environment("dev").is_development
    assert not prod.is_development


def test_models_are_frozen() -> None:
    config = parse_config(default_strongbox_config())
    with pytest.raises(AttributeError):
        config.environments[0].region = "us-east-1"  # type: ignore[misc]


def test_select_one_environment_or_all() -> None:
    config = parse_config(default_strongbox_config())
    assert [e.name for e in config.select(None)] == ["dev", "staging", "prod"]
    assert [e.name for e in config.select("prod")] == ["prod"]
    with pytest.raises(ConfigError) as error:
        config.select("qa")
    assert str(error.value) == "env: unknown environment 'qa'; configured: dev, prod, staging"


def _set(path: list[str | int], value: Any) -> Mutation:
    def mutate(raw: dict[str, Any]) -> None:
        target: Any = raw
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _delete(path: list[str | int]) -> Mutation:
    def mutate(raw: dict[str, Any]) -> None:
        target: Any = raw
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


def _append_copy(path: list[str | int], index: int) -> Mutation:
    def mutate(raw: dict[str, Any]) -> None:
        target: Any = raw
        for key in path:
            target = target[key]
        target.append(copy.deepcopy(target[index]))

    return mutate


def _copy_from(purpose: str, field: str) -> dict[str, str]:
    """A SecureString source copying `field` of the secret `purpose`."""
    return {"secret": purpose, "field": field}


def _rename_environment(old: str, new: str) -> Mutation:
    def mutate(raw: dict[str, Any]) -> None:
        raw["environments"][new] = raw["environments"].pop(old)

    return mutate


def _rename_consumer(environment: str, old: str, new: str) -> Mutation:
    def mutate(raw: dict[str, Any]) -> None:
        raw["application"] = "payments-and-refunds"  # 20 characters, the longest allowed
        body = raw["environments"][environment]
        body["workload"]["function"]["name"] = new
        for item in [*body["secrets"], *body["parameters"]]:
            item["consumers"] = [new if c == old else c for c in item.get("consumers", [])]

    return mutate


def _master_secret_for_database_credentials(raw: dict[str, Any]) -> None:
    secrets = raw["environments"]["dev"]["secrets"]
    admin = copy.deepcopy(secrets[0])
    admin["purpose"] = "db-admin"
    secrets.append(admin)
    secrets[0]["rotation"]["master_secret"] = "db-admin"  # noqa: S105 - a secret purpose


def _master_secret_of_another_engine(raw: dict[str, Any]) -> None:
    """A second PostgreSQL user rotated by a MySQL secret's user."""
    secrets = raw["environments"]["dev"]["secrets"]
    admin = copy.deepcopy(secrets[0])
    admin.update(purpose="db-admin", consumers=[])
    admin["database"] = {**admin["database"], "engine": "mysql"}
    user = copy.deepcopy(secrets[0])
    user.update(purpose="db-reporting", consumers=[])
    user["rotation"] = {**user["rotation"], "master_secret": "db-admin"}
    secrets += [admin, user]


def _vpc_endpoint_only_without_endpoints(raw: dict[str, Any]) -> None:
    staging = raw["environments"]["staging"]
    staging["secrets"][0]["vpc_endpoint_only"] = True
    staging["network"]["endpoints"] = ["kms", "ssm", "ecr.api", "ecr.dkr", "logs"]


def _shared_with_roles(count: int) -> Mutation:
    """The prod secret shared with `count` more roles of other accounts, each trusted by the key."""

    def mutate(raw: dict[str, Any]) -> None:
        prod = env(raw, "prod")
        prod["cross_account_readers"] += [
            f"arn:aws:iam::{600_000_000_000 + index:012d}:role/partner-reader-{index:02d}"
            + "x" * 40
            for index in range(count)
        ]
        prod["secrets"][4]["cross_account_readers"] = prod["cross_account_readers"]

    return mutate


E: list[str | int] = ["environments"]
INVALID: list[tuple[str, Mutation, str]] = [
    (
        "unknown key",
        _set([*E, "prod", "replicas"], ["eu-central-1"]),
        "environments.prod.replicas: unknown key (did you mean 'replica_regions'?); allowed keys "
        "here: account, alerts, "
        "availability_zones, cross_account_readers, detection, key_administrators, network, "
        "parameters, region, replica_regions, secrets, workload",
    ),
    (
        "wrong type",
        _set([*E, "dev", "account"], 111111111111),
        "environments.dev.account: must be a string, got int 111111111111",
    ),
    (
        "bad account id",
        _set([*E, "dev", "account"], "12345"),
        "environments.dev.account: '12345' is not allowed; expected a 12-digit AWS account id",
    ),
    (
        "unknown region",
        _set([*E, "staging", "region"], "eu-west-7"),
        "environments.staging.region: 'eu-west-7' is not an AWS region known to aws-cdk-lib",
    ),
    (
        "replica region equal to the primary",
        _set([*E, "prod", "replica_regions"], ["eu-west-1"]),
        "environments.prod.replica_regions[0]: 'eu-west-1' is the environment's primary region; "
        "a replica region must differ",
    ),
    (
        "replica region in another partition",
        _set([*E, "prod", "replica_regions"], ["eu-central-1", "cn-north-1"]),
        "environments.prod.replica_regions[1]: 'cn-north-1' is in the aws-cn partition; "
        "Strongbox supports aws regions only",
    ),
    (
        "region outside the aws partition",
        _set([*E, "dev", "region"], "us-gov-west-1"),
        "environments.dev.region: 'us-gov-west-1' is in the aws-us-gov partition; Strongbox "
        "supports aws regions only",
    ),
    (
        "duplicate replica region",
        _set([*E, "prod", "replica_regions"], ["eu-central-1", "eu-central-1"]),
        "environments.prod.replica_regions[1]: duplicates environments.prod.replica_regions[0] "
        "('eu-central-1')",
    ),
    (
        "duplicate secret name",
        _append_copy([*E, "prod", "secrets"], 0),
        "environments.prod.secrets[5]: duplicates environments.prod.secrets[0] ('db-credentials')",
    ),
    (
        "duplicate parameter name",
        _append_copy([*E, "dev", "parameters"], 1),
        "environments.dev.parameters[3]: duplicates environments.dev.parameters[1] ('log-level')",
    ),
    (
        "empty availability zones",
        _set([*E, "dev", "availability_zones"], []),
        "environments.dev.availability_zones: must list at least one entry",
    ),
    (
        "availability zone of another region",
        _set([*E, "dev", "availability_zones"], ["eu-west-1a", "us-east-1b"]),
        "environments.dev.availability_zones[1]: 'us-east-1b' is not an availability zone of "
        "eu-west-1 (e.g. eu-west-1a; no region has a zone lettered after f)",
    ),
    (
        "availability zone lettered past any region's",
        _set([*E, "dev", "availability_zones"], ["eu-west-1a", "eu-west-1z"]),
        "environments.dev.availability_zones[1]: 'eu-west-1z' is not an availability zone of "
        "eu-west-1 (e.g. eu-west-1a; no region has a zone lettered after f)",
    ),
    (
        "missing required key",
        _delete([*E, "dev", "region"]),
        "environments.dev.region: is required",
    ),
    (
        "missing application",
        _delete(["application"]),
        "application: is required",
    ),
    (
        "no environments",
        _set(E, {}),
        "environments: must define at least one environment",
    ),
    (
        "environment name not lowercase",
        _rename_environment("prod", "Prod"),
        "environments.Prod: 'Prod' is not allowed; expected lowercase letters, digits and '-', "
        "starting with a letter, at most 20, with no '-' last or twice in a row",
    ),
    (
        "unknown secret kind",
        _set([*E, "prod", "secrets", 1, "kind"], "password"),
        "environments.prod.secrets[1].kind: 'password' is not allowed; allowed values: "
        "database, api-key, json",
    ),
    (
        "empty description",
        _set([*E, "prod", "secrets", 0, "description"], "  "),
        "environments.prod.secrets[0].description: must not be empty",
    ),
    (
        "rotation with neither schedule nor reason",
        _set([*E, "staging", "secrets", 0, "rotation"], {}),
        "environments.staging.secrets[0].rotation: set exactly one of 'schedule' (rotation on) or "
        "'disabled_reason' (why it is off)",
    ),
    (
        "rotation reason too short",
        _set([*E, "staging", "secrets", 0, "rotation"], {"disabled_reason": "later"}),
        "environments.staging.secrets[0].rotation.disabled_reason: must explain why rotation is "
        "off in at least 20 characters; it becomes the compliance acknowledgment",
    ),
    (
        "rotation more often than every 4 hours",
        _set([*E, "prod", "secrets", 0, "rotation"], {"schedule": "rate(2 hours)"}),
        "environments.prod.secrets[0].rotation.schedule: 'rate(2 hours)' is out of range; Secrets "
        "Manager rotates at most every 4 hours and at least every 1000 days",
    ),
    (
        "rotation less often than every 1000 days",
        _set([*E, "prod", "secrets", 0, "rotation"], {"schedule": "rate(1001 days)"}),
        "environments.prod.secrets[0].rotation.schedule: 'rate(1001 days)' is out of range; "
        "Secrets Manager rotates at most every 4 hours and at least every 1000 days",
    ),
    (
        "cron with five fields",
        _set([*E, "prod", "secrets", 0, "rotation"], {"schedule": "cron(0 4 * * ?)"}),
        "environments.prod.secrets[0].rotation.schedule: 'cron(0 4 * * ?)': a cron expression has "
        "6 fields (min hour dom month dow year)",
    ),
    (
        "cron naming both day fields",
        _set([*E, "prod", "secrets", 0, "rotation"], {"schedule": "cron(0 4 * * SUN *)"}),
        "environments.prod.secrets[0].rotation.schedule: 'cron(0 4 * * SUN *)': exactly one of "
        "day-of-month and day-of-week must be '?'",
    ),
    (
        "cron minutes not 0",
        _set([*E, "prod", "secrets", 0, "rotation"], {"schedule": "cron(30 4 ? * SUN *)"}),
        "environments.prod.secrets[0].rotation.schedule: 'cron(30 4 ? * SUN *)': minutes must be "
        "0 (Secrets Manager opens rotation windows on the hour)",
    ),
    (
        "cron year not *",
        _set([*E, "prod", "secrets", 0, "rotation"], {"schedule": "cron(0 4 ? * SUN 2027)"}),
        "environments.prod.secrets[0].rotation.schedule: 'cron(0 4 ? * SUN 2027)': year must be * "
        "(Secrets Manager rotates at least once a year)",
    ),
    (
        "cron hour out of range",
        _set([*E, "prod", "secrets", 0, "rotation"], {"schedule": "cron(0 24 ? * SUN *)"}),
        "environments.prod.secrets[0].rotation.schedule: 'cron(0 24 ? * SUN *)': hours '24' is not "
        "allowed; expected 0-23 with , - * / (and ? L in the day fields)",
    ),
    (
        "cron day of week unknown",
        _set([*E, "prod", "secrets", 0, "rotation"], {"schedule": "cron(0 4 ? * SUNDAY *)"}),
        "environments.prod.secrets[0].rotation.schedule: 'cron(0 4 ? * SUNDAY *)': day-of-week "
        "'SUNDAY' is not allowed; expected 1-7 or SUN-SAT with , - * / (and ? L in the day fields)",
    ),
    (
        "rotation window past midnight",
        _set(
            [*E, "prod", "secrets", 0, "rotation"],
            {"schedule": "cron(0 22 ? * SUN *)", "window": "4h"},
        ),
        "environments.prod.secrets[0].rotation.window: '4h' would run past midnight UTC or into "
        "the next window of 'cron(0 22 ? * SUN *)'; Secrets Manager refuses a window that does "
        "(start hour + window <= 24)",
    ),
    (
        "not a schedule",
        _set([*E, "prod", "secrets", 0, "rotation"], {"schedule": "monthly"}),
        "environments.prod.secrets[0].rotation.schedule: 'monthly' is not a schedule; expected "
        "'rate(N days)', 'rate(N hours)' or 'cron(...)'",
    ),
    (
        "rotation window longer than the schedule",
        _set([*E, "prod", "secrets", 2, "rotation"], {"schedule": "rate(6 hours)", "window": "8h"}),
        "environments.prod.secrets[2].rotation.window: '8h' must be shorter than the schedule "
        "'rate(6 hours)'",
    ),
    (
        "rotation window out of range",
        _set([*E, "prod", "secrets", 2, "rotation", "window"], "48h"),
        "environments.prod.secrets[2].rotation.window: '48h' is not allowed; expected hours from "
        "'1h' to '24h'",
    ),
    (
        "rotation options on a disabled rotation",
        _set([*E, "prod", "secrets", 1, "rotation", "window"], "2h"),
        "environments.prod.secrets[1].rotation.window: applies only when rotation has a schedule",
    ),
    (
        "hosted rotation for an api key",
        _set([*E, "prod", "secrets", 2, "rotation", "strategy"], "hosted"),
        "environments.prod.secrets[2].rotation.strategy: 'hosted' does not rotate a 'api-key' "
        "secret; database secrets use 'hosted' (AWS hosted rotation), others 'token'",
    ),
    (
        "token rotation for a database",
        _set(
            [*E, "prod", "secrets", 0, "rotation"],
            {"schedule": "rate(30 days)", "strategy": "token"},
        ),
        "environments.prod.secrets[0].rotation.strategy: 'token' does not rotate a 'database' "
        "secret; database secrets use 'hosted' (AWS hosted rotation), others 'token'",
    ),
    (
        "master secret that is not a database secret",
        _set(
            [*E, "prod", "secrets", 0, "rotation"],
            {"schedule": "rate(30 days)", "master_secret": "stripe-api-key"},
        ),
        "environments.prod.secrets[0].rotation.master_secret: 'stripe-api-key' is not another "
        "database secret of this environment",
    ),
    (
        "hosted rotation of a replicated secret",
        _set([*E, "prod", "secrets", 0, "replicate"], True),
        "environments.prod.secrets[0].rotation: hosted rotation cannot re-encrypt the rotated "
        "value for the replica regions (eu-central-1): the role it runs as is granted only the "
        "primary key, so replicas would keep the old password; allowed: replicate false, or "
        "disabled_reason instead of schedule",
    ),
    (
        "cross-account reader is the environment's own account",
        _set([*E, "prod", "cross_account_readers"], ["333333333333"]),
        "environments.prod.cross_account_readers[0]: is the environment's own account; list "
        "other accounts",
    ),
    (
        "unknown endpoint service",
        _set([*E, "dev", "network", "endpoints"], ["secretsmanager", "dynamodb"]),
        "environments.dev.network.endpoints[1]: 'dynamodb' is not allowed; allowed values: "
        "secretsmanager, kms, ssm, ecr.api, ecr.dkr, logs",
    ),
    (
        "desired count out of range",
        _set([*E, "prod", "workload", "desired_count"], -1),
        "environments.prod.workload.desired_count: -1 is out of range; allowed: 0 to 100",
    ),
    (
        "bad alert email",
        _set([*E, "prod", "alerts", "emails"], ["secops"]),
        "environments.prod.alerts.emails[0]: 'secops' is not allowed; expected an email address",
    ),
    (
        "literal secret value",
        _set([*E, "prod", "secrets", 1, "value"], "sk_live_123"),
        "environments.prod.secrets[1].value: a secret never takes a literal value: it would be "
        "stored in plaintext in cdk.json and the template; Strongbox generates the value",
    ),
    (
        "password in a json template",
        _set([*E, "prod", "secrets", 3, "template", "password"], "hunter2"),
        "environments.prod.secrets[3].template.password: looks like a secret value; name it in "
        "generate_key instead",
    ),
    (
        "generated key also in the template",
        _set([*E, "prod", "secrets", 3, "generate_key"], "algorithm"),
        "environments.prod.secrets[3].generate_key: 'algorithm' is also in template",
    ),
    (
        "database fields on an api-key",
        _set([*E, "prod", "secrets", 1, "database"], {"engine": "postgres"}),
        "environments.prod.secrets[1].database: applies to kind 'database' only",
    ),
    (
        "unknown database engine",
        _set([*E, "prod", "secrets", 0, "database", "engine"], "db2"),
        "environments.prod.secrets[0].database.engine: 'db2' is not allowed; allowed values: "
        "postgres, mysql, mariadb, oracle, sqlserver, redshift, mongodb",
    ),
    (
        "generated value too short",
        _set([*E, "prod", "secrets", 1, "generation"], {"length": 8}),
        "environments.prod.secrets[1].generation.length: 8 is out of range; allowed: 16 to 4096",
    ),
    (
        "mandatory tag overridden",
        _set([*E, "prod", "secrets", 1, "tags"], {"Owner": "someone-else"}),
        "environments.prod.secrets[1].tags.Owner: is set by Strongbox; it cannot be overridden",
    ),
    (
        "database user name PostgreSQL reserves",
        _set([*E, "prod", "secrets", 0, "database", "username"], "user"),
        "environments.prod.secrets[0].database.username: 'user' is a word PostgreSQL reserves (or "
        "RDS uses itself), which RDS refuses as a master user or database name; choose another",
    ),
    (
        "database name RDS uses itself",
        _set([*E, "prod", "secrets", 0, "database", "dbname"], "rdsadmin"),
        "environments.prod.secrets[0].database.dbname: 'rdsadmin' is a word PostgreSQL reserves "
        "(or RDS uses itself), which RDS refuses as a master user or database name; choose another",
    ),
    (
        "database port RDS refuses",
        _set([*E, "prod", "secrets", 0, "database", "port"], 80),
        "environments.prod.secrets[0].database.port: 80 is out of range; allowed: 1150 to 65535",
    ),
    (
        "cross-account readers overflowing the key policy",
        _set(
            [*E, "prod", "cross_account_readers"],
            ["444444444444", *(str(400000000000 + i) for i in range(89))],
        ),
        "environments.prod.cross_account_readers: 90 readers make the key policy about 33,213 "
        "bytes, over KMS's limit of 32,768; share these secrets with fewer accounts or roles (an "
        "account id covers all of its roles)",
    ),
    (
        "allowed readers overflowing the alert rule's pattern",
        _set(
            [*E, "prod", "alerts", "allowed_readers"],
            [f"arn:aws:iam::333333333333:role/ops/reader-{i:03d}" for i in range(17)],
        ),
        "environments.prod.alerts.allowed_readers: the unexpected-read rule would name 23 roles in "
        "a pattern of about 2,074 characters, over EventBridge's 2,048; list fewer roles (or raise "
        "the quota and the limit together)",
    ),
    (
        "secret description longer than Secrets Manager takes",
        _set([*E, "prod", "secrets", 1, "description"], "d" * 2049),
        "environments.prod.secrets[1].description: is 2,049 characters; Secrets Manager takes at "
        "most 2,048",
    ),
    (
        "parameter description longer than Parameter Store takes",
        _set([*E, "prod", "parameters", 1, "description"], "d" * 1025),
        "environments.prod.parameters[1].description: is 1,025 characters; Parameter Store takes "
        "at most 1,024",
    ),
    (
        "owner that is not a tag value",
        _set([*E, "prod", "secrets", 1, "owner"], "team#payments"),
        "environments.prod.secrets[1].owner: 'team#payments' is not a tag value; allowed: at most "
        "256 letters, digits, spaces and _ . : / = + - @",
    ),
    (
        "tag key too long",
        _set([*E, "prod", "secrets", 1, "tags"], {"k" * 129: "v"}),
        f"environments.prod.secrets[1].tags.{'k' * 129}: '{'k' * 40}' is not a tag key; allowed: "
        "at most 128 letters, digits, spaces and _ . : / = + - @",
    ),
    (
        # Split across Parameters stacks (stacks/placement.py), an environment's parameters are
        # bounded by Parameter Store's quota; the shipped three are Standard too.
        "more Standard parameters than Parameter Store holds",
        lambda raw: env(raw, "prod")["parameters"].extend(
            {"name": f"extra/p{i:04d}", "type": "String", "value": "x"} for i in range(9_998)
        ),
        "environments.prod.parameters: 10,001 parameters of the Standard tier, over the 10,000 "
        "Parameter Store holds in one account and region (shared with everything else there); "
        "keep fewer, or put some in another account or region",
    ),
    (
        "tag key reserved for AWS",
        _set([*E, "prod", "secrets", 1, "tags"], {"aws:team": "payments"}),
        "environments.prod.secrets[1].tags.aws:team: tag keys starting 'aws:' are reserved for AWS",
    ),
    (
        "String parameter holding a dynamic reference",
        _set(
            [*E, "prod", "parameters", 1, "value"],
            "{{resolve:secretsmanager:prod/payments/stripe-api-key}}",
        ),
        "environments.prod.parameters[1].value: a dynamic reference ({{resolve:...}}) would be "
        "resolved by CloudFormation and stored in plaintext in this String; use a SecureString "
        'copied from the secret (source: {"secret": ..., "field": ...})',
    ),
    (
        "secret shared with an account the key does not trust",
        _set([*E, "prod", "secrets", 4, "cross_account_readers"], ["555555555555"]),
        "environments.prod.secrets[4].cross_account_readers[0]: '555555555555' is not in "
        "environments.prod.cross_account_readers; the key policy must trust a reader before a "
        "secret can share with it",
    ),
    (
        "cross-account reader that is neither account nor role",
        _set([*E, "prod", "cross_account_readers"], ["arn:aws:iam::444444444444:user/bob"]),
        "environments.prod.cross_account_readers[0]: 'arn:aws:iam::444444444444:user/bob' is not "
        "allowed; expected a 12-digit account id or an IAM role ARN",
    ),
    (
        "cross-account reader role in the own account",
        _set([*E, "prod", "cross_account_readers"], ["arn:aws:iam::333333333333:role/reader"]),
        "environments.prod.cross_account_readers[0]: is the environment's own account; list "
        "other accounts",
    ),
    (
        "key administrator in another account",
        _set([*E, "prod", "key_administrators"], ["arn:aws:iam::444444444444:role/admin"]),
        "environments.prod.key_administrators[0]: must be a role in the environment's account "
        "333333333333",
    ),
    (
        "key administrator that is not a role",
        _set([*E, "prod", "key_administrators"], ["admin"]),
        "environments.prod.key_administrators[0]: 'admin' is not allowed; expected an IAM role "
        "ARN, arn:aws:iam::<account>:role/<path/><name of at most 64>",
    ),
    (
        "vpc-endpoint-only without endpoints",
        _vpc_endpoint_only_without_endpoints,
        "environments.staging.secrets[0].vpc_endpoint_only: needs a Secrets Manager endpoint for "
        "callers to come through: list 'secretsmanager' in environments.staging.network.endpoints "
        "or existing endpoints in environments.staging.network.vpc_endpoint_ids",
    ),
    (
        "vpc-endpoint-only on a replicated secret",
        _set([*E, "prod", "secrets", 1, "vpc_endpoint_only"], True),
        "environments.prod.secrets[1].vpc_endpoint_only: cannot be combined with replication or "
        "cross_account_readers: endpoint ids are regional and the policy is replicated; set "
        "replicate to false and share nothing",
    ),
    (
        "bad vpc endpoint id",
        _set([*E, "staging", "network", "vpc_endpoint_ids"], ["vpc-123"]),
        "environments.staging.network.vpc_endpoint_ids[0]: 'vpc-123' is not allowed; expected a "
        "VPC endpoint id (vpce-...)",
    ),
    (
        "secret consumer that is not the workload's",
        _set([*E, "dev", "secrets", 1, "consumers"], ["api", "billing"]),
        "environments.dev.secrets[1].consumers[1]: 'billing' is not a consumer here; allowed: one "
        "of the workload's consumers (api, reconciler, batch)",
    ),
    (
        "consumer without a workload",
        _delete([*E, "staging", "workload"]),
        "environments.staging.secrets[0].consumers[0]: 'api' is not a consumer here; allowed: "
        "nothing: the environment has no workload",
    ),
    (
        "parameter consumer that is not the workload's",
        _set([*E, "prod", "parameters", 1, "consumers"], ["batch", "cron"]),
        "environments.prod.parameters[1].consumers[1]: 'cron' is not a consumer here; allowed: "
        "one of the workload's consumers (api, reconciler, batch)",
    ),
    (
        "database credentials that are not a secret",
        _set([*E, "prod", "workload", "database", "credentials"], "db-password"),
        "environments.prod.workload.database.credentials: 'db-password' is not a database secret "
        "of this environment",
    ),
    (
        "database credentials of an api-key",
        _set([*E, "prod", "workload", "database", "credentials"], "stripe-api-key"),
        "environments.prod.workload.database.credentials: 'stripe-api-key' is not a database "
        "secret of this environment",
    ),
    (
        "database credentials of another engine",
        _set([*E, "dev", "secrets", 0, "database", "engine"], "mysql"),
        "environments.dev.workload.database.credentials: 'db-credentials' is a mysql secret; the "
        "database is postgres",
    ),
    (
        "database credentials rotated by a master secret",
        _master_secret_for_database_credentials,
        "environments.dev.workload.database.credentials: 'db-credentials' holds the database's "
        "master user, which rotates itself (single user); remove its rotation.master_secret",
    ),
    (
        "database credentials the service does not read",
        _set([*E, "dev", "secrets", 0, "consumers"], ["batch"]),
        "environments.dev.workload.database.credentials: 'db-credentials' must list 'api' in its "
        "consumers: the service is what connects to the database",
    ),
    (
        "database without credentials",
        _delete([*E, "dev", "workload", "database", "credentials"]),
        "environments.dev.workload.database.credentials: is required",
    ),
    (
        "database engine not supported",
        _set([*E, "dev", "workload", "database", "engine"], "mysql"),
        "environments.dev.workload.database.engine: 'mysql' is not allowed; allowed values: "
        "postgres",
    ),
    (
        "database instance type",
        _set([*E, "dev", "workload", "database", "instance_type"], "db.t4g.micro!"),
        "environments.dev.workload.database.instance_type: 'db.t4g.micro!' is not allowed; "
        "expected an instance type such as t4g.micro",
    ),
    (
        "function named like the service",
        _set([*E, "dev", "workload", "function", "name"], "api"),
        "environments.dev.workload.function.name: must differ from the service's name",
    ),
    (
        "instance named like the function",
        _set([*E, "dev", "workload", "instance", "name"], "reconciler"),
        "environments.dev.workload.instance.name: must differ from the service's and the "
        "function's names",
    ),
    (
        "role name over IAM's limit",
        _rename_consumer("staging", "reconciler", "r" + "e" * 30),
        "environments.staging.workload.function.name: makes the role name "
        "payments-and-refunds-staging-reeeeeeeeeeeeeeeeeeeeeeeeeeeeee-function longer than "
        "IAM's 64 characters",
    ),
    (
        "function cache ttl over the extension's limit",
        _set([*E, "dev", "workload", "function", "cache_ttl_seconds"], 301),
        "environments.dev.workload.function.cache_ttl_seconds: 301 is out of range; allowed: 0 to "
        "300",
    ),
    (
        "secret purposes that differ only in punctuation",
        _set([*E, "dev", "secrets", 1, "purpose"], "db--credentials"),
        "environments.dev.secrets[1]: 'db--credentials' and environments.dev.secrets[0] "
        "('db-credentials') both become the construct id DbCredentials; names must differ in "
        "more than case and punctuation",
    ),
    (
        "parameter names that differ only in punctuation",
        _set([*E, "dev", "parameters", 1, "name"], "feature_flags"),
        "environments.dev.parameters[1]: 'feature_flags' and environments.dev.parameters[0] "
        "('feature-flags') both become the construct id FeatureFlags; names must differ in more "
        "than case and punctuation",
    ),
    (
        "SecureString copy of a field that is not text at deploy time",
        _set([*E, "dev", "parameters", 2, "source"], _copy_from("db-credentials", "port")),
        "environments.dev.parameters[2].source.field: 'port' cannot be copied from "
        "'db-credentials'; allowed: engine, username, dbname, password",
    ),
    (
        "pipeline flag of the wrong type",
        _set(["pipeline", "enabled"], "yes"),
        'pipeline.enabled: must be true or false, got str "yes"',
    ),
    (
        "service reading more secrets than its role's policies hold",
        lambda raw: env(raw, "prod")["secrets"].extend(
            {
                "purpose": f"partner-{i:03d}",
                "kind": "api-key",
                "owner": "team-partners",
                "description": "A partner's key",
                "rotation": {"disabled_reason": "Rotated by the partner in their own portal."},
                "consumers": ["api"],
            }
            for i in range(540)
        ),
        "environments.prod.workload.service: 545 secrets name 'api' as a consumer; granting them "
        "takes at least 11 managed policies on its role, over the 10 IAM attaches to one role by "
        "default; split them across consumers",
    ),
    (
        "parameter name over Parameter Store's length with its ARN",
        lambda raw: env(raw, "prod")["parameters"].append(
            {"name": "level/" + "x" * 960, "type": "String", "value": "on"}
        ),
        "environments.prod.parameters[3].name: /payments/prod/level/xxxxxxxxxxxxxxxxxxx... makes "
        "the ARN 1,025 characters; Parameter Store takes at most 1,011, the ARN before the name "
        "included",
    ),
    (
        "secret shared with more roles than its resource policy holds",
        _shared_with_roles(70),
        "environments.prod.secrets[4].cross_account_readers: 71 readers make the secret's "
        "resource policy 22,603 characters, over Secrets Manager's 20,480; share with fewer roles "
        "(an account id covers all of its roles)",
    ),
    (
        "function in a region without the extension's layer",
        lambda raw: env(raw, "dev").update(
            region="ap-northeast-3", availability_zones=["ap-northeast-3a", "ap-northeast-3b"]
        ),
        "environments.dev.workload.function: reads through the Parameters and Secrets extension, "
        "which has no arm64 layer in ap-northeast-3 (aws-cdk-lib's region table); leave the "
        "function out here",
    ),
    (
        "master secret of another engine",
        _master_secret_of_another_engine,
        "environments.dev.secrets[5].rotation.master_secret: names a mysql secret ('db-admin') "
        "to rotate a postgres one; the user that rotates it must be of the same engine",
    ),
    (
        "consumer misspelt",
        _set([*E, "dev", "secrets", 1, "consumers"], ["api", "reconciller"]),
        "environments.dev.secrets[1].consumers[1]: 'reconciller' is not a consumer here (did you "
        "mean 'reconciler'?); allowed: one of the workload's consumers (api, reconciler, batch)",
    ),
    (
        "database credentials misspelt",
        _set([*E, "prod", "workload", "database", "credentials"], "db-credential"),
        "environments.prod.workload.database.credentials: 'db-credential' is not a database "
        "secret of this environment (did you mean 'db-credentials'?)",
    ),
    (
        "wave naming a misspelt environment",
        lambda raw: raw["pipeline"].update(enabled=True, waves=[["dev"], ["stagign"], ["prod"]]),
        "pipeline.waves[1][0]: unknown environment 'stagign' (did you mean 'staging'?); "
        "configured: dev, staging, prod",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "message"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_config_names_the_key_path(mutate: Mutation, message: str) -> None:
    raw = copy.deepcopy(default_strongbox_config())
    mutate(raw)

    with pytest.raises(ConfigError) as error:
        parse_config(raw)

    assert str(error.value) == message


def test_database_rotation_defaults_to_hosted() -> None:
    raw = copy.deepcopy(default_strongbox_config())
    env(raw, "prod")["secrets"][0]["rotation"] = {"schedule": "cron(0 4 ? * SUN *)"}
    rotation = parse_config(raw).environment("prod").secrets[0].rotation
    assert (rotation.strategy, rotation.schedule, rotation.window) == (
        "hosted",
        "cron(0 4 ? * SUN *)",
        None,
    )


def test_missing_strongbox_block() -> None:
    with pytest.raises(ConfigError, match=r"^strongbox: is missing from cdk.json context$"):
        parse_config(None)


def test_strongbox_block_given_as_json_string_on_the_command_line() -> None:
    with pytest.raises(ConfigError, match=r"^strongbox: is not valid JSON"):
        parse_config("{not json")
    assert (
        parse_config(
            '{"application": "x", "environments": {"dev": {"account": '
            '"111111111111", "region": "eu-west-1", "availability_zones": '
            '["eu-west-1a"]}}}'
        )
        .environments[0]
        .name
        == "dev"
    )


def test_duplicate_environment_in_cdk_json_is_named(tmp_path: Path) -> None:
    # Plain JSON keeps the last of two "prod" keys silently; the strict reader refuses it.
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(
        '{"context": {"strongbox": {"application": "payments", "environments": {'
        '"prod": {"account": "333333333333"}, "dev": {}, "prod": {"account": "444444444444"}}}}}'
    )
    with pytest.raises(ConfigError) as error:
        check_cdk_json(cdk_json)
    assert str(error.value) == (
        "environments.prod: is defined more than once in cdk.json; keep one definition"
    )


def test_duplicate_key_inside_a_secret_is_named(tmp_path: Path) -> None:
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(
        '{"context": {"strongbox": {"environments": {"dev": {"secrets": '
        '[{"purpose": "a", "kind": "json", "kind": "api-key"}]}}}}}'
    )
    with pytest.raises(ConfigError) as error:
        check_cdk_json(cdk_json)
    assert error.value.path == "environments.dev.secrets[0].kind"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"context": {"strongbox": {}}, "context": {"@aws-cdk/core:flag": true}}',
            "context: is defined more than once in cdk.json; keep one definition",
        ),
        (
            '{"context": {"strongbox": {}, "strongbox": {}}}',
            "context.strongbox: is defined more than once in cdk.json; keep one definition",
        ),
        ('{"context": [1, 2]}', "context: must be an object in cdk.json, got list [1, 2]"),
    ],
    ids=["context-twice", "strongbox-twice", "context-list"],
)
def test_cdk_json_shape_outside_the_block_is_named(tmp_path: Path, text: str, message: str) -> None:
    # The CLI keeps the last of two "context" keys, which would drop every feature flag.
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(text)
    with pytest.raises(ConfigError) as error:
        check_cdk_json(cdk_json)
    assert str(error.value) == message


def test_the_shipped_cdk_json_has_no_duplicate_keys() -> None:
    from tests.conftest import ROOT

    check_cdk_json(ROOT / "cdk.json")


def test_readme_lists_every_rejected_input_with_its_message() -> None:
    readme = (ROOT / "docs" / "configuration.md").read_text()
    for name, _, message in INVALID:
        assert f"| {name} | `{message}` |" in readme, f"docs/configuration.md is missing {name!r}"


@pytest.mark.parametrize(
    "error",
    [
        ValueError("generation.length must be 16-4096, got 8"),
        JSIIError(
            "There is already a Construct with name 'LogLevel' in Construct [Parameters]\n"
            "    at Node.addChild (/tmp/jsii-kernel/constructs/lib/construct.js:1:1)"
        ),
    ],
    ids=["construct-refusal", "jsii-error"],
)
def test_a_construct_refusing_its_input_gives_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], error: Exception
) -> None:
    """What config validation cannot see (a construct's own checks, a jsii error) still ends in
    one line naming the problem, never a traceback."""
    import app

    def refuse(_: object) -> None:
        raise error

    monkeypatch.setattr(app, "build_app", refuse)

    assert app.main() == 1
    first_line = str(error).splitlines()[0]
    assert capsys.readouterr().err == f"strongbox: cannot build the app: {first_line}\n"
