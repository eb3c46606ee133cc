"""Typed, frozen Strongbox configuration parsed from the `strongbox` block of cdk.json context."""

from __future__ import annotations

import ipaddress
import itertools
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from strongbox.alerts import EVENT_PATTERN_LIMIT, unexpected_read_pattern
from strongbox.credentials import credential_reason
from strongbox.keys import KEY_POLICY_LIMIT, key_policy_size
from strongbox.naming import pascal_case
from strongbox.secrets import DATABASE_ENGINES as SECRET_DATABASE_ENGINES
from strongbox.secrets import MANDATORY_TAGS, MAX_LENGTH, MIN_LENGTH, SECRET_KINDS, SecretKind

T = TypeVar("T")

PARAMETER_TYPES = ("String", "StringList", "SecureString")
PARAMETER_TIERS = ("Standard", "Advanced")
PARAMETER_POLICY_TYPES = ("Expiration", "ExpirationNotification", "NoChangeNotification")
MAX_ROLE_NAME = 64
MAX_PARAMETER_NAME = 1011  # characters of the full name, /<app>/<env>/... included
MAX_PARAMETER_DEPTH = 15  # levels of the hierarchy
MAX_STANDARD_VALUE = 4096  # bytes; larger values need the advanced tier (up to 8 KB)
MAX_ADVANCED_VALUE = 8192
ENDPOINT_SERVICES = ("secretsmanager", "kms", "ssm", "ecr.api", "ecr.dkr", "logs")
DATABASE_ENGINES = ("postgres",)

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,19}\Z", re.ASCII)
_PURPOSE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}\Z", re.ASCII)
_ACCOUNT = re.compile(r"^[0-9]{12}\Z", re.ASCII)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+\Z", re.ASCII)
_RATE = re.compile(r"^rate\((\d{1,6}) (hour|hours|day|days)\)\Z", re.ASCII)
_WINDOW = re.compile(r"^(\d{1,2})h\Z", re.ASCII)
_CRON = re.compile(r"^cron\(([^()]+)\)\Z", re.ASCII)
_PARAMETER_NAME = re.compile(r"^[a-zA-Z0-9_.-]+(/[a-zA-Z0-9_.-]+)*\Z", re.ASCII)
_SERVICE = re.compile(r"^[a-z][a-z0-9-]{0,30}\Z", re.ASCII)
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]{1,512}\Z", re.ASCII)
_VPC_ENDPOINT_ID = re.compile(r"^vpce-[0-9a-f]{8,17}\Z", re.ASCII)
_VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}\Z", re.ASCII)
_ECR_REPOSITORY = re.compile(
    r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*\Z", re.ASCII
)
_IMAGE_TAG = re.compile(r"^(?!latest\Z)[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z", re.ASCII)
_SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{8,17}\Z", re.ASCII)
_ROUTE_TABLE_ID = re.compile(r"^rtb-[0-9a-f]{8,17}\Z", re.ASCII)
_DATABASE_USER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}\Z", re.ASCII)
_CONNECTION_ARN = re.compile(
    r"^arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:\d{12}:connection/"
    r"[0-9a-f-]{36}\Z",
    re.ASCII,
)
_CONNECTION_HELP = (
    "a CodeConnections ARN, arn:aws:codeconnections:<region>:<account>:connection/<id>"
)
_CONNECTED_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}\Z", re.ASCII)
_CODECOMMIT_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]{1,100}\Z", re.ASCII)
_BRANCH = re.compile(r"^(?!/)(?!.*\.\.)[A-Za-z0-9._/-]{1,255}(?<!/)\Z", re.ASCII)
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+\Z", re.ASCII)
_JSON_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}\Z", re.ASCII)
# Keys that would put a secret value into cdk.json and from there into the template.
_LITERAL_VALUE_KEYS = ("value", "secret_string", "password", "secret")

RDS_PORTS = (1150, 65535)
# PostgreSQL's reserved key words (its grammar's RESERVED_KEYWORD list) and the names RDS and
# PostgreSQL already use: RDS refuses each as a master user name or database name.
POSTGRES_RESERVED_NAMES = frozenset(
    [
        "all",
        "analyse",
        "analyze",
        "and",
        "any",
        "array",
        "as",
        "asc",
        "asymmetric",
        "both",
        "case",
        "cast",
        "check",
        "collate",
        "column",
        "constraint",
        "create",
        "current_catalog",
        "current_date",
        "current_role",
        "current_time",
        "current_timestamp",
        "current_user",
        "default",
        "deferrable",
        "desc",
        "distinct",
        "do",
        "else",
        "end",
        "except",
        "false",
        "fetch",
        "for",
        "foreign",
        "from",
        "grant",
        "group",
        "having",
        "in",
        "initially",
        "intersect",
        "into",
        "lateral",
        "leading",
        "limit",
        "localtime",
        "localtimestamp",
        "not",
        "null",
        "offset",
        "on",
        "only",
        "or",
        "order",
        "placing",
        "primary",
        "references",
        "returning",
        "select",
        "session_user",
        "some",
        "symmetric",
        "system_user",
        "table",
        "then",
        "to",
        "trailing",
        "true",
        "union",
        "unique",
        "user",
        "using",
        "variadic",
        "when",
        "where",
        "window",
        "with",
        "rdsadmin",
        "rds_superuser",
        "template0",
        "template1",
    ]
)
MIN_ROTATION_HOURS = 4
MAX_ROTATION_DAYS = 1000


