"""Fuzzing the config loader: any input gives a StrongboxConfig or a ConfigError naming its key.

The property, for generated and mutated configs: `parse_config(raw)` either returns a
StrongboxConfig or raises ConfigError whose one-line reason is `str(error)` after "<path>: ", and
whose path names a key of the input (the last segment may be a required key that is absent). Any
other exception (TypeError, KeyError, a ValueError that is not a ConfigError, RecursionError...)
fails. Parsing is deterministic and leaves its input untouched.
"""

# Found by this file and fixed in stacks/config.py (each has a plain regression test at the end,
# test_found_bug[...]):
#  1. An integer of more than 4300 digits (Python's int-to-str limit) made `_integer` and
#     `_describe` raise ValueError; they now describe its size.
#  2. A rate schedule with thousands of digits made `int()` raise ValueError; rates take at most
#     six digits.
#  3. A lone surrogate ("\ud800", valid JSON) made `text.encode()` raise UnicodeEncodeError;
#     strings must now be valid Unicode text.
#  4. JSON text with a huge integer literal or deep nesting made `json.loads` raise ValueError or
#     RecursionError; both are now "strongbox: is not valid JSON: ...".
#  5. Patterns ending in `$` accepted a trailing newline ("333333333333\n" as an account); they
#     end in `\Z` now.
#  6. `\d` and `\w` matched non-ASCII digits and letters; the patterns are ASCII-only now.

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stacks.config import ConfigError, StrongboxConfig, parse_config
from tests.conftest import default_strongbox_config

Json = Any
KeyPath = tuple[str | int, ...]

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def fuzz(max_examples: int) -> settings:
    return settings(FUZZ, max_examples=max_examples)


BASE: dict[str, Any] = default_strongbox_config()


class HugeInt(int):
    """An int of more digits than Python converts to text (4300 by default). It formats and
    serializes as a plain int does (and fails the same way); only its repr is short, so that
    hypothesis can print an example holding one."""

    def __repr__(self) -> str:
        return f"HugeInt({'-' if self < 0 else ''}10**{round(math.log10(abs(self)))})"

    def __str__(self) -> str:
        return int.__repr__(self)


HUGE = HugeInt(10**4400)

# ---------------------------------------------------------------------------------------------
# The property.

_INDEX = re.compile(r"\[(\d+)\]")
_MISSING_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def path_resolves(node: Json, path: str) -> bool:
    """Whether `path` ("environments.prod.secrets[1].rotation") names a value of `node`, up to a
    last segment that may be a missing key. Keys may contain '.' and '[': every split is tried."""
    return _resolves(node, path, top=True)


def _resolves(node: Json, rest: str, *, top: bool) -> bool:
    if rest == "":
        return True
    if isinstance(node, list):
        match = _INDEX.match(rest)
        return (
            match is not None
            and int(match.group(1)) < len(node)
            and _resolves(node[int(match.group(1))], rest[match.end() :], top=False)
        )
    if not isinstance(node, dict):
        return False
    if not top:
        if not rest.startswith("."):
            return False
        rest = rest[1:]
    for key, value in node.items():
        if not rest.startswith(key):
            continue
        after = rest[len(key) :]
        if (after == "" or after[0] in ".[") and _resolves(value, after, top=False):
            return True
    return _MISSING_KEY.fullmatch(rest) is not None


Outcome = tuple[str, str]


def outcome(raw: Json) -> StrongboxConfig | ConfigError:
    """Parse; only ConfigError is caught, any other exception fails the calling test."""
    try:
        return parse_config(raw)
    except ConfigError as error:
        return error


def summary(result: StrongboxConfig | ConfigError) -> Outcome:
    if isinstance(result, ConfigError):
        return ("error", str(result))
    return ("parsed", repr(result))


def assert_well_formed_error(error: ConfigError, document: Json) -> None:
    assert type(error) is ConfigError
    assert "\n" not in error.reason and "\r" not in error.reason, error.reason
    assert error.reason.strip(), error.path
    assert str(error) == f"{error.path}: {error.reason}"
    if error.path == "strongbox":
        assert document is None or (isinstance(document, dict) and "strongbox" in document)
    elif error.path == "":  # the document itself, or a key "" of it
        assert not isinstance(document, dict) or "" in document, str(error)
    else:
        assert path_resolves(document, error.path), (error.path, str(error))


def check(raw: Json, *, twice: bool = True) -> StrongboxConfig | ConfigError:
    """The property for a Python document: typed result or a well-formed ConfigError; the input
    is not modified; a second parse gives the same outcome."""
    if isinstance(raw, str):
        return check_text(raw)
    before = copy.deepcopy(raw)
    result = outcome(raw)
    assert raw == before, "parse_config modified its input"
    if isinstance(result, ConfigError):
        assert_well_formed_error(result, raw)
    if twice:
        assert summary(outcome(raw)) == summary(result)
    return result


