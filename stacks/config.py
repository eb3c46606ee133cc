"""The Strongbox configuration: the `strongbox` block of cdk.json context, declared once.

Each key is a field of a frozen pydantic dataclass below. The field declares its type, its
default and its constraint (`Matching`, `OneOf`, `Number`, `Listing`, ...); pydantic reads the
block into these typed values, and the same declarations give the JSON Schema that editors use
(`json_schema()`, committed as stacks/cdk.schema.json) and the key reference in
docs/configuration.md (stacks/config_reference.py). A check that relates several keys (a window
shorter than its schedule, a consumer that exists, a policy that fits) is the model's `_check`.

Every refusal is one line naming the key path and what is allowed:
`environments.prod.secrets[0].rotation.window: '48h' is not allowed; expected hours from '1h'
to '24h'`. Limits AWS enforces only at deploy time (key policy size, the alert rule's pattern,
stack size, name lengths) are checked here, so that synth refuses what deploy would.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import itertools
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Self, get_args

from pydantic import (
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic.dataclasses import dataclass
from pydantic.json_schema import JsonSchemaValue, SkipJsonSchema
from pydantic_core import ArgsKwargs, CoreSchema, core_schema

from strongbox.alerts import EVENT_PATTERN_LIMIT, secret_arn_prefix, unexpected_read_pattern
from strongbox.consumer import ROLE_MANAGED_POLICY_QUOTA, fewest_policies
from strongbox.credentials import credential_reason
from strongbox.keys import KEY_POLICY_LIMIT, key_policy_size
from strongbox.naming import pascal_case
from strongbox.reading_function import extension_layer_arn
from strongbox.secrets import DATABASE_ENGINES as SECRET_DATABASE_ENGINES
from strongbox.secrets import (
    DEFAULT_LENGTHS,
    MANDATORY_TAGS,
    MAX_LENGTH,
    MIN_LENGTH,
    RESOURCE_POLICY_LIMIT,
    SECRET_KINDS,
    Generation,
    SecretKind,
    resource_policy_size,
)

PARAMETER_TYPES = ("String", "StringList", "SecureString")
PARAMETER_TIERS = ("Standard", "Advanced")
PARAMETER_POLICY_TYPES = ("Expiration", "ExpirationNotification", "NoChangeNotification")
MAX_ROLE_NAME = 64
# Characters of a parameter's name as Parameter Store counts them: the ARN before the name
# (arn:aws:ssm:<region>:<account>:parameter) included (PutParameter, Name).
MAX_PARAMETER_NAME = 1011
MAX_PARAMETER_DEPTH = 15  # levels of the hierarchy
MAX_STANDARD_VALUE = 4096  # bytes; larger values need the advanced tier (up to 8 KB)
MAX_ADVANCED_VALUE = 8192
MAX_PARAMETER_POLICIES = 10  # PutParameter: PoliciesLimitExceededException beyond
MAX_SECRET_TAGS = 50  # per secret, Strongbox's own included (TagResource)
MAX_SECRET_BYTES = 65_536  # a secret value (Secrets Manager quotas)
RDS_MASTER_PASSWORD = {"postgres": 128}  # CreateDBInstance, MasterUserPassword: 8 to 128
ENDPOINT_SERVICES = ("secretsmanager", "kms", "ssm", "ecr.api", "ecr.dkr", "logs")
DATABASE_ENGINES = ("postgres",)

# Application and environment names become parts of RDS identifiers, which refuse "--" and a
# trailing "-" (CreateDBInstance, DBInstanceIdentifier).
_NAME = re.compile(r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){0,19}\Z", re.ASCII)
_PURPOSE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}\Z", re.ASCII)
_ACCOUNT = re.compile(r"^[0-9]{12}\Z", re.ASCII)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+\Z", re.ASCII)
_RATE = re.compile(r"^rate\((\d{1,6}) (hour|hours|day|days)\)\Z", re.ASCII)
_WINDOW = re.compile(r"^(\d{1,2})h\Z", re.ASCII)
_CRON = re.compile(r"^cron\(([^()]+)\)\Z", re.ASCII)
_PARAMETER_NAME = re.compile(r"^[a-zA-Z0-9_.-]+(/[a-zA-Z0-9_.-]+)*\Z", re.ASCII)
_SERVICE = re.compile(r"^[a-z][a-z0-9-]{0,30}\Z", re.ASCII)
# The aws partition only (Strongbox refuses every other); a path, then a name of at most 64.
_ROLE_ARN = re.compile(
    r"^arn:aws:iam::(\d{12}):role/(?:[\w+=,.@-]+/){0,32}[\w+=,.@-]{1,64}\Z", re.ASCII
)
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


class Refusal(ValueError):  # noqa: N818 - a refusal, not a program error
    """Raised by a constraint or a model's check: `reason` says what is wrong and what is
    allowed; `at` is the key below the value being validated, written as in a path
    (`window`, `[2]`, `secrets[0].x`; empty for the value itself) or, for a key that comes from
    the JSON document and may hold any character, as a one-key tuple. `{here}` in the reason
    becomes the path of the value, for reasons that point at a sibling key."""

    def __init__(self, reason: str, at: str | tuple[str] = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.at = at


ROTATION_STRATEGIES = ("token", "hosted")


@cache
def region_partitions() -> Mapping[str, str]:
    """Region -> partition, from aws-cdk-lib's region-info database (catches `eu-west-7`)."""
    from aws_cdk import region_info

    return {region.name: str(region.partition) for region in region_info.RegionInfo.regions}


def _join(path: str, key: str) -> str:
    if not key:
        return path
    if not path or key.startswith("["):
        return f"{path}{key}"
    return f"{path}.{key}"


def _below(path: str, at: str | tuple[str]) -> str:
    """The path of `at` (a Refusal's) below `path`."""
    if isinstance(at, tuple):  # a key of the document, whatever characters it holds
        return f"{path}.{at[0]}" if path else at[0]
    return _join(path, at)


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


def _suggest(word: str, choices: Sequence[str]) -> str:
    """` (did you mean 'x'?)` for the closest of `choices`, or nothing when none is close."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# ---------------------------------------------------------------------------------------------
# Constraints: what a field accepts, declared on it with Annotated. Each validates the raw JSON
# value itself (a number is never coerced into a string, nor 1 into true) and describes itself
# in the JSON Schema.


class _Constraint:
    schema: ClassVar[dict[str, Any]] = {}

    def validate(self, value: Any) -> Any:
        raise NotImplementedError

    def json_schema(self) -> dict[str, Any]:
        return dict(self.schema)

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(self.validate)

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return self.json_schema()


def _ecma(pattern: re.Pattern[str]) -> str:
    """A Python pattern as JSON Schema's (ECMA-262) regular expressions write it."""
    return pattern.pattern.replace(r"\Z", "$")


class Text(_Constraint):
    """Non-empty text."""

    schema: ClassVar[dict[str, Any]] = {"type": "string", "pattern": r"\S"}

    def validate(self, value: Any) -> str:
        if not isinstance(value, str):
            raise Refusal(f"must be a string, got {_describe(value)}")
        if not value.strip():
            raise Refusal("must not be empty")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise Refusal("must be valid Unicode text (it holds a lone surrogate)") from None
        return value


class Matching(Text):
    """Text that matches `pattern`; `allowed` says what that is in words."""

    def __init__(self, pattern: re.Pattern[str], allowed: str) -> None:
        self.pattern = pattern
        self.allowed = allowed

    def validate(self, value: Any) -> str:
        text = super().validate(value)
        if not self.pattern.match(text):
            raise Refusal(f"{text!r} is not allowed; expected {self.allowed}")
        return text

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": _ecma(self.pattern), "description": self.allowed}


class OneOf(Text):
    def __init__(self, choices: Sequence[str]) -> None:
        self.choices = tuple(choices)

    def validate(self, value: Any) -> str:
        text = super().validate(value)
        if text not in self.choices:
            raise Refusal(
                f"{text!r} is not allowed{_suggest(text, self.choices)}; allowed values: "
                f"{', '.join(self.choices)}"
            )
        return text

    def json_schema(self) -> dict[str, Any]:
        return {"enum": list(self.choices)}


class Bounded(Text):
    """Text of at most `limit` characters, the most `service` takes."""

    def __init__(self, limit: int, service: str) -> None:
        self.limit = limit
        self.service = service

    def validate(self, value: Any) -> str:
        text = super().validate(value)
        if len(text) > self.limit:
            raise Refusal(
                f"is {len(text):,} characters; {self.service} takes at most {self.limit:,}"
            )
        return text

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": r"\S", "maxLength": self.limit}


class Reason(Text):
    """Why rotation is off, in at least 20 characters: it becomes the acknowledgment of the
    rotation findings."""

    def validate(self, value: Any) -> str:
        reason = super().validate(value)
        if len(reason.strip()) < 20:
            raise Refusal(
                "must explain why rotation is off in at least 20 characters; it becomes the "
                "compliance acknowledgment"
            )
        return reason

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": r"\S", "minLength": 20}


# What AWS takes in a tag key (128 characters at most) or value (256): letters, digits, spaces
# and _ . : / = + - @ (the tagging APIs' pattern).
_TAG_CHARACTERS = frozenset("_.:/=+-@")
_TAG_PATTERN = r"^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$"


def _tag_text(text: str, limit: int, what: str, at: str | tuple[str] = "") -> str:
    if len(text) > limit or not all(
        c.isalnum() or c.isspace() or c in _TAG_CHARACTERS for c in text
    ):
        raise Refusal(
            f"{text[:40]!r} is not a tag {what}; allowed: at most {limit} letters, digits, "
            "spaces and _ . : / = + - @",
            at,
        )
    return text


class TagValue(Text):
    def validate(self, value: Any) -> str:
        return _tag_text(super().validate(value), 256, "value")

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": r"\S", "maxLength": 256}