class ConfigError(ValueError):
    """Invalid configuration; `path` names the offending key, e.g. `environments.prod.region`."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.reason = message
        super().__init__(f"{path}: {message}")


ROTATION_STRATEGIES = ("token", "hosted")


@dataclass(frozen=True)
class RotationConfig:
    """Either a schedule (`rate(...)` or `cron(...)`) or the reason rotation is off.

    `strategy` is "hosted" (AWS hosted rotation, database secrets) or "token" (Strongbox's
    RotationFunction); `master_secret` names the database secret whose user rotates this one
    (multi-user rotation); `window` is the rotation window in hours ("3h").
    """

    schedule: str | None = None
    disabled_reason: str | None = None
    window: str | None = None
    rotate_immediately: bool = True
    strategy: str | None = None
    master_secret: str | None = None

    @property
    def enabled(self) -> bool:
        return self.schedule is not None


@dataclass(frozen=True)
class GenerationConfig:
    length: int | None = None
    exclude_characters: str | None = None
    exclude_punctuation: bool | None = None


@dataclass(frozen=True)
class SecretDatabaseConfig:
    engine: str = "postgres"
    username: str = "app"
    dbname: str | None = None
    port: int | None = None


@dataclass(frozen=True)
class SecretConfig:
    purpose: str
    kind: SecretKind
    description: str
    owner: str
    rotation: RotationConfig
    tags: Mapping[str, str] = field(default_factory=dict)
    consumers: tuple[str, ...] = ()
    replicate: bool = True
    generation: GenerationConfig = GenerationConfig()
    database: SecretDatabaseConfig | None = None
    template: Mapping[str, str | int | bool] | None = None
    generate_key: str | None = None
    cross_account_readers: tuple[str, ...] = ()
    vpc_endpoint_only: bool = False


@dataclass(frozen=True)
class SecureStringSource:
    """Where a SecureString's value comes from: generated, or copied from a secret's field."""

    generation: GenerationConfig | None = None
    secret: str | None = None  # the purpose of a secret of the same environment
    field: str | None = None


@dataclass(frozen=True)
class ParameterConfig:
    name: str  # below /<application>/<environment>/
    type: str
    value: str | None = None  # String and StringList only
    description: str = ""
    tier: str = "Standard"
    policies: tuple[Mapping[str, Any], ...] = ()
    consumers: tuple[str, ...] = ()
    source: SecureStringSource | None = None  # SecureString only


@dataclass(frozen=True)
class NetworkConfig:
    create_vpc: bool = True
    cidr: str = "10.0.0.0/16"
    endpoints: tuple[str, ...] = ENDPOINT_SERVICES
    # Secrets Manager interface endpoints that exist already (an imported VPC's, or another
    # VPC's); secrets with vpc_endpoint_only accept value requests only through these and the
    # `secretsmanager` endpoint of `endpoints`, when the Network stack creates it.
    vpc_endpoint_ids: tuple[str, ...] = ()
    # An existing VPC (create_vpc false): its id, isolated subnet per AZ, their route tables.
    vpc_id: str | None = None
    subnet_ids: tuple[str, ...] = ()
    route_table_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatabaseConfig:
    """The workload's RDS instance; `credentials` is the purpose of the database secret that
    holds its master user (attached to the instance and rotated by AWS hosted rotation)."""

    engine: str
    credentials: str
    instance_type: str = "t4g.micro"
    storage_gib: int = 20


@dataclass(frozen=True)
class FunctionConfig:
    """A Lambda consumer that reads through the Parameters and Secrets extension."""

    name: str
    cache_ttl_seconds: int = 300


@dataclass(frozen=True)
class InstanceConfig:
    """An EC2 consumer: an instance profile and a launch template for instances that use it."""

    name: str
    instance_type: str = "t4g.small"


@dataclass(frozen=True)
class WorkloadConfig:
    service: str
    desired_count: int = 1
    database: DatabaseConfig | None = None
    # The image: a repository of the environment's account (ECR) and an immutable tag.
    image_repository: str = ""
    image_tag: str = ""
    port: int = 8080
    function: FunctionConfig | None = None
    instance: InstanceConfig | None = None

    @property
    def reading_roles(self) -> tuple[tuple[str, str, str], ...]:
        """(config key, consumer name, role kind) of each consumer that reads secrets."""
        return (
            ("service", self.service, "execution"),
            *((("function.name", self.function.name, "function"),) if self.function else ()),
            *((("instance.name", self.instance.name, "instance"),) if self.instance else ()),
        )

    @property
    def consumers(self) -> tuple[str, ...]:
        """Names that secrets and parameters list in `consumers`: service, function, instance."""
        return (
            self.service,
            *((self.function.name,) if self.function else ()),
            *((self.instance.name,) if self.instance else ()),
        )


@dataclass(frozen=True)
class AlertsConfig:
    emails: tuple[str, ...] = ()
    # Roles (besides Strongbox's own) whose GetSecretValue calls are expected, not alerted on.
    allowed_readers: tuple[str, ...] = ()


@dataclass(frozen=True)
class EnvironmentConfig:
    name: str
    account: str
    region: str
    availability_zones: tuple[str, ...]
    replica_regions: tuple[str, ...] = ()
    secrets: tuple[SecretConfig, ...] = ()
    parameters: tuple[ParameterConfig, ...] = ()
    network: NetworkConfig = NetworkConfig()
    workload: WorkloadConfig | None = None
    alerts: AlertsConfig = AlertsConfig()
    key_administrators: tuple[str, ...] = ()
    cross_account_readers: tuple[str, ...] = ()

    @property
    def regions(self) -> tuple[str, ...]:
        """The primary region first, then every replica region."""
        return (self.region, *self.replica_regions)

    @property
    def is_development(self) -> bool:
        """Dev may destroy stateful resources on stack deletion; other environments retain them."""
        return self.name == "dev"

    @property
    def stage_name(self) -> str:
        return "Strongbox-" + "-".join(part.capitalize() for part in self.name.split("-"))


@dataclass(frozen=True)
class PipelineSource:
    """Where the pipeline pulls from: a CodeConnections (GitHub, GitLab, Bitbucket) repository,
    or a CodeCommit repository in the pipeline account."""

    repository: str
    branch: str
    connection_arn: str | None = None

    @property
    def is_codecommit(self) -> bool:
        return self.connection_arn is None


@dataclass(frozen=True)
class PipelineConfig:
    enabled: bool = False
    account: str | None = None
    region: str | None = None
    source: PipelineSource | None = None
    # Environment names per wave, deployed in order; one wave may hold several accounts.
    waves: tuple[tuple[str, ...], ...] = ()
    # Environments whose wave waits for a person to approve in the pipeline.
    approval_before: tuple[str, ...] = ()


@dataclass(frozen=True)
class StrongboxConfig:
    application: str
    environments: tuple[EnvironmentConfig, ...]
    pipeline: PipelineConfig = PipelineConfig()

    def environment(self, name: str) -> EnvironmentConfig:
        for environment in self.environments:
            if environment.name == name:
                return environment
        raise ConfigError("env", f"unknown environment {name!r}; configured: {self._names()}")

    def select(self, name: str | None) -> tuple[EnvironmentConfig, ...]:
        """All environments, or only `name` (the `-c env=<name>` context value)."""
        return self.environments if name is None else (self.environment(name),)

    def _names(self) -> str:
        return ", ".join(sorted(e.name for e in self.environments))


@cache
def region_partitions() -> Mapping[str, str]:
    """Region -> partition, from aws-cdk-lib's region-info database (catches `eu-west-7`)."""
    from aws_cdk import region_info

    return {region.name: str(region.partition) for region in region_info.RegionInfo.regions}


# ---------------------------------------------------------------------------------------------
# Parsing. Every reader takes the raw value and its key path and returns a typed value or raises
# ConfigError naming that path.


class _Object:
    """A JSON object being read: remembers its path and refuses keys nobody asked for."""

    def __init__(self, value: Any, path: str, *, required: Sequence[str], optional: Sequence[str]):
        if not isinstance(value, Mapping):
            raise ConfigError(path, f"must be an object, got {_describe(value)}")
        allowed = (*required, *optional)
        for key in value:
            if key not in allowed:
                raise ConfigError(
                    _join(path, str(key)),
                    f"unknown key; allowed keys here: {', '.join(sorted(allowed))}",
                )
        for key in required:
            if key not in value:
                raise ConfigError(_join(path, key), "is required")
        self._value = value
        self.path = path

    def has(self, key: str) -> bool:
        return key in self._value

    def get(self, key: str, read: Callable[[Any, str], T], default: T) -> T:
        if key not in self._value:
            return default
        return read(self._value[key], _join(self.path, key))

    def require(self, key: str, read: Callable[[Any, str], T]) -> T:
        return read(self._value[key], _join(self.path, key))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"int {_number(value)}"
    try:
        text = json.dumps(value)
    except (ValueError, TypeError, RecursionError):  # huge ints, nan-free dumps, deep nesting
        text = "..."
    return f"{type(value).__name__} {text[:60]}"


def _number(value: int) -> str:
    """`value` as text, or its size when Python would refuse to print it (over 4300 digits)."""
    if value.bit_length() > 64:
        return f"of about {int(value.bit_length() * 0.30103) + 1} digits"
    return str(value)


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(path, f"must be a string, got {_describe(value)}")
    if not value.strip():
        raise ConfigError(path, "must not be empty")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(path, "must be valid Unicode text (it holds a lone surrogate)") from None
    return value


def _matching(pattern: re.Pattern[str], allowed: str) -> Callable[[Any, str], str]:
    def read(value: Any, path: str) -> str:
        text = _string(value, path)
        if not pattern.match(text):
            raise ConfigError(path, f"{text!r} is not allowed; expected {allowed}")
        return text

    return read


def _one_of(choices: Sequence[str]) -> Callable[[Any, str], str]:
    def read(value: Any, path: str) -> str:
        text = _string(value, path)
        if text not in choices:
            raise ConfigError(
                path, f"{text!r} is not allowed; allowed values: {', '.join(choices)}"
            )
        return text

    return read


def _boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(path, f"must be true or false, got {_describe(value)}")
    return value


def _integer(low: int, high: int) -> Callable[[Any, str], int]:
    def read(value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, f"must be an integer, got {_describe(value)}")
        if not low <= value <= high:
            raise ConfigError(path, f"{_number(value)} is out of range; allowed: {low} to {high}")
        return value

    return read