def check_text(text: str) -> StrongboxConfig | ConfigError:
    """The property for the `-c strongbox='...'` form: invalid JSON is a ConfigError at
    "strongbox"; valid JSON behaves as its document does."""
    result = outcome(text)
    assert summary(outcome(text)) == summary(result)
    if not isinstance(result, ConfigError):
        return result
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):  # JSONDecodeError, or too long a number, too deep
        assert result.path == "strongbox", str(result)
        assert "\n" not in result.reason, result.reason
        return result
    assert_well_formed_error(result, document)
    if not isinstance(document, str):  # a JSON string is not parsed as JSON a second time
        assert summary(outcome(document)) == summary(result)
    return result


# ---------------------------------------------------------------------------------------------
# Values.

TRICKY_STRINGS = (
    "",
    " ",
    "\t",
    "\n",
    " dev",
    "latest",
    "*",
    "?",
    "arn:aws:iam::123:role/x",
    "arn:aws:iam::111111111111:role/x",
    "arn:aws:iam::444444444444:role/reader",
    "arn:aws:iam::333333333333:role/strongbox-key-admin",
    "rate(0 days)",
    "rate(1 day)",
    "rate(1 days)",
    "rate(4 hours)",
    "rate(1000 days)",
    "rate(99999999999999999999999 days)",
    "cron(",
    "cron()",
    "cron(0 4 * * ? *)",
    "cron(0 4 * * ?)",
    "../",
    "/",
    "a//b",
    "eu-west-1",
    "eu-west-1a",
    "eu-central-1",
    "us-east-1",
    "cn-north-1",
    "eu-west-7",
    "111111111111",
    "444444444444",
    "12345",
    "api",
    "batch",
    "reconciler",
    "db-credentials",
    "stripe-api-key",
    "postgres",
    "mysql",
    "database",
    "api-key",
    "json",
    "token",
    "hosted",
    "String",
    "StringList",
    "SecureString",
    "Standard",
    "Advanced",
    "Expiration",
    "1.0",
    "10.0.0.0/16",
    "10.0.0.0/8",
    "0.0.0.0/0",
    "10.0.0.0/33",
    "vpc-0a1b2c3d4e5f60718",
    "vpce-0123456789abcdef0",
    "subnet-0a1b2c3d4e5f60718",
    "rtb-0a1b2c3d4e5f60718",
    "1h",
    "4h",
    "24h",
    "0h",
    "Owner",
    "password",
    "signing_key",
    "a,,b",
    "t4g.micro",
    "someone@example.com",
    "x" * 5000,
    "y" * 9000,
    "a/" * 20 + "b",
    "AKIAABCDEFGHIJKLMNOP",
    "https://user:pw@example.com",
    "é",
    "日本語",
    "\u0000",
    "\u200b",
    "\ud800",
    "\u0663\u0660",
    "rate(\u0663\u0660 days)",
    "payments\n",
    "111111111111\n",
    "NaN",
    "true",
    "null",
    "{}",
    "[]",
)
HUGE_INTEGERS = (HUGE, HugeInt(-HUGE), 2**63, -(2**63), 2**64 + 1, 10**20)


def _collect_keys(node: Json, keys: set[str]) -> set[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            keys.add(key)
            _collect_keys(value, keys)
    elif isinstance(node, list):
        for item in node:
            _collect_keys(item, keys)
    return keys


# Keys of the shipped config and the optional keys it does not use, so that generated objects
# reach past the "unknown key" check.
SCHEMA_KEYS = sorted(
    _collect_keys(BASE, set())
    | {
        "value",
        "secret_string",
        "password",
        "secret",
        "field",
        "tier",
        "policies",
        "Type",
        "Version",
        "Attributes",
        "create_vpc",
        "cidr",
        "vpc_endpoint_ids",
        "vpc_id",
        "subnet_ids",
        "route_table_ids",
        "port",
        "storage_gib",
        "instance_type",
        "strategy",
        "master_secret",
        "tags",
        "replicate",
        "vpc_endpoint_only",
        "allowed_readers",
        "exclude_characters",
    }
)

keys = st.sampled_from(SCHEMA_KEYS) | st.sampled_from(TRICKY_STRINGS) | st.text(max_size=8)
strings = st.sampled_from(TRICKY_STRINGS) | st.text(max_size=20)
integers = (
    st.integers(min_value=-2, max_value=70)
    | st.integers()
    | st.sampled_from((0, 1, 16, 20, 100, 101, 300, 301, 1024, 4096, 65535, 65536))
    | st.sampled_from(HUGE_INTEGERS)
)
floats = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from((1.0, 0.5, -0.0))
scalars = st.none() | st.booleans() | integers | floats | strings


def containers(children: st.SearchStrategy[Json]) -> st.SearchStrategy[Json]:
    return st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4)


json_values: st.SearchStrategy[Json] = st.recursive(scalars, containers, max_leaves=12)

# ---------------------------------------------------------------------------------------------
# 1. Mutations of the shipped config.