class Flag(_Constraint):
    schema: ClassVar[dict[str, Any]] = {"type": "boolean"}

    def validate(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise Refusal(f"must be true or false, got {_describe(value)}")
        return value


class Number(_Constraint):
    """An integer from `low` to `high`."""

    def __init__(self, low: int, high: int) -> None:
        self.low = low
        self.high = high

    def validate(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Refusal(f"must be an integer, got {_describe(value)}")
        if not self.low <= value <= self.high:
            raise Refusal(f"{_number(value)} is out of range; allowed: {self.low} to {self.high}")
        return value

    def json_schema(self) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.low, "maximum": self.high}


class Region(Text):
    """A region aws-cdk-lib knows, in the aws partition."""

    def validate(self, value: Any) -> str:
        region = super().validate(value)
        partitions = region_partitions()
        if region not in partitions:
            # No "did you mean": eu-west-7 is as close to eu-west-3 as to eu-west-1.
            raise Refusal(f"{region!r} is not an AWS region known to aws-cdk-lib")
        if partitions[region] != "aws":
            # The extension layer table, endpoint names and compliance acknowledgments are built
            # and tested for the commercial partition only; elsewhere synth would fail half-way.
            raise Refusal(
                f"{region!r} is in the {partitions[region]} partition; Strongbox supports aws "
                "regions only"
            )
        return region

    def json_schema(self) -> dict[str, Any]:
        regions = sorted(
            name for name, partition in region_partitions().items() if partition == "aws"
        )
        return {"enum": regions}


class Schedule(Text):
    """A rotation schedule as Secrets Manager takes it."""

    def validate(self, value: Any) -> str:
        schedule = super().validate(value)
        rate = _RATE.match(schedule)
        if rate:
            amount, unit = int(rate.group(1)), rate.group(2)
            hours = amount if unit.startswith("hour") else amount * 24
            if (unit in ("hour", "day") and amount != 1) or (
                unit in ("hours", "days") and amount == 1
            ):
                raise Refusal(f"{schedule!r}: use 'rate(1 day)' / 'rate(N days)' grammar")
            if hours < MIN_ROTATION_HOURS or hours > MAX_ROTATION_DAYS * 24:
                raise Refusal(
                    f"{schedule!r} is out of range; Secrets Manager rotates at most every "
                    f"{MIN_ROTATION_HOURS} hours and at least every {MAX_ROTATION_DAYS} days"
                )
            return schedule
        cron = _CRON.match(schedule)
        if cron:
            fields = cron.group(1).split()
            if len(fields) != 6:
                raise Refusal(
                    f"{schedule!r}: a cron expression has 6 fields (min hour dom month dow year)"
                )
            _check_cron(schedule, fields)
            return schedule
        raise Refusal(
            f"{schedule!r} is not a schedule; expected 'rate(N days)', 'rate(N hours)' or "
            "'cron(...)'"
        )

    def json_schema(self) -> dict[str, Any]:
        return {
            "type": "string",
            "pattern": r"^(rate\([0-9]{1,6} (hour|hours|day|days)\)|cron\(0 [^()]+ \*\))$",
        }


class Window(Matching):
    def __init__(self) -> None:
        super().__init__(_WINDOW, "hours from '1h' to '24h'")

    def validate(self, value: Any) -> str:
        window = Text.validate(self, value)
        match = _WINDOW.match(window)
        if not match or not 1 <= int(match.group(1)) <= 24:
            raise Refusal(f"{window!r} is not allowed; expected {self.allowed}")
        return window

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": "^([1-9]|1[0-9]|2[0-4])h$"}


class Cidr(Text):
    def validate(self, value: Any) -> str:
        text = super().validate(value)
        try:
            network = ipaddress.IPv4Network(text)
        except ValueError:
            raise Refusal(f"{text!r} is not an IPv4 CIDR block such as 10.0.0.0/16") from None
        if not network.is_private or not 16 <= network.prefixlen <= 22:
            raise Refusal(f"{text!r} must be a private block from /16 to /22")
        return text

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": r"^[0-9]{1,3}(\.[0-9]{1,3}){3}/(1[6-9]|2[0-2])$"}


class Reader(Matching):
    """A cross-account reader: a 12-digit account id or an IAM role ARN."""

    def __init__(self) -> None:
        super().__init__(_ROLE_ARN, "a 12-digit account id or an IAM role ARN")

    def validate(self, value: Any) -> str:
        reader = Text.validate(self, value)
        if not (_ACCOUNT.match(reader) or _ROLE_ARN.match(reader)):
            raise Refusal(f"{reader!r} is not allowed; expected {self.allowed}")
        return reader

    def json_schema(self) -> dict[str, Any]:
        return {"anyOf": [{"type": "string", "pattern": _ecma(p)} for p in (_ACCOUNT, _ROLE_ARN)]}


class StringMap(_Constraint):
    """An object of non-empty string values."""

    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": {"type": "string", "minLength": 1},
    }

    def validate(self, value: Any) -> Mapping[str, str]:
        if not isinstance(value, Mapping):
            raise Refusal(f"must be an object of string values, got {_describe(value)}")
        result = {}
        for key, item in value.items():
            try:
                result[str(key)] = Text().validate(item)
            except Refusal as refusal:
                raise Refusal(refusal.reason, (str(key),)) from None
        return result


class Tags(StringMap):
    def validate(self, value: Any) -> Mapping[str, str]:
        tags = super().validate(value)
        for key, text in tags.items():
            if key in MANDATORY_TAGS:
                raise Refusal("is set by Strongbox; it cannot be overridden", (key,))
            if key.lower().startswith("aws:"):
                raise Refusal("tag keys starting 'aws:' are reserved for AWS", (key,))
            _tag_text(key, 128, "key", (key,))
            _tag_text(text, 256, "value", (key,))
        return tags

    def json_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "propertyNames": {
                "maxLength": 128,
                "not": {"anyOf": [{"enum": sorted(MANDATORY_TAGS)}, {"pattern": "^[aA][wW][sS]:"}]},
            },
            "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 256},
        }


class Template(_Constraint):
    """A json secret's non-secret fields."""

    def validate(self, value: Any) -> Mapping[str, str | int | bool]:
        if not isinstance(value, Mapping):
            raise Refusal(f"must be an object of non-secret fields, got {_describe(value)}")
        template: dict[str, str | int | bool] = {}
        for key, item in value.items():
            try:
                JSON_KEY.validate(key)
            except Refusal as refusal:
                raise Refusal(refusal.reason, (str(key),)) from None
            if key.lower() in _LITERAL_VALUE_KEYS:
                raise Refusal("looks like a secret value; name it in generate_key instead", (key,))
            if not isinstance(item, str | int | bool):
                raise Refusal(f"must be a string, number or boolean, got {_describe(item)}", (key,))
            template[key] = item
        return template

    def json_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "propertyNames": {
                "pattern": _ecma(_JSON_KEY),
                "not": {"enum": list(_LITERAL_VALUE_KEYS)},
            },
            "additionalProperties": {"type": ["string", "integer", "number", "boolean"]},
        }