def _list(
    read_item: Callable[[Any, str], T], *, non_empty: bool = False, unique: bool = True
) -> Callable[[Any, str], tuple[T, ...]]:
    def read(value: Any, path: str) -> tuple[T, ...]:
        if not isinstance(value, list):
            raise ConfigError(path, f"must be a list, got {_describe(value)}")
        if non_empty and not value:
            raise ConfigError(path, "must list at least one entry")
        items = tuple(read_item(item, f"{path}[{index}]") for index, item in enumerate(value))
        if unique:
            _refuse_duplicates(items, path, lambda item: item)
        return items

    return read


def _refuse_duplicates(items: Sequence[T], path: str, key: Callable[[T], object]) -> None:
    seen: dict[object, int] = {}
    for index, item in enumerate(items):
        identity = key(item)
        if identity in seen:
            raise ConfigError(
                f"{path}[{index}]", f"duplicates {path}[{seen[identity]}] ({identity!r})"
            )
        seen[identity] = index


def _refuse_same_construct_id(items: Sequence[T], path: str, name: Callable[[T], str]) -> None:
    """Names that differ only in case or punctuation (`log-level`, `Log_Level`) become the same
    construct id, which the CDK would refuse half-way through the synth."""
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        construct_id = pascal_case(name(item))
        if construct_id in seen:
            first = seen[construct_id]
            raise ConfigError(
                f"{path}[{index}]",
                f"{name(item)!r} and {path}[{first}] ({name(items[first])!r}) both become the "
                f"construct id {construct_id}; names must differ in more than case and punctuation",
            )
        seen[construct_id] = index


def _copyable_fields(secret: SecretConfig) -> tuple[str, ...]:
    """The fields of `secret` a SecureString can copy: those holding non-empty text when the
    Parameters stack deploys (a database secret's port is a number, its host stays empty
    until the database exists)."""
    if secret.kind == "database":
        database = secret.database or SecretDatabaseConfig()
        return ("engine", "username", *(("dbname",) if database.dbname else ()), "password")
    if secret.kind == "json":
        template = secret.template or {}
        text = sorted(key for key, value in template.items() if isinstance(value, str) and value)
        return (*text, secret.generate_key or "value")
    return ()


def _string_map(value: Any, path: str) -> Mapping[str, str]:
    if not isinstance(value, Mapping):
        raise ConfigError(path, f"must be an object of string values, got {_describe(value)}")
    return {str(key): _string(item, _join(path, str(key))) for key, item in value.items()}


def _region(value: Any, path: str) -> str:
    region = _string(value, path)
    if region not in region_partitions():
        raise ConfigError(path, f"{region!r} is not an AWS region known to aws-cdk-lib")
    partition = region_partitions()[region]
    if partition != "aws":
        # The extension layer table, endpoint names and compliance acknowledgments are built and
        # tested for the commercial partition only; elsewhere the synth would fail half-way.
        raise ConfigError(
            path, f"{region!r} is in the {partition} partition; Strongbox supports aws regions only"
        )
    return region


def _rotation_schedule(value: Any, path: str) -> str:
    schedule = _string(value, path)
    rate = _RATE.match(schedule)
    if rate:
        amount, unit = int(rate.group(1)), rate.group(2)
        hours = amount if unit.startswith("hour") else amount * 24
        if (unit in ("hour", "day") and amount != 1) or (unit in ("hours", "days") and amount == 1):
            raise ConfigError(path, f"{schedule!r}: use 'rate(1 day)' / 'rate(N days)' grammar")
        if hours < MIN_ROTATION_HOURS or hours > MAX_ROTATION_DAYS * 24:
            raise ConfigError(
                path,
                f"{schedule!r} is out of range; Secrets Manager rotates at most every "
                f"{MIN_ROTATION_HOURS} hours and at least every {MAX_ROTATION_DAYS} days",
            )
        return schedule
    cron = _CRON.match(schedule)
    if cron:
        fields = cron.group(1).split()
        if len(fields) != 6:
            raise ConfigError(
                path, f"{schedule!r}: a cron expression has 6 fields (min hour dom month dow year)"
            )
        _check_cron(schedule, fields, path)
        return schedule
    raise ConfigError(
        path,
        f"{schedule!r} is not a schedule; expected 'rate(N days)', 'rate(N hours)' or 'cron(...)'",
    )


# Secrets Manager's cron fields (user guide, "Rotation schedules"): minutes must be 0 (windows
# open on the hour) and the year * (no schedule more than a year apart); one of the two day
# fields must be ?, as in every AWS cron expression.
_CRON_FIELD = {
    "hours": (
        re.compile(r"^(\*|\d{1,2}(-\d{1,2})?)(/\d{1,2})?(,(\d{1,2}(-\d{1,2})?)(/\d{1,2})?)*\Z"),
        0,
        23,
    ),
    "day-of-month": (
        re.compile(r"^(\?|L|\*(/\d{1,2})?|\d{1,2}(-\d{1,2})?(/\d{1,2})?(,\d{1,2}(-\d{1,2})?)*)\Z"),
        1,
        31,
    ),
    "month": (
        re.compile(
            r"^(\*|([0-9]{1,2}|[A-Z]{3})(-([0-9]{1,2}|[A-Z]{3}))?)(/\d{1,2})?(,([0-9]{1,2}|[A-Z]{3})(-([0-9]{1,2}|[A-Z]{3}))?)*\Z"
        ),
        1,
        12,
    ),
    "day-of-week": (
        re.compile(
            r"^(\?|\*|([1-7]|[A-Z]{3})(L|#[1-5])?(-([1-7]|[A-Z]{3}))?(,([1-7]|[A-Z]{3})(-([1-7]|[A-Z]{3}))?)*)\Z"
        ),
        1,
        7,
    ),
}
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


def _check_cron(schedule: str, fields: Sequence[str], path: str) -> None:
    """What Secrets Manager refuses in a cron schedule, named by field, before CloudFormation
    does at deploy time."""
    minutes, *named, year = fields
    if minutes != "0":
        raise ConfigError(
            path,
            f"{schedule!r}: minutes must be 0 (Secrets Manager opens rotation windows on the hour)",
        )
    if year != "*":
        raise ConfigError(
            path, f"{schedule!r}: year must be * (Secrets Manager rotates at least once a year)"
        )
    day_of_month, day_of_week = named[1], named[3]
    if (day_of_month == "?") == (day_of_week == "?"):
        raise ConfigError(
            path, f"{schedule!r}: exactly one of day-of-month and day-of-week must be '?'"
        )
    for name, value in zip(_CRON_FIELD, named, strict=True):
        pattern, low, high = _CRON_FIELD[name]
        names = _MONTHS if name == "month" else _DAYS if name == "day-of-week" else ()
        numbers = [int(n) for n in re.findall(r"(?<![#/])\b\d+\b", value)]
        words = re.findall(r"[A-Z]{3}", value)
        if (
            not pattern.match(value)
            or any(not low <= n <= high for n in numbers)
            or any(w not in names for w in words)
        ):
            raise ConfigError(
                path,
                f"{schedule!r}: {name} {value!r} is not allowed; expected {low}-{high}"
                + (f" or {names[0]}-{names[-1]}" if names else "")
                + " with , - * / (and ? L in the day fields)",
            )


def _cron_start_hours(hours: str) -> list[int] | None:
    """The hours a cron schedule's windows open at, or None if the field is not a plain list of
    hours, ranges and steps."""
    starts: set[int] = set()
    for part in hours.split(","):
        match = re.match(r"^(\*|\d{1,2})(?:-(\d{1,2}))?(?:/(\d{1,2}))?\Z", part)
        if not match:
            return None
        first = 0 if match.group(1) == "*" else int(match.group(1))
        last = (
            int(match.group(2))
            if match.group(2)
            else (23 if match.group(1) == "*" or match.group(3) else first)
        )
        step = int(match.group(3)) if match.group(3) else 1
        starts.update(range(first, last + 1, step))
    return sorted(starts)


def _window(value: Any, path: str) -> str:
    window = _string(value, path)
    match = _WINDOW.match(window)
    if not match or not 1 <= int(match.group(1)) <= 24:
        raise ConfigError(path, f"{window!r} is not allowed; expected hours from '1h' to '24h'")
    return window