def key_paths(node: Json, prefix: KeyPath = ()) -> list[KeyPath]:
    """Every path of the tree, the root () first."""
    paths = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            paths += key_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            paths += key_paths(item, (*prefix, index))
    return paths


def get(root: Json, path: KeyPath) -> Json:
    for key in path:
        root = root[key]
    return root


def replace(root: Json, path: KeyPath, value: Json) -> Json:
    """Set the value at `path` and return the (possibly new) root."""
    if not path:
        return value
    get(root, path[:-1])[path[-1]] = value
    return root


def retyped(value: Json) -> Json:
    """The same content in another JSON type: list <-> object, scalar -> string or list."""
    if isinstance(value, list):
        return {str(index): item for index, item in enumerate(value)}
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, str):
        return [value]
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int) and abs(value) < 10**100:
        return str(value)
    return {"value": value}


def string_variants(value: str) -> st.SearchStrategy[str]:
    return st.sampled_from(
        (
            value + "\n",
            "\n" + value,
            " " + value,
            value + " ",
            value.upper(),
            value * 50,
            value[:-1],
            value + "é",
            value + "\ud800",
            value.replace("0", "\u0660").replace("3", "\u0663"),  # Arabic-Indic digits
        )
    ) | st.sampled_from(TRICKY_STRINGS)


def number_variants(value: int | float) -> st.SearchStrategy[Json]:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 10**100:
        return scalars
    return st.sampled_from(
        (value + 1, value - 1, -value, value * 10**6, 0, float(value), str(value))
    ) | st.sampled_from(HUGE_INTEGERS)