class Listing:
    """A JSON list read into a tuple; `non_empty` refuses [], `unique` refuses repeated items."""

    def __init__(self, *, non_empty: bool = False, unique: bool = True) -> None:
        self.non_empty = non_empty
        self.unique = unique

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_wrap_validator_function(self.validate, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        result = handler(schema)
        if self.non_empty:
            result["minItems"] = 1
        if self.unique:
            result["uniqueItems"] = True
        return result

    def validate(self, value: Any, handler: core_schema.ValidatorFunctionWrapHandler) -> Any:
        if not isinstance(value, list):
            raise Refusal(f"must be a list, got {_describe(value)}")
        if self.non_empty and not value:
            raise Refusal("must list at least one entry")
        items = handler(value)
        if self.unique:
            _refuse_duplicates(items, "", lambda item: item)
        return items


def _refuse_duplicates(items: Sequence[Any], key: str, identity: Callable[[Any], object]) -> None:
    """`key` is the list's key below the value being checked ("" for the value itself)."""
    seen: dict[object, int] = {}
    for index, item in enumerate(items):
        value = identity(item)
        if value in seen:
            raise Refusal(
                f"duplicates {_join('{here}', key)}[{seen[value]}] ({value!r})", f"{key}[{index}]"
            )
        seen[value] = index


def _refuse_same_construct_id(items: Sequence[Any], key: str, name: Callable[[Any], str]) -> None:
    """Names that differ only in case or punctuation (`log-level`, `Log_Level`) become the same
    construct id, which the CDK would refuse half-way through the synth."""
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        construct_id = pascal_case(name(item))
        if construct_id in seen:
            first = seen[construct_id]
            raise Refusal(
                f"{name(item)!r} and {_join('{here}', key)}[{first}] ({name(items[first])!r}) "
                f"both become the construct id {construct_id}; names must differ in more than "
                "case and punctuation",
                f"{key}[{index}]",
            )
        seen[construct_id] = index


class _Present:
    """An optional object that may be absent (its default) but never null."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        (inner,) = (kind for kind in get_args(source) if kind is not type(None))
        return handler.generate_schema(inner)


PRESENT = _Present()

# The names an environment or a map entry gets from its key, passed to the model under a key no
# JSON document can hold.
_NAME_KEY = object()


class Named:
    """A JSON object of named entries (environments by name) read into a tuple of them; each
    entry knows its name, and errors name the key (`environments.prod.region`)."""

    def __init__(self, name: Matching, what: str) -> None:
        self.name = name
        self.what = what

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        (entry, _) = get_args(source)
        return core_schema.no_info_wrap_validator_function(
            self.validate,
            handler.generate_schema(dict[str, entry]),  # type: ignore[valid-type]
        )

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        result = handler(schema)
        result["propertyNames"] = {"pattern": _ecma(self.name.pattern)}
        result["minProperties"] = 1
        return result

    def validate(self, value: Any, handler: core_schema.ValidatorFunctionWrapHandler) -> Any:
        if not isinstance(value, Mapping):
            raise Refusal(f"must be an object keyed by {self.what} name, got {_describe(value)}")
        if not value:
            raise Refusal(f"must define at least one {self.what}")
        named = {}
        for name, body in value.items():
            try:
                self.name.validate(name)
            except Refusal as refusal:
                raise Refusal(refusal.reason, (str(name),)) from None
            named[name] = {**body, _NAME_KEY: name} if isinstance(body, Mapping) else body
        return tuple(handler(named).values())


# ---------------------------------------------------------------------------------------------
# The models. `_Model` reads a JSON object for any of them: it refuses what is not an object,
# unknown keys (suggesting the closest) and missing required keys, in that order, before pydantic
# reads the fields; it records which keys were given (`given`), so that a check can tell a
# default from a value.

_CONFIG = ConfigDict(extra="forbid")


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class _Model:
    # Fields the model sets itself, never keys of the JSON object.
    _internal: ClassVar[frozenset[str]] = frozenset({"given"})
    # What JSON Schema can say of the object as a whole (keys that go together); json_schema()
    # adds it to the model's schema. The model's `_check` enforces it, with the rest.
    _schema_rules: ClassVar[dict[str, Any]] = {}
    given: SkipJsonSchema[frozenset[str]] = dataclasses.field(
        default=frozenset(), compare=False, repr=False
    )

    @classmethod
    def _keys(cls) -> dict[str, bool]:
        """The JSON keys of this object, each with whether it is required."""
        fields = cls.__pydantic_fields__  # type: ignore[attr-defined]
        return {
            field.alias or name: field.is_required()
            for name, field in fields.items()
            if name not in cls._internal
        }

    @classmethod
    def _screen(cls, value: Mapping[Any, Any]) -> None:
        """Refusals that come before unknown keys (a model overrides it)."""

    @model_validator(mode="before")
    @classmethod
    def _read(cls, value: Any) -> Any:
        if isinstance(value, ArgsKwargs):  # built in code, not read from JSON
            return value
        if not isinstance(value, Mapping):
            raise Refusal(f"must be an object, got {_describe(value)}")
        cls._screen(value)
        keys = cls._keys()
        given = [key for key in value if key is not _NAME_KEY]
        for key in given:
            if key not in keys:
                raise Refusal(
                    f"unknown key{_suggest(str(key), list(keys))}; allowed keys here: "
                    f"{', '.join(sorted(keys))}",
                    (str(key),),
                )
        for key, required in keys.items():
            if required and key not in value:
                raise Refusal("is required", (key,))
        read = {key: value[key] for key in given}
        read["given"] = frozenset(given)
        if _NAME_KEY in value:
            read["name"] = value[_NAME_KEY]
        return read


TEXT = Text()
FLAG = Flag()
PURPOSE = Matching(_PURPOSE, "lowercase letters, digits and '-'")
_SERVICE_FORM = "a lowercase letter, then lowercase letters, digits and '-', at most 31"
SERVICE = Matching(_SERVICE, f"a service name: {_SERVICE_FORM}")
CONSUMER = Matching(_SERVICE, f"a consumer name: {_SERVICE_FORM}")
JSON_KEY = Matching(_JSON_KEY, "a JSON field name of letters, digits and '_'")
ACCOUNT = Matching(_ACCOUNT, "a 12-digit AWS account id")
ROLE_ARN = Matching(
    _ROLE_ARN, "an IAM role ARN, arn:aws:iam::<account>:role/<path/><name of at most 64>"
)
REGION = Region()
Consumers = Annotated[tuple[Annotated[str, CONSUMER], ...], Listing()]
Readers = Annotated[tuple[Annotated[str, Reader()], ...], Listing()]
Roles = Annotated[tuple[Annotated[str, ROLE_ARN], ...], Listing()]


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class RotationConfig(_Model):
    """Set exactly one of `schedule` and `disabled_reason`. Hosted rotation of a replicated
    secret is refused: the role AWS's transform creates is granted only the primary key, so
    replicas would keep the old password; set `replicate` to false, or give a
    `disabled_reason`."""

    _schema_rules: ClassVar[dict[str, Any]] = {
        "oneOf": [{"required": ["schedule"]}, {"required": ["disabled_reason"]}],
        "if": {"required": ["disabled_reason"]},
        "then": {
            "not": {
                "anyOf": [
                    {"required": [key]}
                    for key in ("window", "rotate_immediately", "strategy", "master_secret")
                ]
            }
        },
    }

    schedule: Annotated[str | None, Schedule()] = Field(
        default=None,
        description="`rate(N hours)` or `rate(N days)` (`rate(1 day)` for one), from 4 hours to "
        "1000 days; or `cron(0 H DOM MONTH DOW *)` as Secrets Manager takes it: minutes 0, year "
        "`*`, exactly one of the day fields `?`, and a window that ends by midnight UTC",
    )
    disabled_reason: Annotated[str | None, Reason()] = Field(
        default=None,
        description="at least 20 characters. It becomes the acknowledgment of the rotation "
        "findings (AwsSolutions-SMG4, HIPAA and NIST SecretsManagerRotationEnabled), so say why",
    )
    window: Annotated[str | None, Window()] = Field(
        default=None,
        description="with `schedule` only: `1h` to `24h`, shorter than a `rate` schedule; Secrets "
        "Manager's default when absent",
    )
    rotate_immediately: Annotated[bool, FLAG] = Field(
        default=True,
        description="with `schedule` only: rotate when the schedule is created or changed",
    )
    strategy: Annotated[str | None, OneOf(ROTATION_STRATEGIES)] = Field(
        default=None,
        description="with `schedule` only. `hosted`: AWS hosted rotation for the engine "
        "(database secrets only, and their default); `token`: Strongbox's `RotationFunction` "
        "with a new random value (every other kind, and their default)",
    )
    master_secret: Annotated[str | None, Matching(_PURPOSE, "the purpose of a database secret")] = (
        Field(
            default=None,
            description="with `schedule` only, kind `database` only: the purpose of another "
            "database secret of the environment whose user rotates this one (multi-user rotation)",
        )
    )

    @property
    def enabled(self) -> bool:
        return self.schedule is not None

    @model_validator(mode="after")
    def _check(self) -> Self:
        schedule, reason, window = self.schedule, self.disabled_reason, self.window
        if reason is not None:
            for key in ("window", "rotate_immediately", "strategy", "master_secret"):
                if key in self.given:
                    raise Refusal("applies only when rotation has a schedule", key)
        interval = _schedule_hours(schedule) if schedule else None
        if window is not None and interval is not None and int(window[:-1]) >= interval:
            raise Refusal(f"{window!r} must be shorter than the schedule {schedule!r}", "window")
        cron = _CRON.match(schedule) if schedule else None
        starts = _cron_start_hours(cron.group(1).split()[1]) if cron else None
        if starts and any(b - a < MIN_ROTATION_HOURS for a, b in itertools.pairwise(starts)):
            raise Refusal(
                f"{schedule!r} opens windows less than {MIN_ROTATION_HOURS} hours apart; "
                f"Secrets Manager rotates at most every {MIN_ROTATION_HOURS} hours",
                "schedule",
            )
        if window is not None and starts:
            hours = int(window[:-1])
            gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
            if starts[-1] + hours > 24 or any(hours > gap for gap in gaps):
                raise Refusal(
                    f"{window!r} would run past midnight UTC or into the next window of "
                    f"{schedule!r}; Secrets Manager refuses a window that does (start hour + "
                    "window <= 24)",
                    "window",
                )
        if (schedule is None) == (reason is None):
            raise Refusal(
                "set exactly one of 'schedule' (rotation on) or 'disabled_reason' (why it is off)"
            )
        return self


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class GenerationConfig(_Model):
    """How Secrets Manager generates a value; a `token` rotation generates with the same
    options as the first value."""

    length: Annotated[int | None, Number(MIN_LENGTH, MAX_LENGTH)] = Field(
        default=None, description="32 for `database`, 40 otherwise when absent"
    )
    exclude_characters: Annotated[str | None, TEXT] = Field(
        default=None,
        description="characters never generated; for `database`, added to "
        "``/ @ \" ' \\ ` `` and space, which are always excluded (RDS refuses some of them in a "
        "master password)",
    )
    exclude_punctuation: Annotated[bool | None, FLAG] = Field(
        default=None,
        description="letters and digits only; `true` for `api-key` and `false` otherwise when "
        "absent",
    )

    def resolved(self, kind: SecretKind) -> Generation:
        """These options with the defaults of a secret of `kind`, as the secret generates."""
        return Generation(
            self.length, self.exclude_characters, self.exclude_punctuation
        ).with_defaults(kind)


_DATABASE_NAME_FORM = "a letter, then letters, digits and '_', at most 63"
DATABASE_USER = Matching(_DATABASE_USER, f"a database user name: {_DATABASE_NAME_FORM}")


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class SecretDatabaseConfig(_Model):
    """A `database` secret's fields besides the generated password and the host."""

    _schema_rules: ClassVar[dict[str, Any]] = {
        "if": {"properties": {"engine": {"const": "postgres"}}},
        "then": {
            "properties": {
                key: {"not": {"enum": sorted(POSTGRES_RESERVED_NAMES)}}
                for key in ("username", "dbname")
            }
        },
    }

    engine: Annotated[str, OneOf(tuple(SECRET_DATABASE_ENGINES))] = Field(
        default="postgres", description="the engine the secret's fields are for"
    )
    username: Annotated[str, DATABASE_USER] = Field(
        default="app",
        description="a letter then letters, digits, `_`; for `postgres`, not a word PostgreSQL "
        "reserves or RDS uses (`user`, `select`, `rdsadmin`, `template1`, ...)",
    )
    dbname: Annotated[
        str | None, Matching(_DATABASE_USER, f"a database name: {_DATABASE_NAME_FORM}")
    ] = Field(default=None, description="same form and reserved words as `username`")
    # RDS accepts 1150-65535 for every engine (CreateDBInstance, Port).
    port: Annotated[int | None, Number(*RDS_PORTS)] = Field(
        default=None, description="what RDS accepts; the engine's default when absent"
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.engine == "postgres":
            for key, name in (("username", self.username), ("dbname", self.dbname)):
                if name is not None and name.lower() in POSTGRES_RESERVED_NAMES:
                    raise Refusal(
                        f"{name!r} is a word PostgreSQL reserves (or RDS uses itself), which RDS "
                        "refuses as a master user or database name; choose another",
                        key,
                    )
                if name is not None and name.lower().startswith("pg_"):
                    raise Refusal(
                        f"{name!r} begins with pg_, which PostgreSQL reserves for its own roles "
                        "and RDS refuses; choose another",
                        key,
                    )
        return self


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class SecretConfig(_Model):
    """A secret named `<environment>/<application>/<purpose>`; Secrets Manager generates its
    value at deploy time, never written in cdk.json or a template. `value`, `secret_string`,
    `password` and `secret` are refused as keys of a secret: a literal value would be stored in
    plaintext in cdk.json and the template."""

    _schema_rules: ClassVar[dict[str, Any]] = {
        "allOf": [
            {
                "if": {"properties": {"kind": {"not": {"const": kind}}}},
                "then": {"not": {"anyOf": [{"required": [key]} for key in keys]}},
            }
            for kind, keys in (("database", ["database"]), ("json", ["template", "generate_key"]))
        ]
        + [
            {
                "if": {"properties": {"kind": condition}},
                "then": {"properties": {"rotation": {"properties": {"strategy": strategy}}}},
            }
            for condition, strategy in (
                ({"const": "database"}, {"const": "hosted"}),
                ({"not": {"const": "database"}}, {"const": "token"}),
            )
        ]
    }

    purpose: Annotated[str, PURPOSE] = Field(
        description="lowercase letters, digits and `-`, at most 63 characters. Renaming it "
        "replaces the secret (see operations.md, logical ids)"
    )
    kind: Annotated[SecretKind, OneOf(SECRET_KINDS)] = Field(
        description="`database` (JSON with `engine`, `host`, `port`, `username`, `dbname`, "
        "generated `password`), `api-key` (one generated string), `json` (`template` plus one "
        "generated field)"
    )
    description: Annotated[str, Bounded(2048, "Secrets Manager")] = Field(
        description="not empty, at most 2,048 characters"
    )
    owner: Annotated[str, TagValue()] = Field(
        description="not empty; the `Owner` tag, so at most 256 letters, digits, spaces and "
        "`_ . : / = + - @`"
    )
    rotation: RotationConfig = Field(description="a schedule, or the reason it does not rotate")
    tags: Annotated[Mapping[str, str], Tags()] = Field(
        default_factory=dict,
        description="more tags; `Environment`, `Application`, `Component`, `Owner` and "
        "`SecretKind` are set by Strongbox and cannot be overridden; keys (at most 128 "
        "characters, not starting `aws:`) and values (at most 256) of letters, digits, spaces and "
        "`_ . : / = + - @`",
    )
    consumers: Consumers = Field(
        default=(),
        description="the workload's `service`, `function.name` or `instance.name`; each gets "
        "read access to exactly this secret",
    )
    replicate: Annotated[bool, FLAG] = Field(
        default=True, description="`true` replicates into every replica region"
    )
    generation: GenerationConfig = Field(
        default=GenerationConfig(),
        description="how the value is generated",
    )
    database: Annotated[SecretDatabaseConfig | None, PRESENT] = Field(
        default=None,
        description="kind `database` only (and `{}` by default there): the fields of the "
        "secret's JSON",
    )
    template: Annotated[Mapping[str, str | int | bool] | None, Template()] = Field(
        default=None,
        description="kind `json` only. Non-secret fields: names of letters, digits and `_`; "
        "values string, number or boolean. `value`, `secret_string`, `password` and `secret` "
        "are refused as field names",
    )
    generate_key: Annotated[str | None, JSON_KEY] = Field(
        default=None,
        description="kind `json` only. The field that holds the generated value (`value` when "
        "absent); not also in `template`",
    )
    cross_account_readers: Readers = Field(
        default=(),
        description="a subset of the environment's `cross_account_readers`; each may read this "
        "secret (GetSecretValue, DescribeSecret)",
    )
    vpc_endpoint_only: Annotated[bool, FLAG] = Field(
        default=False,
        description="`true`: reading or writing the value must come through a Secrets Manager "
        "VPC endpoint (the Network stack's or `network.vpc_endpoint_ids`), except for "
        "administrators, the deploy role and AWS services. Needs such an endpoint; refused with "
        "replication or cross-account readers",
    )

    @classmethod
    def _screen(cls, value: Mapping[Any, Any]) -> None:
        for key in _LITERAL_VALUE_KEYS:
            if key in value:
                raise Refusal(
                    "a secret never takes a literal value: it would be stored in plaintext in "
                    "cdk.json and the template; Strongbox generates the value",
                    key,
                )

    @model_validator(mode="after")
    def _check(self) -> Self:
        kind = self.kind
        for key, owner_kind in (
            ("database", "database"),
            ("template", "json"),
            ("generate_key", "json"),
        ):
            if key in self.given and kind != owner_kind:
                raise Refusal(f"applies to kind '{owner_kind}' only", key)
        template, generate_key = self.template, self.generate_key
        if template is not None and generate_key is not None and generate_key in template:
            raise Refusal(f"{generate_key!r} is also in template", "generate_key")
        rotation = self.rotation
        if rotation.enabled:
            strategy = rotation.strategy or ("hosted" if kind == "database" else "token")
            if (strategy == "hosted") != (kind == "database"):
                raise Refusal(
                    f"{strategy!r} does not rotate a {kind!r} secret; database secrets use "
                    "'hosted' (AWS hosted rotation), others 'token'",
                    "rotation.strategy",
                )
            if rotation.master_secret is not None and kind != "database":
                raise Refusal("applies to kind 'database' only", "rotation.master_secret")
            # Resolving the default as the model is built, as a frozen dataclass's __post_init__
            # would: the rotation object is this secret's own.
            object.__setattr__(rotation, "strategy", strategy)
        if kind == "database" and self.database is None:
            object.__setattr__(self, "database", SecretDatabaseConfig())
        if len(self.tags) + len(MANDATORY_TAGS) > MAX_SECRET_TAGS:
            raise Refusal(
                f"{len(self.tags)} tags and Strongbox's {len(MANDATORY_TAGS)} make "
                f"{len(self.tags) + len(MANDATORY_TAGS)}; Secrets Manager takes at most "
                f"{MAX_SECRET_TAGS} per secret",
                "tags",
            )
        generation = self.generation.resolved(kind)
        if missing := generation.unavailable_types():
            raise Refusal(
                f"leaves no {' and no '.join(missing)} to generate from; Secrets Manager puts "
                "at least one character of each included type into a value (exclude "
                "punctuation with exclude_punctuation)",
                "generation.exclude_characters",
            )
        if kind == "json":
            length = self.generation.length or DEFAULT_LENGTHS[kind]
            value = {**(self.template or {}), self.generate_key or "value": "x" * length}
            size = len(json.dumps(value).encode())
            if size > MAX_SECRET_BYTES:
                raise Refusal(
                    f"makes the secret's value about {size:,} bytes with its generated field; "
                    f"Secrets Manager takes at most {MAX_SECRET_BYTES:,}",
                    "template",
                )
        return self


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class SecureStringSource(_Model):
    """Where a SecureString's value comes from: generated, or copied from a secret's field."""

    generation: GenerationConfig | None = Field(
        default=None, alias="generate", description="a new value, generated at deploy time"
    )
    secret: Annotated[str | None, Matching(_PURPOSE, "the purpose of a secret")] = Field(
        default=None, description="the purpose of a secret of the environment to copy from"
    )
    field: Annotated[str | None, Matching(_JSON_KEY, "a JSON field name")] = Field(
        default=None,
        description="with `secret`: the field to copy; required for `database` and `json` "
        "secrets, refused for `api-key`. A database secret's copyable fields are `engine`, "
        "`username`, `dbname` when set, and `password`",
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if ("generate" in self.given) == ("secret" in self.given):
            raise Refusal("set exactly one of 'generate' (a new value) or 'secret' (copy)")
        if "field" in self.given and "secret" not in self.given:
            raise Refusal("applies with 'secret' only", "field")
        return self


def _is_zoned_timestamp(text: str) -> bool:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return False
    return moment.tzinfo is not None


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class ParameterPolicy(_Model):
    """A Parameter Store policy, as the PutParameter API takes it."""

    Type: Annotated[str, OneOf(PARAMETER_POLICY_TYPES)]
    Version: Annotated[str, OneOf(("1.0",))]
    Attributes: Annotated[Mapping[str, str], StringMap()] = Field(
        description="`Expiration`: `Timestamp` (ISO 8601 with its zone, `2027-01-31T09:00:00Z`); "
        "`ExpirationNotification`: `Before` and `Unit`; `NoChangeNotification`: `After` and "
        "`Unit`. `Before` and `After` are whole numbers as text, `Unit` is `Days` or `Hours`"
    )

    # Each type's attributes (Systems Manager user guide, "Assigning parameter policies"):
    # Expiration at a Timestamp (ISO 8601 with a zone), the notifications a whole number of
    # Days or Hours Before the expiration or After the last change.
    _ATTRIBUTES: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "Expiration": ("Timestamp",),
        "ExpirationNotification": ("Before", "Unit"),
        "NoChangeNotification": ("After", "Unit"),
    }

    @model_validator(mode="after")
    def _check(self) -> Self:
        expected = self._ATTRIBUTES[self.Type]
        if sorted(self.Attributes) != sorted(expected):
            raise Refusal(
                f"a {self.Type} policy takes exactly {' and '.join(expected)}", "Attributes"
            )
        for key, value in self.Attributes.items():
            at = f"Attributes.{key}"
            if key == "Timestamp" and not _is_zoned_timestamp(value):
                raise Refusal(
                    f"{value!r} is not allowed; expected an ISO 8601 time with its zone, such as "
                    "2027-01-31T09:00:00Z",
                    at,
                )
            if key in ("Before", "After") and not re.fullmatch(r"[1-9][0-9]{0,5}", value):
                raise Refusal(f"{value!r} is not allowed; expected a whole number, as text", at)
            if key == "Unit" and value not in ("Days", "Hours"):
                raise Refusal(f"{value!r} is not allowed; allowed values: Days, Hours", at)
        return self

    def as_json(self) -> Mapping[str, Any]:
        return {"Type": self.Type, "Version": self.Version, "Attributes": dict(self.Attributes)}


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class ParameterConfig(_Model):
    """A parameter under `/<application>/<environment>/`. A copied SecureString does not
    follow the secret's rotation."""

    _schema_rules: ClassVar[dict[str, Any]] = {
        "allOf": [
            {"properties": {"value": {"not": {"pattern": r"\{\{resolve:"}}}},
            {
                "if": {"properties": {"type": {"const": "SecureString"}}},
                "then": {"required": ["source"], "not": {"required": ["value"]}},
                "else": {"required": ["value"], "not": {"required": ["source"]}},
            },
        ]
    }

    name: Annotated[str, Matching(_PARAMETER_NAME, "path segments of [a-zA-Z0-9_.-]")] = Field(
        description="path segments of `[a-zA-Z0-9_.-]` separated by `/`; at most 15 levels, and "
        "1,011 characters with the ARN before the name "
        "(`arn:aws:ssm:<region>:<account>:parameter/<application>/<environment>/`)"
    )
    type: Annotated[str, OneOf(PARAMETER_TYPES)]
    value: Annotated[str | None, TEXT] = Field(
        default=None,
        description="required for `String` and `StringList`, refused for `SecureString`. At most "
        "8 KB; a `StringList` has no empty items. A name or value that looks like a credential "
        "(password, token, key material, a URL with a password, long random strings) or a "
        "`{{resolve:...}}` reference is refused: use a SecureString or a secret",
    )
    description: Annotated[str, Bounded(1024, "Parameter Store")] = Field(
        default="", description="at most 1,024 characters"
    )
    tier: Annotated[str, OneOf(PARAMETER_TIERS)] = Field(
        default="Standard",
        description="`Advanced` when the value is over 4 KB or there are policies, `Standard` "
        "otherwise; `Standard` is refused when `Advanced` is needed",
    )
    policies: Annotated[tuple[ParameterPolicy, ...], Listing(unique=False)] = Field(
        default=(),
        description="`String` and `StringList` only; at most 10",
    )
    source: Annotated[SecureStringSource | None, PRESENT] = Field(
        default=None,
        description="required for `SecureString`, refused otherwise. Exactly one of "
        '`{"generate": <generation>}` (a new value, generated at deploy time) and `{"secret": '
        '"<purpose>", "field": "<field>"}` (a copy of a secret\'s field made at deploy time)',
    )
    consumers: Consumers = Field(default=(), description="as for secrets")

    @model_validator(mode="after")
    def _check(self) -> Self:
        kind, text = self.type, self.value
        if kind == "SecureString":
            if "value" in self.given:
                raise Refusal(
                    "a SecureString never takes a literal value: it would be stored in plaintext "
                    "in cdk.json; set 'source' (generate, or copy from a secret)",
                    "value",
                )
            if "source" not in self.given:
                raise Refusal("is required for a SecureString", "source")
            if "policies" in self.given:
                raise Refusal("apply to String and StringList parameters only", "policies")
        else:
            if "source" in self.given:
                raise Refusal("applies to SecureString only", "source")
            if "value" not in self.given:
                raise Refusal(f"is required for a {kind}", "value")
        if text is not None and "{{resolve:" in text:
            raise Refusal(
                "a dynamic reference ({{resolve:...}}) would be resolved by CloudFormation and "
                f"stored in plaintext in this {kind}; use a SecureString copied from the secret "
                '(source: {"secret": ..., "field": ...})',
                "value",
            )
        if text is not None:
            reason = credential_reason(self.name, text)
            if reason:
                raise Refusal(
                    f"{reason}; keep credentials in a SecureString or a secret, not a {kind}"
                )
            if kind == "StringList" and any(not item.strip() for item in text.split(",")):
                raise Refusal("a StringList has no empty items", "value")
        if len(self.policies) > MAX_PARAMETER_POLICIES:
            raise Refusal(
                f"{len(self.policies)} policies; Parameter Store takes at most "
                f"{MAX_PARAMETER_POLICIES} per parameter",
                "policies",
            )
        size = len(text.encode()) if text is not None else 0
        needed = "Advanced" if self.policies or size > MAX_STANDARD_VALUE else "Standard"
        if "tier" not in self.given:
            object.__setattr__(self, "tier", needed)
        elif self.tier == "Standard" and needed == "Advanced":
            raise Refusal(
                "must be 'Advanced': the value is over 4 KB or the parameter has policies", "tier"
            )
        if size > MAX_ADVANCED_VALUE:
            raise Refusal(f"is {size} bytes; the limit is 8 KB", "value")
        return self


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class NetworkConfig(_Model):
    """The VPC the environment's endpoints and workload use: a new one, or an existing one
    given by id (synth looks nothing up)."""

    create_vpc: Annotated[bool, FLAG] = Field(
        default=True,
        description="`true`: a VPC with isolated subnets only (no NAT, no internet path) in the "
        "environment's zones. `false`: use the VPC given by `vpc_id`, `subnet_ids` and "
        "`route_table_ids`",
    )
    cidr: Annotated[str, Cidr()] = Field(
        default="10.0.0.0/16", description="a private IPv4 block from /16 to /22"
    )
    endpoints: Annotated[tuple[Annotated[str, OneOf(ENDPOINT_SERVICES)], ...], Listing()] = Field(
        default=ENDPOINT_SERVICES,
        description="interface endpoints to create (the S3 gateway is always created)",
    )
    # Secrets Manager interface endpoints that exist already (an imported VPC's, or another
    # VPC's); secrets with vpc_endpoint_only accept value requests only through these and the
    # `secretsmanager` endpoint of `endpoints`, when the Network stack creates it.
    vpc_endpoint_ids: Annotated[
        tuple[Annotated[str, Matching(_VPC_ENDPOINT_ID, "a VPC endpoint id (vpce-...)")], ...],
        Listing(),
    ] = Field(
        default=(),
        description="existing Secrets Manager endpoints through which `vpc_endpoint_only` "
        "secrets accept requests. With `create_vpc` false, `endpoints` must then leave out "
        "`secretsmanager` (a second endpoint with private DNS would fail to deploy)",
    )
    vpc_id: Annotated[str | None, Matching(_VPC_ID, "a VPC id (vpc-...)")] = Field(
        default=None, description="`create_vpc` false only, then required"
    )
    subnet_ids: Annotated[
        tuple[Annotated[str, Matching(_SUBNET_ID, "a subnet id")], ...], Listing(non_empty=True)
    ] = Field(
        default=(),
        description="`create_vpc` false only, then required: one isolated subnet per "
        "availability zone, in the same order",
    )
    route_table_ids: Annotated[
        tuple[Annotated[str, Matching(_ROUTE_TABLE_ID, "a route table id")], ...],
        Listing(non_empty=True),
    ] = Field(
        default=(),
        description="`create_vpc` false only, then required: one per availability zone, in the "
        "same order",
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        for key in ("vpc_id", "subnet_ids", "route_table_ids"):
            if self.create_vpc and key in self.given:
                raise Refusal("applies only with create_vpc false", key)
            if not self.create_vpc and key not in self.given:
                raise Refusal("is required with create_vpc false (no lookups)", key)
        # An existing VPC's own Secrets Manager endpoints have private DNS on; a second endpoint
        # with private DNS for the same service in that VPC fails to create (the name is taken).
        if not self.create_vpc and self.vpc_endpoint_ids and "secretsmanager" in self.endpoints:
            at = "endpoints"
            if "endpoints" in self.given:
                at += f"[{self.endpoints.index('secretsmanager')}]"
            raise Refusal(
                "'secretsmanager' would be a second Secrets Manager endpoint with private DNS in "
                "the existing VPC, whose endpoints are in network.vpc_endpoint_ids; that fails to "
                "deploy (the private DNS name is taken), so list endpoints without "
                "'secretsmanager'",
                at,
            )
        return self


INSTANCE_TYPE = "an instance type such as t4g.{}"


@cache
def ec2_instance_types() -> frozenset[str]:
    """The instance types of EC2's API model, as botocore ships it."""
    import botocore.session  # type: ignore[import-untyped]

    model = botocore.session.get_session().get_service_model("ec2")
    return frozenset(model.shape_for("InstanceType").enum)


class InstanceType(Matching):
    """An EC2 instance type (RDS's class without `db.`) that EC2's API knows."""

    def __init__(self, example: str) -> None:
        super().__init__(_INSTANCE_TYPE, INSTANCE_TYPE.format(example))

    def validate(self, value: Any) -> str:
        name = super().validate(value)
        if name not in ec2_instance_types():
            import botocore

            family = name.split(".")[0] + "."
            sizes = sorted(t.split(".")[1] for t in ec2_instance_types() if t.startswith(family))
            raise Refusal(
                f"{name!r} is not an instance type of EC2's API (botocore {botocore.__version__})"
                + (f"; {family[:-1]} comes in {', '.join(sizes)}" if sizes else "")
            )
        return name


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class DatabaseConfig(_Model):
    """The workload's RDS instance; `credentials` is the purpose of the database secret that
    holds its master user (attached to the instance and rotated by AWS hosted rotation)."""

    engine: Annotated[str, OneOf(DATABASE_ENGINES)]
    credentials: Annotated[str, Matching(_PURPOSE, "the purpose of a database secret")] = Field(
        description="the purpose of a `database` secret of the same engine, without "
        "`master_secret`, listing `service` in its consumers; it holds the master user"
    )
    instance_type: Annotated[str, InstanceType("micro")] = Field(
        default="t4g.micro", description="the RDS instance class, without `db.`"
    )
    storage_gib: Annotated[int, Number(20, 1024)] = Field(
        default=20, description="allocated storage"
    )


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class FunctionConfig(_Model):
    """A Lambda consumer that reads through the Parameters and Secrets extension."""

    name: Annotated[str, CONSUMER] = Field(description="same form as `service`, different from it")
    # The extension's own bounds for SECRETS_MANAGER_TTL and SSM_PARAMETER_STORE_TTL.
    cache_ttl_seconds: Annotated[int, Number(0, 300)] = Field(
        default=300, description="how long the extension caches a value"
    )


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class InstanceConfig(_Model):
    """An EC2 consumer: an instance profile and a launch template for instances that use it."""

    name: Annotated[str, CONSUMER] = Field(
        description="different from the service's and the function's"
    )
    instance_type: Annotated[str, InstanceType("small")] = Field(
        default="t4g.small", description="the launch template's instance type"
    )


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class WorkloadConfig(_Model):
    """The consumers of the environment's secrets: an ECS Fargate service, and optionally a
    Lambda function and EC2 instances. Each reading role is named
    `<application>-<environment>-<consumer>-<execution|function|instance>`, at most 64
    characters."""

    service: Annotated[str, SERVICE] = Field(
        description="the ECS Fargate service's name: a lowercase letter, then lowercase letters, "
        "digits and `-`, at most 31"
    )
    image_repository: Annotated[str, Matching(_ECR_REPOSITORY, "an ECR repository name")] = Field(
        description="an ECR repository name in the environment's account"
    )
    image_tag: Annotated[
        str,
        Matching(
            _IMAGE_TAG,
            "an image tag other than latest: letters, digits, '_', '.' and '-', at most 128, "
            "not starting with '.' or '-'",
        ),
    ] = Field(description="an image tag other than `latest`")
    desired_count: Annotated[int, Number(0, 100)] = Field(default=1, description="tasks to run")
    database: Annotated[DatabaseConfig | None, PRESENT] = Field(
        default=None, description="an RDS PostgreSQL instance"
    )
    port: Annotated[int, Number(1024, 65535)] = Field(
        default=8080, description="the container's port"
    )
    function: Annotated[FunctionConfig | None, PRESENT] = Field(
        default=None,
        description="a Lambda consumer reading through the Parameters and Secrets extension",
    )
    instance: Annotated[InstanceConfig | None, PRESENT] = Field(
        default=None,
        description="an EC2 consumer: instance profile and launch template",
    )

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
        return tuple(consumer for _, consumer, _ in self.reading_roles)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if ".amazonaws.com" in self.image_repository or "dkr.ecr" in self.image_repository:
            raise Refusal(
                f"{self.image_repository[:60]!r} is a repository URI; expected the repository's "
                "name only (payments-api), in the environment's account",
                "image_repository",
            )
        if self.function and self.function.name == self.service:
            raise Refusal("must differ from the service's name", "function.name")
        if self.instance and self.instance.name in self.consumers[:-1]:
            raise Refusal(
                "must differ from the service's and the function's names", "instance.name"
            )
        return self


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class AlertsConfig(_Model):
    """Who hears of rotation failures and unexpected reads."""

    emails: Annotated[
        tuple[Annotated[str, Matching(_EMAIL, "an email address")], ...], Listing()
    ] = Field(
        default=(),
        description="email addresses subscribed to the alert topic (each confirms by email)",
    )
    # Roles (besides Strongbox's own) whose GetSecretValue calls are expected, not alerted on.
    allowed_readers: Roles = Field(
        default=(),
        description="IAM role ARNs whose reads of the environment's secrets are expected, besides "
        "the workload's roles, the rotation functions and the key administrators",
    )


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class DetectionConfig(_Model):
    """AWS Config rules that watch the environment's secrets and keys after deploy, and whether
    Strongbox creates the Config recorder they need."""

    config_rules: Annotated[bool | None, FLAG] = Field(
        default=None,
        description="the AWS Config managed rules behind Security Hub's Secrets Manager and KMS "
        "controls, scoped to this environment's tag, their non-compliance sent to the alert "
        "topic. Default: on, except in `dev`",
    )
    create_recorder: Annotated[bool, FLAG] = Field(
        default=False,
        description="create an AWS Config recorder (secrets and KMS keys only) and its delivery "
        "channel. Leave false where Control Tower or the organization already records: a region "
        "has one recorder, and deploying a second fails",
    )


ENVIRONMENT_NAME = Matching(
    _NAME,
    "lowercase letters, digits and '-', starting with a letter, at most 20, with no '-' last "
    "or twice in a row",
)


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class EnvironmentConfig(_Model):
    """Each environment becomes the stage `Strongbox-<Name>` (`prod` -> `Strongbox-Prod`,
    `eu-prod` -> `Strongbox-Eu-Prod`). Every environment but `dev` retains its stateful
    resources (keys, secrets, database, log groups, SecureStrings) when a stack is deleted and
    protects its stacks from termination. The environment named `dev` destroys them with its
    stacks and has a 7-day key deletion window (30 elsewhere) and a single-AZ database without
    deletion protection, with 1 day of backups (14 elsewhere)."""

    _internal: ClassVar[frozenset[str]] = frozenset({"given", "name"})
    name: SkipJsonSchema[str] = ""  # the key in `environments`
    account: Annotated[str, ACCOUNT] = Field(description="a 12-digit AWS account id")
    region: Annotated[str, REGION] = Field(
        description="a region aws-cdk-lib knows, in the `aws` partition"
    )
    availability_zones: Annotated[tuple[Annotated[str, TEXT], ...], Listing(non_empty=True)] = (
        Field(
            description="zones of `region` (`eu-west-1a`). Synth does no lookups, so the zones "
            "are listed here"
        )
    )
    replica_regions: Annotated[tuple[Annotated[str, REGION], ...], Listing()] = Field(
        default=(),
        description="regions of the `aws` partition other than `region`. Every secret with "
        "`replicate` true is replicated into each, with the replica of the environment's key",
    )
    secrets: Annotated[tuple[SecretConfig, ...], Listing(unique=False)] = Field(
        default=(),
        description="purposes unique, and distinct once turned into construct ids "
        "(`db-credentials` -> `DbCredentials`)",
    )
    parameters: Annotated[tuple[ParameterConfig, ...], Listing(unique=False)] = Field(
        default=(),
        description="names unique, and distinct as construct ids",
    )
    network: NetworkConfig = Field(
        default=NetworkConfig(),
        description="a new VPC with all six endpoints by default",
    )
    workload: Annotated[WorkloadConfig | None, PRESENT] = Field(
        default=None,
        description="without it the environment has keys, secrets, network and parameters "
        "only, and nothing may name a consumer",
    )
    alerts: AlertsConfig = Field(
        default=AlertsConfig(),
        description="no emails, no extra readers by default",
    )
    detection: DetectionConfig = Field(
        default=DetectionConfig(),
        description="Config rules on except in `dev`; no recorder created",
    )
    key_administrators: Roles = Field(
        default=(),
        description="IAM role ARNs in `account`: they manage the key (never use it) and may "
        "delete secrets or change their policies. The account root always administers",
    )
    cross_account_readers: Readers = Field(
        default=(),
        description="12-digit account ids or IAM role ARNs of other accounts that the key policy "
        "trusts to decrypt through Secrets Manager. A secret shares with a subset of these",
    )

    @property
    def regions(self) -> tuple[str, ...]:
        """The primary region first, then every replica region."""
        return (self.region, *self.replica_regions)

    @property
    def config_rules(self) -> bool:
        """Whether the environment has the Config rules: as `detection.config_rules` says, or
        everywhere but `dev` when it says nothing."""
        chosen = self.detection.config_rules
        return not self.is_development if chosen is None else chosen

    @property
    def is_development(self) -> bool:
        """Dev may destroy stateful resources on stack deletion; other environments retain them."""
        return self.name == "dev"

    @property
    def stage_name(self) -> str:
        return "Strongbox-" + "-".join(part.capitalize() for part in self.name.split("-"))

    @model_validator(mode="after")
    def _check(self) -> Self:
        region, account = self.region, self.account
        for index, zone in enumerate(self.availability_zones):
            # Zones are lettered from a; no region has more than six (us-east-1 has the most).
            # Which letters an account sees differs by account, so a letter up to f passes.
            if not re.fullmatch(re.escape(region) + r"[a-f]", zone):
                raise Refusal(
                    f"{zone!r} is not an availability zone of {region} (e.g. {region}a; no "
                    "region has a zone lettered after f)",
                    f"availability_zones[{index}]",
                )
        for index, replica in enumerate(self.replica_regions):
            if replica == region:
                raise Refusal(
                    f"{replica!r} is the environment's primary region; a replica region must "
                    "differ",
                    f"replica_regions[{index}]",
                )
        for index, reader in enumerate(self.cross_account_readers):
            if _reader_account(reader) == account:
                raise Refusal(
                    "is the environment's own account; list other accounts",
                    f"cross_account_readers[{index}]",
                )
        for index, arn in enumerate(self.key_administrators):
            if _reader_account(arn) != account:
                raise Refusal(
                    f"must be a role in the environment's account {account}",
                    f"key_administrators[{index}]",
                )
        if self.detection.create_recorder and not self.config_rules:
            raise Refusal(
                "the recorder is created for the Config rules, which are off here; set "
                "detection.config_rules true, or leave create_recorder false",
                "detection.create_recorder",
            )
        _refuse_duplicates(self.secrets, "secrets", lambda secret: secret.purpose)
        _refuse_same_construct_id(self.secrets, "secrets", lambda secret: secret.purpose)
        _refuse_duplicates(self.parameters, "parameters", lambda parameter: parameter.name)
        _refuse_same_construct_id(self.parameters, "parameters", lambda parameter: parameter.name)
        self._check_sources()
        self._check_network()
        self._check_secrets()
        self._check_endpoints()
        self._check_consumers()
        self._check_key_policy()
        return self

    def _secret_purposes(self, kind: str | None = None) -> list[str]:
        return [s.purpose for s in self.secrets if kind is None or s.kind == kind]

    def _check_sources(self) -> None:
        by_purpose = {secret.purpose: secret for secret in self.secrets}
        for index, parameter in enumerate(self.parameters):
            source = parameter.source
            if source is None or source.secret is None:
                continue
            at = f"parameters[{index}].source"
            if source.secret not in by_purpose:
                raise Refusal(
                    f"{source.secret!r} is not a secret of this environment"
                    + _suggest(source.secret, list(by_purpose)),
                    f"{at}.secret",
                )
            secret = by_purpose[source.secret]
            if (source.field is None) != (secret.kind == "api-key"):
                raise Refusal(
                    "name the JSON field to copy from a database or json secret, and none from "
                    "an api-key",
                    f"{at}.field",
                )
            copyable = _copyable_fields(secret)
            if source.field is not None and source.field not in copyable:
                raise Refusal(
                    f"{source.field!r} cannot be copied from {source.secret!r}; allowed: "
                    f"{', '.join(copyable)}",
                    f"{at}.field",
                )

    def _check_network(self) -> None:
        network = self.network
        for key, ids in (
            ("subnet_ids", network.subnet_ids),
            ("route_table_ids", network.route_table_ids),
        ):
            if not network.create_vpc and len(ids) != len(self.availability_zones):
                raise Refusal("list one per availability zone, in the same order", f"network.{key}")

    def _check_endpoints(self) -> None:
        """A VPC Strongbox creates has no route to AWS but its endpoints: what runs inside needs
        the endpoint of each service it calls (the call-path proof finds the same, per call)."""
        if not self.network.create_vpc:
            return  # an existing VPC's routes are not in the config: the call-path proof decides
        needs: dict[str, str] = {}
        if self.workload:
            for service in ("ecr.api", "ecr.dkr", "logs"):
                needs[service] = "the workload's service (image pull and logs)"
        callers = {
            "secretsmanager": (
                "the consumers and rotation functions of secrets",
                any(s.consumers or s.rotation.enabled for s in self.secrets),
            ),
            "ssm": (
                "the SecureString provider and the consumers of parameters",
                any(p.type == "SecureString" or p.consumers for p in self.parameters),
            ),
        }
        needs.update((service, who) for service, (who, used) in callers.items() if used)
        for service, caller in needs.items():
            if service not in self.network.endpoints:
                raise Refusal(
                    f"leaves out {service!r}, which {caller} call from inside the VPC; the VPC "
                    "has no other route to AWS (no NAT, no internet), so list it",
                    "network.endpoints",
                )

    def _check_secrets(self) -> None:
        databases = self._secret_purposes("database")
        for index, secret in enumerate(self.secrets):
            at = f"secrets[{index}]"
            master = secret.rotation.master_secret
            if master is not None and (master not in databases or master == secret.purpose):
                others = [purpose for purpose in databases if purpose != secret.purpose]
                raise Refusal(
                    f"{master!r} is not another database secret of this environment"
                    + _suggest(master, others),
                    f"{at}.rotation.master_secret",
                )
            engines = {s.purpose: s.database.engine for s in self.secrets if s.database}
            if master is not None and engines[master] != engines[secret.purpose]:
                raise Refusal(
                    f"names a {engines[master]} secret ({master!r}) to rotate a "
                    f"{engines[secret.purpose]} one; the user that rotates it must be of the same "
                    "engine",
                    f"{at}.rotation.master_secret",
                )
            for reader_index, reader in enumerate(secret.cross_account_readers):
                if reader not in self.cross_account_readers:
                    raise Refusal(
                        f"{reader!r} is not in {{here}}.cross_account_readers; the key policy "
                        "must trust a reader before a secret can share with it",
                        f"{at}.cross_account_readers[{reader_index}]",
                    )
            if secret.cross_account_readers:
                size = self.secret_policy_size(secret)
                if size > RESOURCE_POLICY_LIMIT:
                    raise Refusal(
                        f"{len(secret.cross_account_readers)} readers make the secret's resource "
                        f"policy {size:,} characters, over Secrets Manager's "
                        f"{RESOURCE_POLICY_LIMIT:,}; share with fewer roles (an account id "
                        "covers all of its roles)",
                        f"{at}.cross_account_readers",
                    )
            replicated = secret.replicate and bool(self.replica_regions)
            # Secrets Manager re-encrypts each rotated version with the replica keys on behalf
            # of the caller that wrote it; the role AWS's hosted rotation transform creates is
            # granted only HostedRotationLambda.KmsKeyArn (no property names another key), so
            # replicas would keep the old password while rotation reports success.
            if replicated and secret.rotation.strategy == "hosted":
                raise Refusal(
                    "hosted rotation cannot re-encrypt the rotated value for the replica regions "
                    f"({', '.join(self.replica_regions)}): the role it runs as is granted only "
                    "the primary key, so replicas would keep the old password; allowed: replicate "
                    "false, or disabled_reason instead of schedule",
                    f"{at}.rotation",
                )
            if secret.vpc_endpoint_only and (replicated or secret.cross_account_readers):
                raise Refusal(
                    "cannot be combined with replication or cross_account_readers: endpoint ids "
                    "are regional and the policy is replicated; set replicate to false and share "
                    "nothing",
                    f"{at}.vpc_endpoint_only",
                )
            # Callers come through the Network stack's own endpoint (private DNS) or existing
            # ones.
            if (
                secret.vpc_endpoint_only
                and "secretsmanager" not in self.network.endpoints
                and not self.network.vpc_endpoint_ids
            ):
                raise Refusal(
                    "needs a Secrets Manager endpoint for callers to come through: list "
                    "'secretsmanager' in {here}.network.endpoints or existing endpoints in "
                    "{here}.network.vpc_endpoint_ids",
                    f"{at}.vpc_endpoint_only",
                )

    def secret_policy_size(self, secret: SecretConfig) -> int:
        """The secret's resource policy as the Secrets stack writes it; a Secrets Manager
        endpoint the Network stack creates counts at the longest id."""
        account, region = self.account, self.region
        endpoints = [
            *(("vpce-" + "0" * 17,) if "secretsmanager" in self.network.endpoints else ()),
            *self.network.vpc_endpoint_ids,
        ]
        return resource_policy_size(
            exempt=[
                f"arn:aws:iam::{account}:root",
                f"arn:aws:iam::{account}:role/cdk-hnb659fds-cfn-exec-role-{account}-{region}",
                *self.key_administrators,
            ],
            cross_account_readers=secret.cross_account_readers,
            vpc_endpoint_ids=endpoints if secret.vpc_endpoint_only else (),
        )

    def _check_consumers(self) -> None:
        """Every consumer named is one of the workload's; the database's credentials fit it."""
        workload = self.workload
        if workload and workload.function and extension_layer_arn(self.region) is None:
            raise Refusal(
                f"reads through the Parameters and Secrets extension, which has no arm64 layer "
                f"in {self.region} (aws-cdk-lib's region table); leave the function out here",
                "workload.function",
            )
        known = workload.consumers if workload else ()
        allowed = (
            f"one of the workload's consumers ({', '.join(known)})"
            if known
            else "nothing: the environment has no workload"
        )
        listed = [("secrets", index, item.consumers) for index, item in enumerate(self.secrets)]
        listed += [
            ("parameters", index, item.consumers) for index, item in enumerate(self.parameters)
        ]
        for key, index, consumers in listed:
            for consumer_index, consumer in enumerate(consumers):
                if consumer not in known:
                    raise Refusal(
                        f"{consumer!r} is not a consumer here{_suggest(consumer, known)}; "
                        f"allowed: {allowed}",
                        f"{key}[{index}].consumers[{consumer_index}]",
                    )
        database = workload.database if workload else None
        if workload is None or database is None:
            return
        at = "workload.database.credentials"
        secret = next((s for s in self.secrets if s.purpose == database.credentials), None)
        if secret is None or secret.database is None:
            raise Refusal(
                f"{database.credentials!r} is not a database secret of this environment"
                + _suggest(database.credentials, self._secret_purposes("database")),
                at,
            )
        if secret.database.engine != database.engine:
            raise Refusal(
                f"{database.credentials!r} is a {secret.database.engine} secret; the database is "
                f"{database.engine}",
                at,
            )
        if secret.rotation.master_secret is not None:
            raise Refusal(
                f"{database.credentials!r} holds the database's master user, which rotates "
                "itself (single user); remove its rotation.master_secret",
                at,
            )
        if workload.service not in secret.consumers:
            raise Refusal(
                f"{database.credentials!r} must list {workload.service!r} in its consumers: the "
                "service is what connects to the database",
                at,
            )
        secret_at = f"secrets[{self.secrets.index(secret)}]"
        longest = RDS_MASTER_PASSWORD[database.engine]
        if (length := secret.generation.length or DEFAULT_LENGTHS["database"]) > longest:
            raise Refusal(
                f"{length} characters is longer than the {longest} RDS takes in a "
                f"{database.engine} master password",
                f"{secret_at}.generation.length",
            )
        if len(self.availability_zones) < 2:
            raise Refusal(
                "lists one zone; the workload's database needs two (an RDS subnet group must "
                "cover at least two availability zones, even for a single-AZ instance)",
                "availability_zones",
            )

    def _check_key_policy(self) -> None:
        readers = self.cross_account_readers
        policy_size = key_policy_size(
            partition="aws",  # Region refuses every other partition
            regions=self.regions,
            administrators=self.key_administrators,
            cross_account_consumers=readers,
        )
        if policy_size > KEY_POLICY_LIMIT:
            raise Refusal(
                f"{len(readers)} readers make the key policy about {policy_size:,} bytes, over "
                f"KMS's limit of {KEY_POLICY_LIMIT:,}; share these secrets with fewer accounts or "
                "roles (an account id covers all of its roles)",
                "cross_account_readers",
            )


def _reader_account(reader: str) -> str:
    match = _ROLE_ARN.match(reader)
    return match.group(1) if match else reader


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


_CONNECTION_HELP = (
    "a CodeConnections ARN, arn:aws:codeconnections:<region>:<account>:connection/<id>"
)


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class PipelineSource(_Model):
    """Where the pipeline pulls from: a CodeConnections (GitHub, GitLab, Bitbucket) repository,
    or a CodeCommit repository in the pipeline account."""

    repository: Annotated[str, TEXT] = Field(
        description="`owner/name` with `connection_arn`; without it, a CodeCommit repository of "
        "the pipeline account"
    )
    branch: Annotated[str, Matching(_BRANCH, "a git branch name")] = Field(
        description="the branch that deploys"
    )
    connection_arn: Annotated[str | None, Matching(_CONNECTION_ARN, _CONNECTION_HELP)] = Field(
        default=None, description="a CodeConnections ARN (GitHub, GitLab, Bitbucket)"
    )

    @property
    def is_codecommit(self) -> bool:
        return self.connection_arn is None

    @model_validator(mode="after")
    def _check(self) -> Self:
        repository = (
            Matching(_CODECOMMIT_REPOSITORY, "a CodeCommit repository name")
            if self.connection_arn is None
            else Matching(_CONNECTED_REPOSITORY, "owner/name of the connected repository")
        )
        try:
            repository.validate(self.repository)
        except Refusal as refusal:
            raise Refusal(refusal.reason, "repository") from None
        return self


EnvironmentNames = Annotated[tuple[Annotated[str, TEXT], ...], Listing()]


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class PipelineConfig(_Model):
    """A CDK pipeline that deploys the environments in waves (off by default)."""

    enabled: Annotated[bool, FLAG] = Field(
        default=False,
        description="`true` adds the CDK Pipelines stacks (see operations.md, the pipeline)",
    )
    account: Annotated[str | None, ACCOUNT] = Field(
        default=None, description="required when enabled: the tooling account, 12 digits"
    )
    region: Annotated[str | None, REGION] = Field(
        default=None, description="required when enabled: an `aws` region"
    )
    source: Annotated[PipelineSource | None, PRESENT] = Field(
        default=None, description="required when enabled"
    )
    # Environment names per wave, deployed in order; one wave may hold several accounts.
    waves: Annotated[
        tuple[Annotated[tuple[Annotated[str, TEXT], ...], Listing(non_empty=True)], ...],
        Listing(non_empty=True),
    ] = Field(
        default=(),
        description="environment names per wave, deployed in order (one environment per wave, in "
        "config order, when absent); when enabled, every environment in exactly one wave",
    )
    # Environments whose wave waits for a person to approve in the pipeline.
    approval_before: EnvironmentNames = Field(
        default=(), description="environments whose wave waits for a manual approval"
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.enabled:
            for key in ("account", "region", "source"):
                if key not in self.given:
                    raise Refusal("is required when the pipeline is enabled", key)
        return self

    def check_environments(self, names: Sequence[str]) -> None:
        """Waves name every environment exactly once; approvals name environments."""
        for index, name in enumerate(self.approval_before):
            if name not in names:
                raise Refusal(
                    f"unknown environment {name!r}{_suggest(name, names)}; configured: "
                    f"{', '.join(sorted(names))}",
                    f"approval_before[{index}]",
                )
        if not self.waves:
            return
        seen: set[str] = set()
        for index, wave in enumerate(self.waves):
            for position, name in enumerate(wave):
                at = f"waves[{index}][{position}]"
                if name not in names:
                    raise Refusal(
                        f"unknown environment {name!r}{_suggest(name, names)}; configured: "
                        f"{', '.join(names)}",
                        at,
                    )
                if name in seen:
                    raise Refusal(f"{name!r} is already in an earlier wave", at)
                seen.add(name)
        missing = [name for name in names if name not in seen]
        if missing:
            raise Refusal(
                f"leaves out {', '.join(missing)}; every environment deploys in one wave", "waves"
            )


@dataclass(frozen=True, kw_only=True, config=_CONFIG)
class StrongboxConfig(_Model):
    """The `strongbox` block of cdk.json context."""

    application: Annotated[
        str,
        Matching(
            _NAME,
            "lowercase letters, digits and '-', starting with a letter, at most 20, with no '-' "
            "last or twice in a row",
        ),
    ] = Field(
        description="lowercase letters, digits and `-`, starting with a letter, at most 20. "
        "First segment of names, aliases and the parameter path"
    )
    environments: Annotated[
        tuple[EnvironmentConfig, ...], Named(ENVIRONMENT_NAME, "environment")
    ] = Field(
        description="at least one, by name. A name is lowercase letters, digits and `-`, "
        "starting with a letter, at most 20; `dev` is special (see environment)"
    )
    pipeline: PipelineConfig = Field(default=PipelineConfig(), description="off by default")

    def environment(self, name: str) -> EnvironmentConfig:
        for environment in self.environments:
            if environment.name == name:
                return environment
        names = sorted(e.name for e in self.environments)
        raise ConfigError(
            "env",
            f"unknown environment {name!r}{_suggest(name, names)}; configured: {', '.join(names)}",
        )

    def select(self, name: str | None) -> tuple[EnvironmentConfig, ...]:
        """All environments, or only `name` (the `-c env=<name>` context value)."""
        return self.environments if name is None else (self.environment(name),)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.application.startswith(("aws", "ssm")):
            raise Refusal(
                f"{self.application!r} begins with {self.application[:3]!r}: parameter names "
                "(/<application>/...) may not begin with aws or ssm, and the alias/aws/ prefix "
                "is AWS's own",
                "application",
            )
        # A disabled pipeline's waves may name environments a smaller config leaves out.
        if self.pipeline.enabled:
            try:
                self.pipeline.check_environments([e.name for e in self.environments])
            except Refusal as refusal:
                raise Refusal(refusal.reason, _below("pipeline", refusal.at)) from None
        for environment in self.environments:
            _check_deployable(self.application, environment)
        return self


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


def _check_cron(schedule: str, fields: Sequence[str]) -> None:
    """What Secrets Manager refuses in a cron schedule, named by field, before CloudFormation
    does at deploy time."""
    minutes, *named, year = fields
    if minutes != "0":
        raise Refusal(
            f"{schedule!r}: minutes must be 0 (Secrets Manager opens rotation windows on the hour)",
        )
    if year != "*":
        raise Refusal(
            f"{schedule!r}: year must be * (Secrets Manager rotates at least once a year)"
        )
    day_of_month, day_of_week = named[1], named[3]
    if (day_of_month == "?") == (day_of_week == "?"):
        raise Refusal(f"{schedule!r}: exactly one of day-of-month and day-of-week must be '?'")
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
            raise Refusal(
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


def _schedule_hours(schedule: str) -> int | None:
    rate = _RATE.match(schedule)
    if not rate:
        return None
    return int(rate.group(1)) * (1 if rate.group(2).startswith("hour") else 24)


# ---------------------------------------------------------------------------------------------
# What deploy would refuse and no single key shows: limits on names, policies, patterns and
# stacks, per environment.

# Parameter Store's quota of parameters per account and region, by tier (Systems Manager user
# guide, "Managing parameter tiers": Standard 10,000, Advanced 100,000;
# https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html).
# CloudFormation's limits on one stack do not bound an environment's parameters: they are split
# across as many Parameters stacks as needed (stacks/placement.py).
MAX_PARAMETERS_BY_TIER = {"Standard": 10_000, "Advanced": 100_000}


def _check_deployable(application: str, environment: EnvironmentConfig) -> None:
    here = f"environments.{environment.name}"
    size, roles = alert_pattern_size(application, environment)
    if size > EVENT_PATTERN_LIMIT:
        raise Refusal(
            f"the unexpected-read rule would name {roles} roles in a pattern of about "
            f"{size:,} characters, over EventBridge's {EVENT_PATTERN_LIMIT:,}; list fewer roles "
            "(or raise the quota and the limit together)",
            f"{here}.alerts.allowed_readers",
        )
    _check_parameters_stack(application, environment)
    database = environment.workload.database if environment.workload else None
    credentials = next(
        (s for s in environment.secrets if database and s.purpose == database.credentials), None
    )
    if credentials and credentials.database and credentials.database.dbname is None:
        # The Database stack names the database after the application.
        name = application.replace("-", "_")
        if name in POSTGRES_RESERVED_NAMES:
            raise Refusal(
                f"is not set, so the database would be named {name!r} after the application, "
                "a word PostgreSQL reserves, which RDS refuses; set dbname",
                f"{here}.secrets[{environment.secrets.index(credentials)}].database.dbname",
            )
    for key, consumer, kind in environment.workload.reading_roles if environment.workload else ():
        names = [
            f"{environment.name}/{application}/{secret.purpose}"
            for secret in environment.secrets
            if consumer in secret.consumers
        ]
        # The execution role also holds the image-and-logs policy (TaskExecutionRole).
        policies = fewest_policies(names) + (kind == "execution")
        if policies > ROLE_MANAGED_POLICY_QUOTA:
            raise Refusal(
                f"{len(names)} secrets name {consumer!r} as a consumer; granting them takes at "
                f"least {policies} managed policies on its role, over the "
                f"{ROLE_MANAGED_POLICY_QUOTA} IAM attaches to one role by default; split them "
                "across consumers",
                f"{here}.workload.{key}",
            )
        role = reader_role_name(application, environment.name, consumer, kind)
        if len(role) > MAX_ROLE_NAME:
            raise Refusal(
                f"makes the role name {role} longer than IAM's {MAX_ROLE_NAME} characters",
                f"{here}.workload.{key}",
            )
    for index, parameter in enumerate(environment.parameters):
        full_name = f"/{application}/{environment.name}/{parameter.name}"
        at = f"{here}.parameters[{index}].name"
        arn = f"arn:aws:ssm:{environment.region}:{environment.account}:parameter{full_name}"
        if len(arn) > MAX_PARAMETER_NAME:
            raise Refusal(
                f"{full_name[:40]}... makes the ARN {len(arn):,} characters; Parameter Store "
                f"takes at most {MAX_PARAMETER_NAME:,}, the ARN before the name included",
                at,
            )
        if full_name.count("/") > MAX_PARAMETER_DEPTH:
            raise Refusal(f"{full_name} is deeper than {MAX_PARAMETER_DEPTH} levels", at)


def _check_parameters_stack(application: str, environment: EnvironmentConfig) -> None:
    """An environment's parameters are split across as many Parameters stacks as they need, so
    what bounds them is Parameter Store's quota per account and region: refuses more parameters
    of a tier than it holds, naming the list. Environments sharing an account and region (and
    anything else there) share the quota."""
    at = f"environments.{environment.name}.parameters"
    for tier, quota in MAX_PARAMETERS_BY_TIER.items():
        count = sum(1 for parameter in environment.parameters if parameter.tier == tier)
        if count > quota:
            raise Refusal(
                f"{count:,} parameters of the {tier} tier, over the {quota:,} Parameter Store "
                "holds in one account and region (shared with everything else there); keep "
                "fewer, or put some in another account or region",
                at,
            )


def alert_pattern_size(
    application: str, environment: EnvironmentConfig, functions: int | None = None
) -> tuple[int, int]:
    """The unexpected-read rule's pattern as deployed (characters of compact JSON) and how many
    roles it names. Rotation functions' roles get generated names, counted at the longest IAM
    allows; each Secrets stack has one function per generation it rotates: `functions`, or as
    many as a new environment's secrets get once placed (the stage passes the count of the
    recorded placement)."""
    if functions is None:
        from stacks.placement import rotation_function_count  # placement reads these models

        functions = rotation_function_count(application, environment, {})
    account, region = environment.account, environment.region
    role = f"arn:aws:iam::{account}:role/"
    allowed = [
        *(role + "x" * MAX_ROLE_NAME for _ in range(functions)),
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
        prefix,
        [secret_arn_prefix("aws", r, account, prefix) for r in environment.regions],
        allowed,
    )
    return len(json.dumps(pattern, separators=(",", ":"))), len(allowed)


def reader_role_name(application: str, environment: str, consumer: str, kind: str) -> str:
    """The fixed name of a workload role that reads secrets (`kind`: execution, function or
    instance). Role names are unique per account whatever their path, so the application is in
    the name; the Secrets stack's alert rule lists these names before the roles exist."""
    return f"{application}-{environment}-{consumer}-{kind}"


# ---------------------------------------------------------------------------------------------
# Reading the block.

_ADAPTER = TypeAdapter(StrongboxConfig)


def _path(location: Sequence[int | str]) -> str:
    path = ""
    for part in location:
        if part == "[key]":  # pydantic's mark for a key of a map
            continue
        path = f"{path}[{part}]" if isinstance(part, int) else _below(path, (part,))
    return path


def _config_error(error: ValidationError) -> ConfigError:
    """The first of pydantic's errors as one line naming its key path."""
    first = error.errors(include_url=False)[0]
    here = _path(first["loc"])
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, Refusal):
        return ConfigError(_below(here, cause.at), cause.reason.replace("{here}", here))
    # pydantic's own checks, which the constraints and `_Model._read` should leave nothing to.
    if first["type"] == "missing":
        return ConfigError(here, "is required")
    return ConfigError(here, str(first["msg"]))


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
    try:
        return _ADAPTER.validate_python(raw)
    except ValidationError as error:
        raise _config_error(error) from None
    except RecursionError:
        raise ConfigError("strongbox", "nests too deep") from None


def json_schema() -> dict[str, Any]:
    """The JSON Schema of cdk.json with its `strongbox` block, from the model: what an editor
    checks and completes. Cross-key checks (a consumer that exists, a window shorter than its
    schedule, policy sizes) are synth's alone."""
    block = _ADAPTER.json_schema(ref_template="#/$defs/{model}")
    definitions = block.pop("$defs")
    definitions["StrongboxConfig"] = block
    for model in _models(StrongboxConfig):
        declared = definitions[model.__name__]
        assert not set(declared) & set(model._schema_rules), model  # rules add, never replace
        declared.update(model._schema_rules)
    schema: dict[str, Any] = _untitled(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "context": {
                    "type": "object",
                    "properties": {"strongbox": {"$ref": "#/$defs/StrongboxConfig"}},
                }
            },
            "$defs": definitions,
        }
    )
    schema["title"] = "cdk.json with the Strongbox configuration"
    return schema


def _models(model: type[_Model]) -> Iterator[type[_Model]]:
    """`model` and every model its fields hold, each once."""
    seen: set[type[_Model]] = set()
    pending = [model]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        yield current
        for field in current.__pydantic_fields__.values():  # type: ignore[attr-defined]
            pending += [
                kind
                for kind in _types_in(field.annotation)
                if isinstance(kind, type) and issubclass(kind, _Model)
            ]


def _types_in(annotation: Any) -> Iterator[Any]:
    yield annotation
    for argument in get_args(annotation):
        yield from _types_in(argument)


def _untitled(node: Any) -> Any:  # returns the type it is given
    """The schema without pydantic's generated titles ("Purpose" for `purpose`), noise in an
    editor's tooltip beside the description, nor null defaults, which an editor would insert
    and the schema refuses. (No config key is named "title" or "default".)"""
    if isinstance(node, dict):
        return {
            key: _untitled(value)
            for key, value in node.items()
            if key != "title" and not (key == "default" and value is None)
        }
    if isinstance(node, list):
        return [_untitled(item) for item in node]
    return node


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