def _schedule_hours(schedule: str) -> int | None:
    rate = _RATE.match(schedule)
    if not rate:
        return None
    return int(rate.group(1)) * (1 if rate.group(2).startswith("hour") else 24)


def _rotation(value: Any, path: str) -> RotationConfig:
    obj = _Object(
        value,
        path,
        required=(),
        optional=(
            "schedule",
            "disabled_reason",
            "window",
            "rotate_immediately",
            "strategy",
            "master_secret",
        ),
    )
    schedule = obj.get("schedule", _rotation_schedule, None)
    reason = obj.get("disabled_reason", _string, None)
    if reason is not None:
        for key in ("window", "rotate_immediately", "strategy", "master_secret"):
            if obj.has(key):
                raise ConfigError(_join(path, key), "applies only when rotation has a schedule")
    window = obj.get("window", _window, None)
    interval = _schedule_hours(schedule) if schedule else None
    if window is not None and interval is not None and int(window[:-1]) >= interval:
        raise ConfigError(
            _join(path, "window"), f"{window!r} must be shorter than the schedule {schedule!r}"
        )
    cron = _CRON.match(schedule) if schedule else None
    starts = _cron_start_hours(cron.group(1).split()[1]) if cron else None
    if window is not None and starts:
        hours = int(window[:-1])
        gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
        if starts[-1] + hours > 24 or any(hours > gap for gap in gaps):
            raise ConfigError(
                _join(path, "window"),
                f"{window!r} would run past midnight UTC or into the next window of {schedule!r}; "
                "Secrets Manager refuses a window that does (start hour + window <= 24)",
            )
    if (schedule is None) == (reason is None):
        raise ConfigError(
            path, "set exactly one of 'schedule' (rotation on) or 'disabled_reason' (why it is off)"
        )
    if reason is not None and len(reason.strip()) < 20:
        raise ConfigError(
            _join(path, "disabled_reason"),
            "must explain why rotation is off in at least 20 characters; it becomes the "
            "compliance acknowledgment",
        )
    return RotationConfig(
        schedule=schedule,
        disabled_reason=reason,
        window=window,
        rotate_immediately=obj.get("rotate_immediately", _boolean, True),
        strategy=obj.get("strategy", _one_of(ROTATION_STRATEGIES), None),
        master_secret=obj.get(
            "master_secret", _matching(_PURPOSE, "the purpose of a database secret"), None
        ),
    )


def _generation(value: Any, path: str) -> GenerationConfig:
    obj = _Object(
        value, path, required=(), optional=("length", "exclude_characters", "exclude_punctuation")
    )
    return GenerationConfig(
        length=obj.get("length", _integer(MIN_LENGTH, MAX_LENGTH), None),
        exclude_characters=obj.get("exclude_characters", _string, None),
        exclude_punctuation=obj.get("exclude_punctuation", _boolean, None),
    )


def _secret_database(value: Any, path: str) -> SecretDatabaseConfig:
    obj = _Object(value, path, required=(), optional=("engine", "username", "dbname", "port"))
    database = SecretDatabaseConfig(
        engine=obj.get("engine", _one_of(tuple(SECRET_DATABASE_ENGINES)), "postgres"),
        username=obj.get("username", _matching(_DATABASE_USER, "a database user name"), "app"),
        dbname=obj.get("dbname", _matching(_DATABASE_USER, "a database name"), None),
        # RDS accepts 1150-65535 for every engine (CreateDBInstance, Port).
        port=obj.get("port", _integer(RDS_PORTS[0], RDS_PORTS[1]), None),
    )
    if database.engine == "postgres":
        for key, name in (("username", database.username), ("dbname", database.dbname)):
            if name is not None and name.lower() in POSTGRES_RESERVED_NAMES:
                raise ConfigError(
                    _join(path, key),
                    f"{name!r} is a word PostgreSQL reserves (or RDS uses itself), which RDS "
                    "refuses as a master user or database name; choose another",
                )
    return database


def _template(value: Any, path: str) -> Mapping[str, str | int | bool]:
    if not isinstance(value, Mapping):
        raise ConfigError(path, f"must be an object of non-secret fields, got {_describe(value)}")
    template: dict[str, str | int | bool] = {}
    for key, item in value.items():
        item_path = _join(path, str(key))
        _matching(_JSON_KEY, "a JSON field name of letters, digits and '_'")(key, item_path)
        if key.lower() in _LITERAL_VALUE_KEYS:
            raise ConfigError(
                item_path, "looks like a secret value; name it in generate_key instead"
            )
        if not isinstance(item, str | int | bool):
            raise ConfigError(
                item_path, f"must be a string, number or boolean, got {_describe(item)}"
            )
        template[key] = item
    return template


def _secret(value: Any, path: str) -> SecretConfig:
    if isinstance(value, Mapping):
        for key in _LITERAL_VALUE_KEYS:
            if key in value:
                raise ConfigError(
                    _join(path, key),
                    "a secret never takes a literal value: it would be stored in plaintext in "
                    "cdk.json and the template; Strongbox generates the value",
                )
    obj = _Object(
        value,
        path,
        required=("purpose", "kind", "description", "owner", "rotation"),
        optional=(
            "tags",
            "consumers",
            "replicate",
            "generation",
            "database",
            "template",
            "generate_key",
            "cross_account_readers",
            "vpc_endpoint_only",
        ),
    )
    kind = obj.require("kind", _one_of(SECRET_KINDS))
    for key, owner_kind in (
        ("database", "database"),
        ("template", "json"),
        ("generate_key", "json"),
    ):
        if obj.has(key) and kind != owner_kind:
            raise ConfigError(_join(path, key), f"applies to kind '{owner_kind}' only")
    template = obj.get("template", _template, None)
    generate_key = obj.get(
        "generate_key", _matching(_JSON_KEY, "a JSON field name of letters, digits and '_'"), None
    )
    if template is not None and generate_key is not None and generate_key in template:
        raise ConfigError(_join(path, "generate_key"), f"{generate_key!r} is also in template")
    rotation = obj.require("rotation", _rotation)
    if rotation.enabled:
        strategy = rotation.strategy or ("hosted" if kind == "database" else "token")
        rotation_path = _join(path, "rotation")
        if (strategy == "hosted") != (kind == "database"):
            raise ConfigError(
                _join(rotation_path, "strategy"),
                f"{strategy!r} does not rotate a {kind!r} secret; database secrets use 'hosted' "
                "(AWS hosted rotation), others 'token'",
            )
        if rotation.master_secret is not None and kind != "database":
            raise ConfigError(
                _join(rotation_path, "master_secret"), "applies to kind 'database' only"
            )
        rotation = RotationConfig(
            schedule=rotation.schedule,
            window=rotation.window,
            rotate_immediately=rotation.rotate_immediately,
            strategy=strategy,
            master_secret=rotation.master_secret,
        )
    return SecretConfig(
        purpose=obj.require("purpose", _matching(_PURPOSE, "lowercase letters, digits and '-'")),
        kind=kind,  # type: ignore[arg-type]
        description=obj.require("description", _bounded(2048, "Secrets Manager")),
        owner=obj.require("owner", _tag_value),
        rotation=rotation,
        tags=obj.get("tags", _tags, {}),
        consumers=obj.get("consumers", _list(_matching(_SERVICE, "a service name")), ()),
        replicate=obj.get("replicate", _boolean, True),
        generation=obj.get("generation", _generation, GenerationConfig()),
        database=obj.get(
            "database", _secret_database, SecretDatabaseConfig() if kind == "database" else None
        ),
        template=template,
        generate_key=generate_key,
        cross_account_readers=obj.get("cross_account_readers", _list(_reader), ()),
        vpc_endpoint_only=obj.get("vpc_endpoint_only", _boolean, False),
    )


def _bounded(limit: int, service: str) -> Callable[[Any, str], str]:
    def parse(value: Any, path: str) -> str:
        text = _string(value, path)
        if len(text) > limit:
            raise ConfigError(
                path, f"is {len(text):,} characters; {service} takes at most {limit:,}"
            )
        return text

    return parse