# Schema-aware edits: set a key that the object at hand allows, to a value that is plausible for
# it (valid, at a boundary, or breaking a cross-field rule), so that edits get past the type and
# "unknown key" checks into the deeper rules.
ALLOWED_KEYS: dict[str, tuple[str, ...]] = {
    "root": ("application", "environments", "pipeline"),
    "environment": (
        "account",
        "region",
        "availability_zones",
        "replica_regions",
        "secrets",
        "parameters",
        "network",
        "workload",
        "alerts",
        "key_administrators",
        "cross_account_readers",
    ),
    "secret": (
        "purpose",
        "kind",
        "description",
        "owner",
        "rotation",
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
    "rotation": (
        "schedule",
        "disabled_reason",
        "window",
        "rotate_immediately",
        "strategy",
        "master_secret",
    ),
    "generation": ("length", "exclude_characters", "exclude_punctuation"),
    "secret-database": ("engine", "username", "dbname", "port"),
    "parameter": (
        "name",
        "type",
        "value",
        "description",
        "tier",
        "policies",
        "source",
        "consumers",
    ),
    "policy": ("Type", "Version", "Attributes"),
    "source": ("generate", "secret", "field"),
    "network": (
        "create_vpc",
        "cidr",
        "endpoints",
        "vpc_endpoint_ids",
        "vpc_id",
        "subnet_ids",
        "route_table_ids",
    ),
    "workload": (
        "service",
        "desired_count",
        "database",
        "image_repository",
        "image_tag",
        "port",
        "function",
        "instance",
    ),
    "workload-database": ("engine", "credentials", "instance_type", "storage_gib"),
    "function": ("name", "cache_ttl_seconds"),
    "instance": ("name", "instance_type"),
    "alerts": ("emails", "allowed_readers"),
    "pipeline": ("enabled", "account", "region", "source", "waves", "approval_before"),
    "pipeline-source": ("repository", "branch", "connection_arn"),
}

_ADMIN_ROLE = "arn:aws:iam::333333333333:role/admin"
_READER_ROLE = "arn:aws:iam::444444444444:role/reader"
_SUBNET = "subnet-0a1b2c3d4e5f60718"
_ROUTE_TABLE = "rtb-0a1b2c3d4e5f60718"
_VPC = "vpc-0a1b2c3d4e5f60718"
_VPC_ENDPOINT = "vpce-0123456789abcdef0"
_EXPIRATION = {"Type": "Expiration", "Version": "1.0", "Attributes": {"Timestamp": "2030-01-01"}}

KEY_VALUES: dict[str, tuple[Json, ...]] = {
    "application": ("payments", "payments-and-refunds", "a" * 21, "Payments", "x"),
    "environments": ({}, {"qa": {}}),
    "pipeline": ({"enabled": True}, {}),
    "enabled": (True, False, "yes"),
    "account": ("111111111111", "333333333333", "444444444444", "12345"),
    "region": ("eu-west-1", "eu-central-1", "us-east-1", "cn-north-1", "eu-west-7"),
    "availability_zones": (
        ["eu-west-1a"],
        ["eu-west-1a", "eu-west-1a"],
        ["us-east-1a"],
        [],
        ["eu-west-1a", "eu-west-1b", "eu-west-1c"],
    ),
    "replica_regions": (
        [],
        ["eu-central-1"],
        ["eu-west-1"],
        ["cn-north-1"],
        ["eu-central-1", "eu-central-1"],
        ["us-east-1"],
    ),
    "key_administrators": (
        [_ADMIN_ROLE],
        ["arn:aws:iam::111111111111:role/admin"],
        ["arn:aws:iam::444444444444:role/admin"],
        ["admin"],
        [],
    ),
    "cross_account_readers": (
        ["444444444444"],
        ["555555555555"],
        ["333333333333"],
        [_READER_ROLE],
        ["arn:aws:iam::444444444444:user/bob"],
        [],
    ),
    "allowed_readers": ([_READER_ROLE], ["reader"], []),
    "emails": (["secops@example.com"], ["secops"], []),
    "secrets": ([], [BASE["environments"]["dev"]["secrets"][1]]),
    "parameters": ([], [BASE["environments"]["dev"]["parameters"][0]]),
    "purpose": ("db-credentials", "stripe-api-key", "db-admin", "new-secret", "-x", "X"),
    "kind": ("database", "api-key", "json", "ssh-key"),
    "description": ("x", " "),
    "owner": ("team", ""),
    "rotation": (
        {"schedule": "rate(6 hours)", "window": "8h"},
        {"schedule": "rate(30 days)", "strategy": "token"},
        {"schedule": "rate(30 days)", "strategy": "hosted"},
        {"schedule": "rate(30 days)", "master_secret": "db-credentials"},
        {"schedule": "rate(30 days)", "master_secret": "stripe-api-key"},
        {"disabled_reason": "short"},
        {"disabled_reason": "x" * 30, "window": "2h"},
        {"schedule": "cron(0 4 ? * SUN *)"},
        {},
    ),
    "schedule": (
        "rate(30 days)",
        "rate(1 day)",
        "rate(1 days)",
        "rate(2 hours)",
        "rate(4 hours)",
        "rate(1000 days)",
        "rate(1001 days)",
        "cron(0 4 * * ?)",
        "cron(0 4 ? * SUN *)",
        "monthly",
    ),
    "window": ("1h", "4h", "24h", "25h", "0h", "48h", "4"),
    "disabled_reason": ("short", "x" * 30, "   short with padding     "),
    "rotate_immediately": (True, False, "yes"),
    "strategy": ("hosted", "token", "other"),
    "master_secret": ("db-credentials", "stripe-api-key", "db-admin", "nope"),
    "tags": ({"Owner": "x"}, {"team": "x"}, {"team": ""}, {"team": 1}, []),
    "consumers": (["api"], ["batch"], ["billing"], [], ["api", "api"], ["reconciler"]),
    "replicate": (True, False),
    "generation": ({"length": 8}, {"length": 4096}, {"length": 4097}, {"exclude_characters": ""}),
    "generate": ({"length": 32}, {"exclude_punctuation": "yes"}, {}),
    "length": (15, 16, 64, 4096, 4097, 32.0),
    "exclude_characters": ("", "/@", 1),
    "exclude_punctuation": (True, "yes"),
    "database": (
        {"engine": "mysql"},
        {"engine": "postgres", "credentials": "db-credentials"},
        {"engine": "postgres", "credentials": "stripe-api-key"},
        {"engine": "postgres", "port": 0},
        {"username": "9app"},
        {},
    ),
    "engine": ("postgres", "mysql", "db2"),
    "username": ("app", "9app", "a" * 64),
    "dbname": ("payments", "9"),
    "port": (0, 1, 1023, 1024, 8080, 65535, 65536),
    "template": ({"password": "x"}, {"signing_key": "x"}, {"algorithm": None}, {"9bad": "x"}, {}),
    "generate_key": ("algorithm", "signing_key", "password", "9"),
    "vpc_endpoint_only": (True, False),
    "name": ("api", "feature-flags", "my-password", "a/" * 20 + "b", "x" * 1011, "bad name"),
    "type": ("String", "StringList", "SecureString", "Other"),
    "value": ("x", "a,,b", "x" * 5000, "y" * 9000, "AKIAABCDEFGHIJKLMNOP", "https://u:p@h.com"),
    "tier": ("Standard", "Advanced", "Intelligent-Tiering"),
    "policies": ([_EXPIRATION], [{"Type": "Expiration"}], [{**_EXPIRATION, "Version": "2"}], []),
    "Type": ("Expiration", "Other"),
    "Version": ("1.0", 1.0),
    "Attributes": ({}, {"Timestamp": 1}),
    "source": (
        {"secret": "stripe-api-key"},
        {"secret": "db-credentials", "field": "password"},
        {"secret": "db-credentials"},
        {"secret": "nope", "field": "x"},
        {"generate": {}, "secret": "x"},
        {"field": "x"},
        {"generate": {"length": 32}},
        {},
    ),
    "secret": ("stripe-api-key", "db-credentials", "nope"),
    "field": ("password", "9"),
    "network": (
        {"create_vpc": False},
        {
            "create_vpc": False,
            "vpc_id": _VPC,
            "subnet_ids": [_SUBNET, _SUBNET.replace("0a", "0b")],
            "route_table_ids": [_ROUTE_TABLE, _ROUTE_TABLE.replace("0a", "0b")],
        },
        {"create_vpc": False, "vpc_id": _VPC, "subnet_ids": [_SUBNET], "route_table_ids": []},
        {"vpc_endpoint_ids": [_VPC_ENDPOINT]},
        {"vpc_id": _VPC},
        {},
    ),
    "create_vpc": (True, False),
    "cidr": ("10.0.0.0/16", "10.0.0.0/8", "10.0.0.0/23", "8.8.0.0/16", "10.0.0.0/33", "x"),
    "endpoints": (["secretsmanager"], ["dynamodb"], []),
    "vpc_endpoint_ids": ([_VPC_ENDPOINT], ["vpc-123"], []),
    "vpc_id": (_VPC, "vpc-1"),
    "subnet_ids": ([_SUBNET], [_SUBNET, _SUBNET], ["subnet-1"], []),
    "route_table_ids": ([_ROUTE_TABLE], ["rtb-1"], []),
    "workload": ({"service": "api", "image_repository": "r", "image_tag": "1"}, {}),
    "service": ("api", "reconciler", "batch", "x" * 31, "Api"),
    "desired_count": (0, 100, 101, -1, True),
    "image_repository": ("payments-api", "Payments", "a//b"),
    "image_tag": ("1.0.0", "latest", ".x"),
    "function": ({"name": "api"}, {"name": "batch"}, {"name": "r" + "e" * 30}, {}),
    "instance": ({"name": "reconciler"}, {"name": "api"}, {"name": "batch", "instance_type": "t4"}),
    "cache_ttl_seconds": (0, 300, 301, -1),
    "instance_type": ("t4g.small", "db.t4g.micro!", "t4g"),
    "storage_gib": (19, 20, 1024, 1025),
    "credentials": ("db-credentials", "stripe-api-key", "nope"),
    "alerts": ({}, {"emails": []}),
    "repository": ("example-org/strongbox", "strongbox", "a/b/c", ""),
    "branch": ("main", "release/2026", "", "a" * 300),
    "connection_arn": (
        "arn:aws:codeconnections:eu-west-1:555555555555:connection/"
        "8f3c1b7e-2d4a-4c59-9e61-0a7b5d2c4f18",
        "arn:aws:codestar-connections:eu-west-1:555555555555:connection/x",
        "connection",
    ),
}


def object_kind(path: KeyPath) -> str | None:
    """Which object of the schema the object at `path` is, e.g. "rotation" or "secret"."""
    if not path:
        return "root"
    if len(path) == 2 and path[0] == "environments":
        return "environment"
    last = path[-1]
    if isinstance(last, int):
        if len(path) < 2:
            return None
        return {"secrets": "secret", "parameters": "parameter", "policies": "policy"}.get(
            str(path[-2])
        )
    if last == "database":
        return "secret-database" if "secrets" in path else "workload-database"
    if last == "generate":
        return "generation"
    if last == "source" and path[0] == "pipeline":
        return "pipeline-source"
    return last if last in ALLOWED_KEYS else None


MUTATIONS = (
    *("schema-set",) * 4,
    "replace",
    "delete",
    "duplicate",
    "unknown-key",
    "retype",
    "tweak",
)


def schema_set(draw: st.DrawFn, raw: Json) -> None:
    """Set an allowed key of an object to a plausible value; the kind of object (secret,
    rotation, network...) is drawn first, so that the few environments are not drowned out."""
    objects: dict[str, list[KeyPath]] = {}
    for path in key_paths(raw):
        if isinstance(get(raw, path), dict):
            objects.setdefault(object_kind(path) or "", []).append(path)
    if not objects:
        return
    kind = draw(st.sampled_from(sorted(objects)))
    path = draw(st.sampled_from(objects[kind]))
    key = draw(st.sampled_from(ALLOWED_KEYS.get(kind, SCHEMA_KEYS)))
    value = draw(st.sampled_from(KEY_VALUES[key]) if key in KEY_VALUES else json_values)
    get(raw, path)[key] = copy.deepcopy(value)


@st.composite
def mutated_config(
    draw: st.DrawFn,
    base: Json = BASE,
    *,
    max_mutations: int = 3,
    mutations: tuple[str, ...] = MUTATIONS,
) -> Json:
    """The shipped config with 1 to `max_mutations` random edits anywhere in its tree."""
    raw = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, max_mutations))):
        mutation = draw(st.sampled_from(mutations))
        if mutation == "schema-set":
            schema_set(draw, raw)
            continue
        paths = key_paths(raw)
        path = draw(st.sampled_from(paths))
        target = get(raw, path)
        parent = get(raw, path[:-1]) if path else None
        if mutation == "replace":
            raw = replace(raw, path, draw(json_values))
        elif mutation == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif mutation == "delete" and isinstance(parent, list):
            del parent[int(path[-1])]
        elif mutation == "duplicate" and isinstance(parent, list):
            parent.insert(int(path[-1]), copy.deepcopy(target))
        elif mutation == "duplicate" and isinstance(target, list) and target:
            target.append(copy.deepcopy(draw(st.sampled_from(target))))
        elif mutation == "unknown-key":
            into = target if isinstance(target, dict) else parent
            if isinstance(into, dict):
                into[draw(keys)] = draw(json_values)
            else:
                raw = replace(raw, path, {draw(keys): target})
        elif mutation == "retype":
            raw = replace(raw, path, retyped(target))
        elif isinstance(target, str):
            raw = replace(raw, path, draw(string_variants(target)))
        elif isinstance(target, int | float):
            raw = replace(raw, path, draw(number_variants(target)))
        else:
            raw = replace(raw, path, draw(scalars))
    return raw