# What AWS takes in a tag key (128 characters at most) or value (256): letters, digits, spaces
# and _ . : / = + - @ (the tagging APIs' pattern).
_TAG_CHARACTERS = frozenset("_.:/=+-@")


def _tag_text(text: str, path: str, limit: int, what: str) -> str:
    if len(text) > limit or not all(
        c.isalnum() or c.isspace() or c in _TAG_CHARACTERS for c in text
    ):
        raise ConfigError(
            path,
            f"{text[:40]!r} is not a tag {what}; allowed: at most {limit} letters, digits, "
            "spaces and _ . : / = + - @",
        )
    return text


def _tag_value(value: Any, path: str) -> str:
    return _tag_text(_string(value, path), path, 256, "value")


def _tags(value: Any, path: str) -> Mapping[str, str]:
    tags = _string_map(value, path)
    for key, text in tags.items():
        if key in MANDATORY_TAGS:
            raise ConfigError(_join(path, key), "is set by Strongbox; it cannot be overridden")
        if key.lower().startswith("aws:"):
            raise ConfigError(_join(path, key), "tag keys starting 'aws:' are reserved for AWS")
        _tag_text(key, _join(path, key), 128, "key")
        _tag_text(text, _join(path, key), 256, "value")
    return tags


def _reader(value: Any, path: str) -> str:
    """A cross-account reader: a 12-digit account id or an IAM role ARN."""
    reader = _string(value, path)
    if not (_ACCOUNT.match(reader) or _ROLE_ARN.match(reader)):
        raise ConfigError(
            path, f"{reader!r} is not allowed; expected a 12-digit account id or an IAM role ARN"
        )
    return reader


def _reader_account(reader: str) -> str:
    match = _ROLE_ARN.match(reader)
    return match.group(1) if match else reader


def _parameter_policy(value: Any, path: str) -> Mapping[str, Any]:
    obj = _Object(value, path, required=("Type", "Version", "Attributes"), optional=())
    obj.require("Type", _one_of(PARAMETER_POLICY_TYPES))
    obj.require("Version", _one_of(("1.0",)))
    obj.require("Attributes", _string_map)
    return dict(value)


def _secure_string_source(value: Any, path: str) -> SecureStringSource:
    obj = _Object(value, path, required=(), optional=("generate", "secret", "field"))
    if obj.has("generate") == obj.has("secret"):
        raise ConfigError(path, "set exactly one of 'generate' (a new value) or 'secret' (copy)")
    if obj.has("field") and not obj.has("secret"):
        raise ConfigError(_join(path, "field"), "applies with 'secret' only")
    return SecureStringSource(
        generation=obj.get("generate", _generation, None),
        secret=obj.get("secret", _matching(_PURPOSE, "the purpose of a secret"), None),
        field=obj.get("field", _matching(_JSON_KEY, "a JSON field name"), None),
    )


def _parameter(value: Any, path: str) -> ParameterConfig:
    obj = _Object(
        value,
        path,
        required=("name", "type"),
        optional=("value", "description", "tier", "policies", "source", "consumers"),
    )
    name = obj.require("name", _matching(_PARAMETER_NAME, "path segments of [a-zA-Z0-9_.-]"))
    kind = obj.require("type", _one_of(PARAMETER_TYPES))
    if kind == "SecureString":
        if obj.has("value"):
            raise ConfigError(
                _join(path, "value"),
                "a SecureString never takes a literal value: it would be stored in plaintext in "
                "cdk.json; set 'source' (generate, or copy from a secret)",
            )
        if not obj.has("source"):
            raise ConfigError(_join(path, "source"), "is required for a SecureString")
        if obj.has("policies"):
            raise ConfigError(
                _join(path, "policies"), "apply to String and StringList parameters only"
            )
    else:
        if obj.has("source"):
            raise ConfigError(_join(path, "source"), "applies to SecureString only")
        if not obj.has("value"):
            raise ConfigError(_join(path, "value"), f"is required for a {kind}")
    text = obj.get("value", _string, None)
    if text is not None and "{{resolve:" in text:
        raise ConfigError(
            _join(path, "value"),
            "a dynamic reference ({{resolve:...}}) would be resolved by CloudFormation and stored "
            f"in plaintext in this {kind}; use a SecureString copied from the secret "
            '(source: {"secret": ..., "field": ...})',
        )
    if text is not None:
        reason = credential_reason(name, text)
        if reason:
            raise ConfigError(
                path, f"{reason}; keep credentials in a SecureString or a secret, not a {kind}"
            )
        if kind == "StringList" and any(not item.strip() for item in text.split(",")):
            raise ConfigError(_join(path, "value"), "a StringList has no empty items")
    policies: tuple[Mapping[str, Any], ...] = obj.get(
        "policies", _list(_parameter_policy, unique=False), ()
    )
    size = len(text.encode()) if text is not None else 0
    needed = "Advanced" if policies or size > MAX_STANDARD_VALUE else "Standard"
    tier = obj.get("tier", _one_of(PARAMETER_TIERS), needed)
    if tier == "Standard" and needed == "Advanced":
        raise ConfigError(
            _join(path, "tier"),
            "must be 'Advanced': the value is over 4 KB or the parameter has policies",
        )
    if size > MAX_ADVANCED_VALUE:
        raise ConfigError(_join(path, "value"), f"is {size} bytes; the limit is 8 KB")
    return ParameterConfig(
        name=name,
        type=kind,
        value=text,
        description=obj.get("description", _bounded(1024, "Parameter Store"), ""),
        tier=tier,
        policies=policies,
        consumers=obj.get("consumers", _list(_matching(_SERVICE, "a consumer name")), ()),
        source=obj.get("source", _secure_string_source, None),
    )


def _network(value: Any, path: str) -> NetworkConfig:
    obj = _Object(
        value,
        path,
        required=(),
        optional=(
            "create_vpc",
            "cidr",
            "endpoints",
            "vpc_endpoint_ids",
            "vpc_id",
            "subnet_ids",
            "route_table_ids",
        ),
    )
    create_vpc = obj.get("create_vpc", _boolean, True)
    existing = ("vpc_id", "subnet_ids", "route_table_ids")
    for key in existing:
        if create_vpc and obj.has(key):
            raise ConfigError(_join(path, key), "applies only with create_vpc false")
        if not create_vpc and not obj.has(key):
            raise ConfigError(_join(path, key), "is required with create_vpc false (no lookups)")
    endpoints: tuple[str, ...] = obj.get(
        "endpoints", _list(_one_of(ENDPOINT_SERVICES)), ENDPOINT_SERVICES
    )
    vpc_endpoint_ids: tuple[str, ...] = obj.get(
        "vpc_endpoint_ids", _list(_matching(_VPC_ENDPOINT_ID, "a VPC endpoint id (vpce-...)")), ()
    )
    # An existing VPC's own Secrets Manager endpoints have private DNS on; a second endpoint
    # with private DNS for the same service in that VPC fails to create (the name is taken).
    if not create_vpc and vpc_endpoint_ids and "secretsmanager" in endpoints:
        endpoints_path = _join(path, "endpoints")
        if obj.has("endpoints"):
            endpoints_path += f"[{endpoints.index('secretsmanager')}]"
        raise ConfigError(
            endpoints_path,
            "'secretsmanager' would be a second Secrets Manager endpoint with private DNS in the "
            "existing VPC, whose endpoints are in network.vpc_endpoint_ids; that fails to deploy "
            "(the private DNS name is taken), so list endpoints without 'secretsmanager'",
        )
    return NetworkConfig(
        vpc_id=obj.get("vpc_id", _matching(_VPC_ID, "a VPC id (vpc-...)"), None),
        subnet_ids=obj.get(
            "subnet_ids", _list(_matching(_SUBNET_ID, "a subnet id"), non_empty=True), ()
        ),
        route_table_ids=obj.get(
            "route_table_ids",
            _list(_matching(_ROUTE_TABLE_ID, "a route table id"), non_empty=True),
            (),
        ),
        create_vpc=create_vpc,
        cidr=obj.get("cidr", _cidr, "10.0.0.0/16"),
        endpoints=endpoints,
        vpc_endpoint_ids=vpc_endpoint_ids,
    )


def _cidr(value: Any, path: str) -> str:
    text = _string(value, path)
    try:
        network = ipaddress.IPv4Network(text)
    except ValueError:
        raise ConfigError(path, f"{text!r} is not an IPv4 CIDR block such as 10.0.0.0/16") from None
    if not network.is_private or not 16 <= network.prefixlen <= 22:
        raise ConfigError(path, f"{text!r} must be a private block from /16 to /22")
    return text


def _database(value: Any, path: str) -> DatabaseConfig:
    obj = _Object(
        value, path, required=("engine", "credentials"), optional=("instance_type", "storage_gib")
    )
    return DatabaseConfig(
        engine=obj.require("engine", _one_of(DATABASE_ENGINES)),
        credentials=obj.require(
            "credentials", _matching(_PURPOSE, "the purpose of a database secret")
        ),
        instance_type=obj.get(
            "instance_type", _matching(_INSTANCE_TYPE, "an instance type such as t4g.micro"), None
        )
        or "t4g.micro",
        storage_gib=obj.get("storage_gib", _integer(20, 1024), 20),
    )


def _function(value: Any, path: str) -> FunctionConfig:
    obj = _Object(value, path, required=("name",), optional=("cache_ttl_seconds",))
    return FunctionConfig(
        name=obj.require("name", _matching(_SERVICE, "a consumer name")),
        # The extension's own bounds for SECRETS_MANAGER_TTL and SSM_PARAMETER_STORE_TTL.
        cache_ttl_seconds=obj.get("cache_ttl_seconds", _integer(0, 300), 300),
    )


def _instance(value: Any, path: str) -> InstanceConfig:
    obj = _Object(value, path, required=("name",), optional=("instance_type",))
    return InstanceConfig(
        name=obj.require("name", _matching(_SERVICE, "a consumer name")),
        instance_type=obj.get(
            "instance_type", _matching(_INSTANCE_TYPE, "an instance type such as t4g.small"), None
        )
        or "t4g.small",
    )


def _workload(value: Any, path: str) -> WorkloadConfig:
    obj = _Object(
        value,
        path,
        required=("service", "image_repository", "image_tag"),
        optional=("desired_count", "database", "port", "function", "instance"),
    )
    workload = WorkloadConfig(
        service=obj.require("service", _matching(_SERVICE, "a service name")),
        desired_count=obj.get("desired_count", _integer(0, 100), 1),
        database=obj.get("database", _database, None),
        image_repository=obj.require(
            "image_repository", _matching(_ECR_REPOSITORY, "an ECR repository name")
        ),
        image_tag=obj.require("image_tag", _matching(_IMAGE_TAG, "an image tag other than latest")),
        port=obj.get("port", _integer(1024, 65535), 8080),
        function=obj.get("function", _function, None),
        instance=obj.get("instance", _instance, None),
    )
    if workload.function and workload.function.name == workload.service:
        raise ConfigError(_join(path, "function.name"), "must differ from the service's name")
    if workload.instance and workload.instance.name in workload.consumers[:-1]:
        raise ConfigError(
            _join(path, "instance.name"), "must differ from the service's and the function's names"
        )
    return workload


def _alerts(value: Any, path: str) -> AlertsConfig:
    obj = _Object(value, path, required=(), optional=("emails", "allowed_readers"))
    return AlertsConfig(
        emails=obj.get("emails", _list(_matching(_EMAIL, "an email address")), ()),
        allowed_readers=obj.get(
            "allowed_readers", _list(_matching(_ROLE_ARN, "an IAM role ARN")), ()
        ),
    )


def _environment(name: str, value: Any, path: str) -> EnvironmentConfig:
    obj = _Object(
        value,
        path,
        required=("account", "region", "availability_zones"),
        optional=(
            "replica_regions",
            "secrets",
            "parameters",
            "network",
            "workload",
            "alerts",
            "key_administrators",
            "cross_account_readers",
        ),
    )
    account = obj.require("account", _matching(_ACCOUNT, "a 12-digit AWS account id"))
    region = obj.require("region", _region)

    def availability_zone(value: Any, zone_path: str) -> str:
        zone = _string(value, zone_path)
        if not re.fullmatch(re.escape(region) + r"[a-z]", zone):
            raise ConfigError(
                zone_path, f"{zone!r} is not an availability zone of {region} (e.g. {region}a)"
            )
        return zone

    def replica_region(value: Any, region_path: str) -> str:
        replica = _region(value, region_path)
        if replica == region:
            raise ConfigError(
                region_path,
                f"{replica!r} is the environment's primary region; a replica region must differ",
            )
        return replica

    def reader(value: Any, reader_path: str) -> str:
        text = _reader(value, reader_path)
        if _reader_account(text) == account:
            raise ConfigError(reader_path, "is the environment's own account; list other accounts")
        return text

    def administrator(value: Any, admin_path: str) -> str:
        arn = _matching(_ROLE_ARN, "an IAM role ARN")(value, admin_path)
        if _reader_account(arn) != account:
            raise ConfigError(admin_path, f"must be a role in the environment's account {account}")
        return arn

    secrets: tuple[SecretConfig, ...] = obj.get("secrets", _list(_secret, unique=False), ())
    _refuse_duplicates(secrets, _join(path, "secrets"), lambda secret: secret.purpose)
    _refuse_same_construct_id(secrets, _join(path, "secrets"), lambda secret: secret.purpose)
    parameters: tuple[ParameterConfig, ...] = obj.get(
        "parameters", _list(_parameter, unique=False), ()
    )
    _refuse_duplicates(parameters, _join(path, "parameters"), lambda parameter: parameter.name)
    _refuse_same_construct_id(
        parameters, _join(path, "parameters"), lambda parameter: parameter.name
    )
    availability_zones: tuple[str, ...] = obj.require(
        "availability_zones", _list(availability_zone, non_empty=True)
    )
    readers: tuple[str, ...] = obj.get("cross_account_readers", _list(reader), ())
    replica_regions: tuple[str, ...] = obj.get("replica_regions", _list(replica_region), ())
    network = obj.get("network", _network, NetworkConfig())
    by_purpose = {secret.purpose: secret for secret in secrets}
    kinds = {purpose: secret.kind for purpose, secret in by_purpose.items()}
    for index, parameter in enumerate(parameters):
        source = parameter.source
        if source is None or source.secret is None:
            continue
        source_path = f"{_join(path, 'parameters')}[{index}].source"
        if source.secret not in kinds:
            raise ConfigError(
                _join(source_path, "secret"),
                f"{source.secret!r} is not a secret of this environment",
            )
        if (source.field is None) != (kinds[source.secret] == "api-key"):
            raise ConfigError(
                _join(source_path, "field"),
                "name the JSON field to copy from a database or json secret, and none from an "
                "api-key",
            )
        copyable = _copyable_fields(by_purpose[source.secret])
        if source.field is not None and source.field not in copyable:
            raise ConfigError(
                _join(source_path, "field"),
                f"{source.field!r} cannot be copied from {source.secret!r}; allowed: "
                f"{', '.join(copyable)}",
            )
    for key, ids in (
        ("subnet_ids", network.subnet_ids),
        ("route_table_ids", network.route_table_ids),
    ):
        if not network.create_vpc and len(ids) != len(availability_zones):
            raise ConfigError(
                _join(path, f"network.{key}"), "list one per availability zone, in the same order"
            )
    for index, secret in enumerate(secrets):
        secret_path = f"{_join(path, 'secrets')}[{index}]"
        master = secret.rotation.master_secret
        if master is not None and (kinds.get(master) != "database" or master == secret.purpose):
            raise ConfigError(
                f"{secret_path}.rotation.master_secret",
                f"{master!r} is not another database secret of this environment",
            )
        for reader_index, secret_reader in enumerate(secret.cross_account_readers):
            if secret_reader not in readers:
                raise ConfigError(
                    f"{secret_path}.cross_account_readers[{reader_index}]",
                    f"{secret_reader!r} is not in {_join(path, 'cross_account_readers')}; the key "
                    "policy must trust a reader before a secret can share with it",
                )
        replicated = secret.replicate and bool(replica_regions)
        # Secrets Manager re-encrypts each rotated version with the replica keys on behalf of the
        # caller that wrote it; the role AWS's hosted rotation transform creates is granted only
        # HostedRotationLambda.KmsKeyArn (no property names another key), so replicas would keep
        # the old password while rotation reports success.
        if replicated and secret.rotation.strategy == "hosted":
            raise ConfigError(
                f"{secret_path}.rotation",
                "hosted rotation cannot re-encrypt the rotated value for the replica regions "
                f"({', '.join(replica_regions)}): the role it runs as is granted only the primary "
                "key, so replicas would keep the old password; allowed: replicate false, or "
                "disabled_reason instead of schedule",
            )
        if secret.vpc_endpoint_only and (replicated or secret.cross_account_readers):
            raise ConfigError(
                f"{secret_path}.vpc_endpoint_only",
                "cannot be combined with replication or cross_account_readers: endpoint ids are "
                "regional and the policy is replicated; set replicate to false and share nothing",
            )
        # Callers come through the Network stack's own endpoint (private DNS) or existing ones.
        if (
            secret.vpc_endpoint_only
            and "secretsmanager" not in network.endpoints
            and not network.vpc_endpoint_ids
        ):
            raise ConfigError(
                f"{secret_path}.vpc_endpoint_only",
                "needs a Secrets Manager endpoint for callers to come through: list "
                f"'secretsmanager' in {_join(path, 'network.endpoints')} or existing endpoints "
                f"in {_join(path, 'network.vpc_endpoint_ids')}",
            )
    workload: WorkloadConfig | None = obj.get("workload", _workload, None)
    _check_consumers(path, secrets, parameters, workload)
    administrators: tuple[str, ...] = obj.get("key_administrators", _list(administrator), ())
    policy_size = key_policy_size(
        partition="aws",  # _region refuses every other partition
        regions=(region, *replica_regions),
        administrators=administrators,
        cross_account_consumers=readers,
    )
    if policy_size > KEY_POLICY_LIMIT:
        raise ConfigError(
            _join(path, "cross_account_readers"),
            f"{len(readers)} readers make the key policy about {policy_size:,} bytes, over KMS's "
            f"limit of {KEY_POLICY_LIMIT:,}; share these secrets with fewer accounts or roles "
            "(an account id covers all of its roles)",
        )
    return EnvironmentConfig(
        name=name,
        account=account,
        region=region,
        availability_zones=availability_zones,
        replica_regions=replica_regions,
        secrets=secrets,
        parameters=parameters,
        network=network,
        workload=workload,
        alerts=obj.get("alerts", _alerts, AlertsConfig()),
        key_administrators=administrators,
        cross_account_readers=readers,
    )