@fuzz(1200)
@given(raw=mutated_config())
def test_mutated_shipped_config_parses_or_names_the_key(raw: Json) -> None:
    check(raw)


def only_environment(name: str) -> Json:
    """The shipped config with just one environment: fewer places to edit, none masking."""
    return {**BASE, "environments": {name: BASE["environments"][name]}}


@fuzz(1500)
@given(
    raw=st.sampled_from(sorted(BASE["environments"])).flatmap(
        lambda name: mutated_config(
            only_environment(name), max_mutations=3, mutations=("schema-set",)
        )
    )
)
def test_schema_aware_edits_parse_or_name_the_key(raw: Json) -> None:
    check(raw)


@fuzz(300)
@given(raw=mutated_config(max_mutations=8))
def test_heavily_mutated_shipped_config_parses_or_names_the_key(raw: Json) -> None:
    check(raw, twice=False)


# ---------------------------------------------------------------------------------------------
# 2. Generated trees at the top level and as an environment.

objects: st.SearchStrategy[Json] = st.dictionaries(keys, json_values, max_size=6)
environment_names = st.sampled_from(
    ("dev", "prod", "qa-1", "Prod", "", "-dev", "a" * 21, "dev\n", "dev.prod", "x[0]", "é")
) | st.text(max_size=10)