def _check_consumers(
    path: str,
    secrets: Sequence[SecretConfig],
    parameters: Sequence[ParameterConfig],
    workload: WorkloadConfig | None,
) -> None:
    """Every consumer named is one of the workload's; the database's credentials fit it."""
    known = workload.consumers if workload else ()
    allowed = (
        f"one of the workload's consumers ({', '.join(known)})"
        if known
        else "nothing: the environment has no workload"
    )
    listed = [("secrets", index, item.consumers) for index, item in enumerate(secrets)] + [
        ("parameters", index, item.consumers) for index, item in enumerate(parameters)
    ]
    for key, index, consumers in listed:
        for consumer_index, consumer in enumerate(consumers):
            if consumer not in known:
                raise ConfigError(
                    f"{_join(path, key)}[{index}].consumers[{consumer_index}]",
                    f"{consumer!r} is not a consumer here; allowed: {allowed}",
                )
    database = workload.database if workload else None
    if workload is None or database is None:
        return
    credentials_path = _join(path, "workload.database.credentials")
    secret = next((s for s in secrets if s.purpose == database.credentials), None)
    if secret is None or secret.database is None:
        raise ConfigError(
            credentials_path,
            f"{database.credentials!r} is not a database secret of this environment",
        )
    if secret.database.engine != database.engine:
        raise ConfigError(
            credentials_path,
            f"{database.credentials!r} is a {secret.database.engine} secret; the database is "
            f"{database.engine}",
        )
    if secret.rotation.master_secret is not None:
        raise ConfigError(
            credentials_path,
            f"{database.credentials!r} holds the database's master user, which rotates itself "
            "(single user); remove its rotation.master_secret",
        )
    if workload.service not in secret.consumers:
        raise ConfigError(
            credentials_path,
            f"{database.credentials!r} must list {workload.service!r} in its consumers: the "
            "service is what connects to the database",
        )


def _environments(value: Any, path: str) -> tuple[EnvironmentConfig, ...]:
    if not isinstance(value, Mapping):
        raise ConfigError(
            path, f"must be an object keyed by environment name, got {_describe(value)}"
        )
    if not value:
        raise ConfigError(path, "must define at least one environment")
    environments = []
    for name, body in value.items():
        env_path = _join(path, str(name))
        _matching(_NAME, "lowercase letters, digits and '-', starting with a letter, at most 20")(
            name, env_path
        )
        environments.append(_environment(name, body, env_path))
    return tuple(environments)


def _pipeline_source(value: Any, path: str) -> PipelineSource:
    obj = _Object(value, path, required=("repository", "branch"), optional=("connection_arn",))
    connection = obj.get("connection_arn", _matching(_CONNECTION_ARN, _CONNECTION_HELP), None)
    repository = obj.require(
        "repository",
        _matching(_CODECOMMIT_REPOSITORY, "a CodeCommit repository name")
        if connection is None
        else _matching(_CONNECTED_REPOSITORY, "owner/name of the connected repository"),
    )
    return PipelineSource(
        repository=repository,
        branch=obj.require("branch", _matching(_BRANCH, "a git branch name")),
        connection_arn=connection,
    )


def _pipeline(value: Any, path: str) -> PipelineConfig:
    obj = _Object(
        value,
        path,
        required=(),
        optional=("enabled", "account", "region", "source", "waves", "approval_before"),
    )
    enabled = obj.get("enabled", _boolean, False)
    if enabled:
        for key in ("account", "region", "source"):
            if not obj.has(key):
                raise ConfigError(_join(path, key), "is required when the pipeline is enabled")
    return PipelineConfig(
        enabled=enabled,
        account=obj.get("account", _matching(_ACCOUNT, "a 12-digit AWS account id"), None),
        region=obj.get("region", _region, None),
        source=obj.get("source", _pipeline_source, None),
        waves=obj.get("waves", _list(_list(_string, non_empty=True), non_empty=True), ()),
        approval_before=obj.get("approval_before", _list(_string), ()),
    )


def _check_pipeline(pipeline: PipelineConfig, environments: Sequence[EnvironmentConfig]) -> None:
    """Waves name every environment exactly once; approvals name environments."""
    names = [environment.name for environment in environments]
    for index, name in enumerate(pipeline.approval_before):
        if name not in names:
            raise ConfigError(
                f"pipeline.approval_before[{index}]",
                f"unknown environment {name!r}; configured: {', '.join(sorted(names))}",
            )
    if not pipeline.waves:
        return
    seen: set[str] = set()
    for index, wave in enumerate(pipeline.waves):
        for position, name in enumerate(wave):
            where = f"pipeline.waves[{index}][{position}]"
            if name not in names:
                raise ConfigError(
                    where, f"unknown environment {name!r}; configured: {', '.join(names)}"
                )
            if name in seen:
                raise ConfigError(where, f"{name!r} is already in an earlier wave")
            seen.add(name)
    missing = [name for name in names if name not in seen]
    if missing:
        raise ConfigError(
            "pipeline.waves",
            f"leaves out {', '.join(missing)}; every environment deploys in one wave",
        )


def _check_alert_pattern(application: str, environment: EnvironmentConfig) -> None:
    """The unexpected-read rule names every role allowed to read; refuses a list that would pass
    EventBridge's pattern limit."""
    size, roles = alert_pattern_size(application, environment)
    if size > EVENT_PATTERN_LIMIT:
        raise ConfigError(
            f"environments.{environment.name}.alerts.allowed_readers",
            f"the unexpected-read rule would name {roles} roles in a pattern of about "
            f"{size:,} characters, over EventBridge's {EVENT_PATTERN_LIMIT:,}; list fewer roles "
            "(or raise the quota and the limit together)",
        )


# CloudFormation's limits on one stack: resources, and the template uploaded through the
# bootstrap bucket (bytes).
MAX_STACK_RESOURCES, MAX_TEMPLATE_BYTES = 500, 1_048_576
# The Parameters stack's own resources: the SecureString provider (function, role, policy, log
# group, queue and its policy, security group) and the CDK's metadata (counted in the shipped
# stacks: 8 besides the parameters).
PARAMETERS_STACK_RESOURCES = 8


def _check_parameters_stack(application: str, environment: EnvironmentConfig) -> None:
    """Every parameter of an environment is one resource of its Parameters stack: refuses what
    would pass CloudFormation's limits on a stack, naming the list."""
    parameters = environment.parameters
    resources = PARAMETERS_STACK_RESOURCES + len(parameters)
    path = f"environments.{environment.name}.parameters"
    if resources > MAX_STACK_RESOURCES:
        raise ConfigError(
            path,
            f"{len(parameters)} parameters make the Parameters stack {resources} resources, over "
            f"CloudFormation's {MAX_STACK_RESOURCES} per stack (at most "
            f"{MAX_STACK_RESOURCES - PARAMETERS_STACK_RESOURCES} parameters in one environment)",
        )
    # An upper bound of the template: the provider's part and, per parameter, its resource as
    # the CDK writes it (measured at under 500 bytes besides the name, description and value).
    size = 16_000 + sum(
        600
        + 2 * len(f"/{application}/{environment.name}/{parameter.name}")
        + len(json.dumps(parameter.description))
        + len(json.dumps(parameter.value or ""))
        for parameter in parameters
    )
    if size > MAX_TEMPLATE_BYTES:
        raise ConfigError(
            path,
            f"the Parameters stack's template would be about {size:,} bytes, over "
            f"CloudFormation's {MAX_TEMPLATE_BYTES:,}; keep large values in fewer parameters or "
            "in a secret",
        )


def alert_pattern_size(application: str, environment: EnvironmentConfig) -> tuple[int, int]:
    """The unexpected-read rule's pattern as deployed (characters of compact JSON) and how many
    roles it names. Rotation functions' roles get generated names, counted at the longest IAM
    allows; there is at most one function per distinct generation."""
    account, region = environment.account, environment.region
    role = f"arn:aws:iam::{account}:role/"
    functions = {
        (secret.kind, secret.generation, secret.generate_key)
        for secret in environment.secrets
        if secret.rotation.strategy == "token"
    }
    allowed = [
        *(role + "x" * MAX_ROLE_NAME for _ in functions),
        *(
            f"{role}strongbox/{application}/"
            + reader_role_name(application, environment.name, consumer, kind)
            for _, consumer, kind in (
                environment.workload.reading_roles if environment.workload else ()
            )
        ),
        f"{role}cdk-hnb659fds-cfn-exec-role-{account}-{region}",
        *environment.key_administrators,
        *environment.alerts.allowed_readers,
    ]
    prefix = f"{environment.name}/{application}/"
    pattern = unexpected_read_pattern(
        prefix, f"arn:aws:secretsmanager:{region}:{account}:secret:{prefix}", allowed
    )
    return len(json.dumps(pattern, separators=(",", ":"))), len(allowed)


def reader_role_name(application: str, environment: str, consumer: str, kind: str) -> str:
    """The fixed name of a workload role that reads secrets (`kind`: execution, function or
    instance). Role names are unique per account whatever their path, so the application is in
    the name; the Secrets stack's alert rule lists these names before the roles exist."""
    return f"{application}-{environment}-{consumer}-{kind}"


def parse_config(raw: Any) -> StrongboxConfig:
    """Validate the `strongbox` context block; raises ConfigError naming the offending key path."""
    if isinstance(raw, str):  # `-c strongbox='{...}'` arrives as a string
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as error:
            raise ConfigError("strongbox", f"is not valid JSON: {error.msg}") from None
        except (ValueError, RecursionError):  # a number of over 4300 digits, deep nesting
            raise ConfigError(
                "strongbox", "is not valid JSON: a number too long or nesting too deep"
            ) from None
    if raw is None:
        raise ConfigError("strongbox", "is missing from cdk.json context")
    obj = _Object(raw, "", required=("application", "environments"), optional=("pipeline",))
    config = StrongboxConfig(
        application=obj.require(
            "application", _matching(_NAME, "lowercase letters, digits and '-', at most 20")
        ),
        environments=obj.require("environments", _environments),
        pipeline=obj.get("pipeline", _pipeline, PipelineConfig()),
    )
    # A disabled pipeline's waves may name environments a smaller config leaves out.
    if config.pipeline.enabled:
        _check_pipeline(config.pipeline, config.environments)
    for environment in config.environments:
        _check_alert_pattern(config.application, environment)
        _check_parameters_stack(config.application, environment)
        for key, consumer, kind in (
            environment.workload.reading_roles if environment.workload else ()
        ):
            role = reader_role_name(config.application, environment.name, consumer, kind)
            if len(role) > MAX_ROLE_NAME:
                raise ConfigError(
                    f"environments.{environment.name}.workload.{key}",
                    f"makes the role name {role} longer than IAM's {MAX_ROLE_NAME} characters",
                )
        for index, parameter in enumerate(environment.parameters):
            full_name = f"/{config.application}/{environment.name}/{parameter.name}"
            parameter_path = f"environments.{environment.name}.parameters[{index}].name"
            if len(full_name) > MAX_PARAMETER_NAME:
                raise ConfigError(
                    parameter_path, f"{full_name[:40]}... is over {MAX_PARAMETER_NAME} characters"
                )
            if full_name.count("/") > MAX_PARAMETER_DEPTH:
                raise ConfigError(
                    parameter_path, f"{full_name} is deeper than {MAX_PARAMETER_DEPTH} levels"
                )
    return config


# ---------------------------------------------------------------------------------------------
# JSON loses duplicate object keys silently (the last one wins), which would hide a second
# `"prod": {...}` or a repeated setting. Read cdk.json strictly and name the duplicate instead.


class _Pairs(dict[str, Any]):
    duplicates: list[str]


def _keep_duplicates(pairs: list[tuple[str, Any]]) -> _Pairs:
    result = _Pairs(pairs)
    result.duplicates = [key for index, (key, _) in enumerate(pairs) if key in dict(pairs[:index])]
    return result


def _duplicate_paths(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, _Pairs):
        for key in value.duplicates:
            yield _join(path, key)
        for key, item in value.items():
            yield from _duplicate_paths(item, _join(path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _duplicate_paths(item, f"{path}[{index}]")


def check_cdk_json(path: Path) -> None:
    """Refuse duplicate keys in the strongbox block of cdk.json (plain JSON keeps only the last)."""
    if not path.exists():
        return
    try:
        document = json.loads(path.read_text(), object_pairs_hook=_keep_duplicates)
    except json.JSONDecodeError as error:
        raise ConfigError(str(path), f"is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise ConfigError(str(path), "must be a JSON object with app and context")
    for key in document.duplicates if isinstance(document, _Pairs) else ():
        raise ConfigError(key, "is defined more than once in cdk.json; keep one definition")
    context = document.get("context", {})
    if not isinstance(context, dict):
        raise ConfigError("context", f"must be an object in cdk.json, got {_describe(context)}")
    for key in context.duplicates if isinstance(context, _Pairs) else ():
        raise ConfigError(
            f"context.{key}", "is defined more than once in cdk.json; keep one definition"
        )
    block = context.get("strongbox")
    for duplicate in _duplicate_paths(block, ""):
        raise ConfigError(duplicate, "is defined more than once in cdk.json; keep one definition")