@fuzz(300)
@given(raw=json_values | objects)
def test_generated_document_parses_or_names_the_key(raw: Json) -> None:
    check(raw)


@fuzz(300)
@given(
    top=st.fixed_dictionaries(
        {},
        optional={
            "application": json_values | strings,
            "environments": json_values | st.dictionaries(environment_names, objects, max_size=3),
            "pipeline": json_values | st.fixed_dictionaries({}, optional={"enabled": scalars}),
        },
    ),
    extra=st.dictionaries(keys, json_values, max_size=2),
)
def test_generated_top_level_keys_parse_or_name_the_key(
    top: dict[str, Json], extra: dict[str, Json]
) -> None:
    check({**extra, **top})


@fuzz(500)
@given(
    name=environment_names,
    body=objects | json_values,
    replace_existing=st.booleans(),
    keep_required=st.booleans(),
)
def test_generated_environment_parses_or_names_the_key(
    name: str, body: Json, replace_existing: bool, keep_required: bool
) -> None:
    raw = copy.deepcopy(BASE)
    if keep_required and isinstance(body, dict):
        # Start from a valid environment so that the generated keys get past the required ones.
        body = {**{k: BASE["environments"]["dev"][k] for k in ("account", "region")}, **body}
        body.setdefault("availability_zones", ["eu-west-1a"])
    if replace_existing:
        raw["environments"] = {name: body}
    else:
        raw["environments"][name] = body
    check(raw)


# ---------------------------------------------------------------------------------------------
# 3. Valid-by-construction variations must parse.

# RDS identifiers hold the name: no "--", no trailing "-".
valid_environment_names = st.from_regex(r"[a-z](?:[a-z0-9]|-(?=[a-z0-9])){0,19}", fullmatch=True)


@st.composite
def valid_variation(draw: st.DrawFn) -> tuple[Json, dict[str, dict[str, Any]]]:
    """A config that must parse, and what each environment should come out as."""
    raw = copy.deepcopy(BASE)
    shipped = list(raw["environments"])
    order = draw(st.permutations(shipped))
    kept = order[: draw(st.integers(1, len(order)))]
    if draw(st.booleans()):
        names = draw(
            st.lists(valid_environment_names, min_size=len(kept), max_size=len(kept), unique=True)
        )
    else:
        names = list(kept)
    environments: dict[str, Any] = {}
    expected: dict[str, dict[str, Any]] = {}
    for old, new in zip(kept, names, strict=True):
        body = raw["environments"][old]
        for key in ("replica_regions", "alerts", "key_administrators", "network"):
            if draw(st.booleans()):
                body.pop(key, None)
        workload = body["workload"]
        workload["desired_count"] = draw(st.integers(0, 100))
        workload["function"]["cache_ttl_seconds"] = draw(st.integers(0, 300))
        if draw(st.booleans()):
            workload["port"] = draw(st.integers(1024, 65535))
        if draw(st.booleans()):
            workload["database"]["storage_gib"] = draw(st.integers(20, 1024))
        if draw(st.booleans()):
            body["secrets"] = draw(st.permutations(body["secrets"]))
        environments[new] = body
        expected[new] = {
            "desired_count": workload["desired_count"],
            "replica_regions": tuple(body.get("replica_regions", ())),
            "purposes": [secret["purpose"] for secret in body["secrets"]],
        }
    raw["environments"] = environments
    pipeline = draw(st.sampled_from((None, True, False)))
    if pipeline is None:
        del raw["pipeline"]
    else:
        # Waves and approvals name environments, which this variation renames: left out, every
        # environment gets a wave of its own.
        renamed: dict[str, Any] = {
            key: value
            for key, value in BASE["pipeline"].items()
            if key not in ("waves", "approval_before")
        }
        raw["pipeline"] = {**renamed, "enabled": pipeline}
    return raw, expected


@fuzz(300)
@given(variation=valid_variation())
def test_valid_variations_parse_and_keep_their_environments(
    variation: tuple[Json, dict[str, dict[str, Any]]],
) -> None:
    raw, expected = variation
    config = check(raw, twice=False)
    assert isinstance(config, StrongboxConfig), str(config)
    assert [environment.name for environment in config.environments] == list(expected)
    for environment in config.environments:
        want = expected[environment.name]
        assert environment.workload is not None
        assert environment.workload.desired_count == want["desired_count"]
        assert environment.replica_regions == want["replica_regions"]
        assert [secret.purpose for secret in environment.secrets] == want["purposes"]


# ---------------------------------------------------------------------------------------------
# 4. The `-c strongbox='...'` form: arbitrary text.

SHIPPED_TEXT = json.dumps(BASE)
TRICKY_TEXTS = (
    "",
    " ",
    "null",
    "true",
    "0",
    "[]",
    "{}",
    '"strongbox"',
    "NaN",
    "-Infinity",
    "{not json",
    "[" * 3000,
    '{"application": ' + "1" * 5000 + "}",
    '{"application": "\\ud800"}',
    SHIPPED_TEXT[:-1],
    SHIPPED_TEXT + "}",
    SHIPPED_TEXT.replace('"333333333333"', "333333333333"),
)


@st.composite
def edited_shipped_text(draw: st.DrawFn) -> str:
    """The shipped config as JSON text with a few characters deleted, inserted or replaced."""
    text = SHIPPED_TEXT
    for _ in range(draw(st.integers(1, 3))):
        start = draw(st.integers(0, len(text)))
        end = min(len(text), start + draw(st.integers(0, 3)))
        inserted = draw(st.sampled_from(('"', ",", "{", "}", "[", "]", ":", "", "\\", "0", "\n")))
        text = text[:start] + inserted + text[end:]
    return text


def json_text(value: Json) -> str:
    try:
        return json.dumps(value)
    except ValueError:  # an integer too long to print
        return "0"


texts = (
    st.text(max_size=300)  # longer texts make shrinking slow; TRICKY_TEXTS has the long ones
    | st.sampled_from(TRICKY_TEXTS)
    | edited_shipped_text()
    | json_values.map(json_text)
    | mutated_config(max_mutations=2).map(json_text)
)


@fuzz(800)
@given(text=texts)
def test_text_parses_or_names_the_key_or_strongbox(text: str) -> None:
    check_text(text)


# ---------------------------------------------------------------------------------------------
# What parses has clean identifiers: ASCII, printable, no surrounding whitespace.


def identifiers(config: StrongboxConfig) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = [("application", config.application)]

    def add(where: str, *values: str | None) -> None:
        found.extend((where, value) for value in values if value is not None)

    for env in config.environments:
        add("environment", env.name, env.account, env.region)
        add("environment", *env.availability_zones, *env.replica_regions)
        add("environment", *env.key_administrators, *env.cross_account_readers)
        add("alerts", *env.alerts.emails, *env.alerts.allowed_readers)
        network = env.network
        add("network", network.cidr, network.vpc_id, *network.endpoints)
        add("network", *network.vpc_endpoint_ids, *network.subnet_ids, *network.route_table_ids)
        for secret in env.secrets:
            rotation = secret.rotation
            add("secret", secret.purpose, secret.generate_key, *secret.consumers)
            add("secret", rotation.schedule, rotation.window, rotation.master_secret)
            add("secret", *secret.cross_account_readers)
            if secret.database is not None:
                add("secret", secret.database.username, secret.database.dbname)
        for parameter in env.parameters:
            add("parameter", parameter.name, *parameter.consumers)
            if parameter.source is not None:
                add("parameter", parameter.source.secret, parameter.source.field)
        workload = env.workload
        if workload is not None:
            add("workload", workload.service, workload.image_repository, workload.image_tag)
            if workload.database is not None:
                add("workload", workload.database.credentials, workload.database.instance_type)
            if workload.function is not None:
                add("workload", workload.function.name)
            if workload.instance is not None:
                add("workload", workload.instance.name, workload.instance.instance_type)
    return found


def clean(identifier: str) -> bool:
    return identifier.isascii() and identifier.isprintable() and identifier == identifier.strip()


@st.composite
def config_with_tweaked_strings(draw: st.DrawFn) -> Json:
    """The shipped config with one to three of its strings varied (whitespace, unicode...)."""
    raw = copy.deepcopy(BASE)
    paths = [path for path in key_paths(raw) if isinstance(get(raw, path), str)]
    for path in draw(st.lists(st.sampled_from(paths), min_size=1, max_size=3)):
        replace(raw, path, draw(string_variants(get(raw, path))))
    return raw


@fuzz(500)
@given(raw=config_with_tweaked_strings())
def test_accepted_identifiers_are_clean(raw: Json) -> None:
    result = check(raw, twice=False)
    if isinstance(result, StrongboxConfig):
        dirty = [(where, value) for where, value in identifiers(result) if not clean(value)]
        assert not dirty, dirty


# ---------------------------------------------------------------------------------------------
# The checker itself.


@pytest.mark.parametrize(
    ("path", "resolves"),
    [
        ("", True),
        ("application", True),
        ("environments.prod.secrets[1].rotation.schedule", True),
        ("environments.prod.secrets[1].rotation.disabled_reason", True),
        ("environments.prod.region", True),
        ("environments.prod.workload.function.name", True),
        ("environments.prod.secrets[5]", False),
        ("environments.qa.region", False),
        ("environments.prod.secrets[1].rotation.schedule.extra", False),
        ("environments.prod.nope.region", False),
        ("environments.prod.secrets.0", False),
        ("strongbox.x", False),
        ("environments.prod.workload.image_tag.x", False),
    ],
)
def test_path_resolves(path: str, resolves: bool) -> None:
    assert path_resolves(BASE, path) is resolves


def test_path_resolves_keys_with_dots_and_brackets() -> None:
    document = {"a.b": {"c[0]": [1]}, "a": {}}
    assert path_resolves(document, "a.b.c[0][0]")
    assert path_resolves(document, "a.missing")
    assert not path_resolves(document, "a.b.c[0][1]")


# ---------------------------------------------------------------------------------------------
# Regression tests for the bugs the fuzzer found (see the top of the file).


def _shipped_with(path: KeyPath, value: Json) -> Json:
    return replace(copy.deepcopy(BASE), path, value)


FOUND_BUGS: list[tuple[str, Callable[[], Json], str]] = [
    (
        "integer over 4300 digits in a range check",
        lambda: _shipped_with(("environments", "prod", "workload", "desired_count"), HUGE),
        "environments.prod.workload.desired_count",
    ),
    (
        "integer over 4300 digits where a string belongs",
        lambda: _shipped_with(("application",), HUGE),
        "application",
    ),
    (
        "rate schedule over 4300 digits",
        lambda: _shipped_with(
            ("environments", "prod", "secrets", 0, "rotation", "schedule"),
            "rate(" + "9" * 4400 + " days)",
        ),
        "environments.prod.secrets[0].rotation.schedule",
    ),
    (
        "lone surrogate in a parameter value",
        lambda: _shipped_with(("environments", "prod", "parameters", 1, "value"), "\ud800"),
        "environments.prod.parameters[1].value",
    ),
    (
        "JSON text with an integer over 4300 digits",
        lambda: '{"application": ' + "1" * 4400 + "}",
        "strongbox",
    ),
    ("JSON text nested deeper than the recursion limit", lambda: "[" * 3000, "strongbox"),
    (
        "account with a trailing newline",
        lambda: _shipped_with(("environments", "prod", "account"), "333333333333\n"),
        "environments.prod.account",
    ),
    (
        "application with a trailing newline",
        lambda: _shipped_with(("application",), "payments\n"),
        "application",
    ),
    (
        "schedule with a trailing newline",
        lambda: _shipped_with(
            ("environments", "prod", "secrets", 0, "rotation", "schedule"), "rate(30 days)\n"
        ),
        "environments.prod.secrets[0].rotation.schedule",
    ),
    (
        "schedule with non-ASCII digits",
        lambda: _shipped_with(
            ("environments", "prod", "secrets", 0, "rotation", "schedule"),
            "rate(\u0663\u0660 days)",
        ),
        "environments.prod.secrets[0].rotation.schedule",
    ),
    (
        "role ARN with a non-ASCII name",
        lambda: _shipped_with(
            ("environments", "prod", "key_administrators"),
            ["arn:aws:iam::333333333333:role/é"],
        ),
        "environments.prod.key_administrators[0]",
    ),
]


@pytest.mark.parametrize(
    ("make_raw", "path"), [bug[1:] for bug in FOUND_BUGS], ids=[bug[0] for bug in FOUND_BUGS]
)
def test_found_bug(make_raw: Callable[[], Json], path: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(make_raw())
    assert error.value.path == path
    assert "\n" not in error.value.reason
