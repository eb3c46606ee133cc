"""Any config the model accepts, up to the sizes the docs promise, synthesizes templates inside
every CloudFormation, IAM, KMS, Secrets Manager, SSM and EventBridge limit that
benchmarks/limits.py checks.

The strategy draws sizes (`Sizes`): how many secrets and parameters, their shapes (kind,
rotation, consumers, replication, sharing, tag count and lengths, description, owner and purpose
lengths, value sizes, name lengths), replica regions, cross-account readers and alert readers.
`build` turns sizes into the prod environment of the shipped config, and where the model refuses
a list the docs say is bounded by a limit it checks (cross-account readers by the key policy,
alert readers by the rule's pattern) it keeps the longest prefix the model accepts: those lists
are drawn up to the limit itself. Anything else the model refuses is rejected, and is rare. The
environment is synthesized alone (`-c env=prod`), as the app builds it, and `breaches` must find
nothing.

Synth is slow (a 1,000-secret environment takes 25-40 s), so the largest sizes are explicit
examples (LARGEST: the most secrets, parameters and readers; LARGEST_ITEMS: the largest of each
secret and parameter), Hypothesis draws two more of at most 80 secrets and 100 parameters, and
all four are synthesized in one process after Hypothesis has drawn them: nothing shrinks (each
step would be a synth), and a failure names the sizes of each config that breaches.

KNOWN_BREACHES are accepted configs that breach a limit today, each a test of its own that fails
until the model refuses it or the app fits it. The strategy stays out of those regions (see
`build`, the bounds marked "KNOWN_BREACHES"): widen each bound when its test passes.
"""

# Found by this file and refused by the model since (each now in tests/bad_configs or
# tests/test_config.py): a full parameter name of 968-1,011 characters (SSM counts the ARN before
# the name in its 1,011), over 45 extra tags on a secret, a json template making the value over
# 65,536 bytes. Fixed by placement since: over about 60 SecureStrings in one provider's policy
# (parameters now split across Parameters stacks).

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, reject, settings
from hypothesis import strategies as st

from benchmarks.limits import breaches
from stacks.config import ConfigError, parse_config
from strongbox.naming import pascal_case
from tests.conftest import Synthesized, cdk_json_context, default_strongbox_config, synthesize_all

ENVIRONMENT, ACCOUNT, REGION = "prod", "333333333333", "eu-west-1"
REPLICA_REGIONS = ("eu-central-1", "eu-north-1", "us-east-1")
CONSUMERS = ("api", "reconciler", "batch")
SSM_ARN_PREFIX = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter"

# The sizes the docs promise (docs/configuration.md, docs/design.md).
MAX_SECRETS = 1_000  # per environment, spread over Secrets stacks
# Parameters split over Parameters stacks of 480; Parameter Store's quota (10,000 Standard an
# environment) is the model's bound, too many to synthesize here: LARGEST has 500, two stacks.
MAX_PARAMETERS = 500
MAX_READERS = 89  # cross_account_readers: accounts until the key policy's 32 KB, in prod
MAX_ALLOWED_READERS = 40  # alerts.allowed_readers: until the rule's 2,048 characters (fitted)
MAX_DESCRIPTION, MAX_PARAMETER_DESCRIPTION, MAX_OWNER = 2_048, 1_024, 256
MAX_PURPOSE, MAX_TAG_KEY, MAX_TAG_VALUE = 63, 128, 256
MAX_VALUE = 8_192  # bytes of a String or StringList (the Advanced tier over 4 KB)
MAX_GENERATED = 4_096
MAX_ROLE_NAME = 64
MAX_APPLICATION = 20
# Drawn examples stay under these (one Secrets stack, a synth of about 8 s); the explicit
# examples hold the documented maxima.
DRAWN_SECRETS, DRAWN_PARAMETERS = 75, 100
# The service reads 255 secrets in tests/test_scale.py; the model refuses a role more secrets
# than its managed policies hold, and synth a function more than Lambda's 4 KB environment holds
# (refusals, not breaches: left out here).
MAX_READ_BY_ROLE = 255
MAX_READ_BY_FUNCTION, MAX_FUNCTION_PARAMETER_NAME = 5, 200

# The model's own bounds: SSM's 1,011 characters count the ARN before the name; 50 tags a
# secret, five of them Strongbox's.
MAX_FULL_PARAMETER_NAME = 1_011 - len(SSM_ARN_PREFIX)
MAX_EXTRA_TAGS = 45

# KNOWN_BREACHES bounds: the strategy stays under each until its test below passes.
MAX_TOKEN_ROTATED = 25  # token-rotated-secrets-in-one-policy, token-rotation-in-two-stacks
MAX_PARAMETER_ARNS_PER_ROLE = 5_000  # characters: parameters-read-by-one-role
MAX_SHARED_POLICY = 18_000  # characters of readers in one secret: secret-shared-with-roles
# A secret's bytes in its Secrets stack's template (its tags, description, json template and
# readers), so 80 of them fit CloudFormation's 1 MB: secrets-stack-template-bytes.
MAX_SECRET_TEMPLATE_BYTES = 11_000
MAX_TEMPLATE_FIELD = MAX_OWNER  # characters of a json template's one field


@dataclass(frozen=True)
class SecretShape:
    kind: str  # database, api-key, json
    rotation: str  # token, hosted, off
    consumers: tuple[str, ...]
    replicate: bool
    shares: int  # how many of the environment's cross-account readers a secret shares with
    description: int
    owner: int
    purpose: int
    tags: int
    tag_key: int
    tag_value: int
    generated: int  # characters


@dataclass(frozen=True)
class ParameterShape:
    type: str  # String, StringList, SecureString
    value: int  # bytes
    name: int  # characters of the full name, /<application>/prod/ included
    description: int
    consumers: tuple[str, ...]
    policies: bool


@dataclass(frozen=True)
class Sizes:
    application: int
    secrets: int  # besides the shipped five
    secret_shapes: tuple[SecretShape, ...]
    parameters: int  # besides the shipped three
    parameter_shapes: tuple[ParameterShape, ...]
    replica_regions: int
    readers: int
    reader_role: int  # 0: account ids; else role ARNs with a name of this many characters
    reader_path: int  # characters of the role path (0: "/")
    allowed_readers: int
    allowed_reader_name: int
    administrators: int


def secret_shapes() -> st.SearchStrategy[SecretShape]:
    return st.builds(
        SecretShape,
        kind=st.sampled_from(["api-key", "json", "database"]),
        rotation=st.sampled_from(["off", "token", "hosted"]),
        consumers=st.lists(st.sampled_from(CONSUMERS), unique=True).map(tuple),
        replicate=st.booleans(),
        shares=st.sampled_from([0, 1, 5, MAX_READERS]),
        description=st.integers(1, MAX_DESCRIPTION),
        owner=st.integers(1, MAX_OWNER),
        purpose=st.integers(5, MAX_PURPOSE),
        tags=st.integers(0, MAX_EXTRA_TAGS),
        tag_key=st.integers(4, MAX_TAG_KEY),
        tag_value=st.integers(1, MAX_TAG_VALUE),
        generated=st.integers(16, MAX_GENERATED),
    )


def parameter_shapes() -> st.SearchStrategy[ParameterShape]:
    return st.builds(
        ParameterShape,
        type=st.sampled_from(["String", "StringList", "SecureString"]),
        value=st.integers(1, MAX_VALUE),
        name=st.integers(30, MAX_FULL_PARAMETER_NAME),
        description=st.integers(0, MAX_PARAMETER_DESCRIPTION),
        consumers=st.lists(st.sampled_from(CONSUMERS), unique=True).map(tuple),
        policies=st.booleans(),
    )


def sizes() -> st.SearchStrategy[Sizes]:
    return st.builds(
        Sizes,
        application=st.integers(1, MAX_APPLICATION),
        secrets=st.integers(0, DRAWN_SECRETS),
        secret_shapes=st.lists(secret_shapes(), min_size=1, max_size=4).map(tuple),
        parameters=st.integers(0, DRAWN_PARAMETERS),
        parameter_shapes=st.lists(parameter_shapes(), min_size=1, max_size=3).map(tuple),
        replica_regions=st.integers(0, len(REPLICA_REGIONS)),
        readers=st.integers(0, MAX_READERS),
        reader_role=st.sampled_from([0, 1, 20, MAX_ROLE_NAME]),
        reader_path=st.integers(0, 100),
        allowed_readers=st.integers(0, MAX_ALLOWED_READERS),
        allowed_reader_name=st.integers(1, MAX_ROLE_NAME),
        administrators=st.integers(0, 3),
    )


def _prod(config: dict[str, Any]) -> dict[str, Any]:
    environment: dict[str, Any] = config["environments"][ENVIRONMENT]
    return environment


def filler(length: int, word: str = "strongbox ") -> str:
    return (word * (length // len(word) + 1))[:length]


def application_name(length: int) -> str:
    return "p" + filler(length - 1, "ayments")


def reader(index: int, sizes: Sizes) -> str:
    account = f"{600_000_000_000 + index:012d}"
    if not sizes.reader_role:
        return account
    path = "/" + (
        filler(sizes.reader_path - 2, "team/").strip("/") + "/" if sizes.reader_path > 2 else ""
    )
    name = f"r{index:02d}" + filler(max(sizes.reader_role - 3, 0), "reader")
    return f"arn:aws:iam::{account}:role{path}{name[: sizes.reader_role]}"


def reader_policy_size(reader_arn: str) -> int:
    """About what one cross-account reader adds to a secret's resource policy."""
    account = reader_arn if reader_arn.isdigit() else reader_arn.split(":")[4]
    principal = f"arn:aws:iam::{account}:root" if reader_arn.isdigit() else reader_arn
    sid = account + ("" if reader_arn.isdigit() else pascal_case(reader_arn.split("/")[-1]))
    return 140 + len(principal) + len(sid)


class _Budget:
    """How much each consumer already reads, to keep under what one role or function holds."""

    def __init__(self) -> None:
        self.secrets = dict.fromkeys(CONSUMERS, 0)
        self.parameter_arns = dict.fromkeys(CONSUMERS, 0)
        self.function_parameters = 0

    def secret(self, consumers: tuple[str, ...]) -> list[str]:
        kept = []
        for consumer in consumers:
            cap = MAX_READ_BY_FUNCTION if consumer == "reconciler" else MAX_READ_BY_ROLE
            if self.secrets[consumer] < cap:
                self.secrets[consumer] += 1
                kept.append(consumer)
        return kept

    def parameter(self, consumers: tuple[str, ...], full_name: str) -> list[str]:
        kept = []
        for consumer in consumers:
            size = len(SSM_ARN_PREFIX) + len(full_name) + 3
            if consumer == "reconciler" and (
                len(full_name) > MAX_FUNCTION_PARAMETER_NAME or self.function_parameters >= 3
            ):
                continue
            if self.parameter_arns[consumer] + size <= MAX_PARAMETER_ARNS_PER_ROLE:
                self.parameter_arns[consumer] += size
                self.function_parameters += consumer == "reconciler"
                kept.append(consumer)
        return kept


def build_secret(
    index: int,
    shape: SecretShape,
    *,
    readers: list[str],
    replicas: bool,
    budget: _Budget,
    token_rotated: int,
) -> dict[str, Any]:
    purpose = f"s{index:04d}-" + filler(shape.purpose, "secret-")
    purpose = purpose[: max(shape.purpose, 6)].rstrip("-")
    rotation = shape.rotation
    if rotation == "hosted" and shape.kind != "database":
        rotation = "token"
    if rotation == "token" and (shape.kind == "database" or token_rotated >= MAX_TOKEN_ROTATED):
        rotation = "off"
    replicate = shape.replicate and not (rotation == "hosted" and replicas)
    secret: dict[str, Any] = {
        "purpose": purpose,
        "kind": shape.kind,
        "owner": "team-" + filler(shape.owner, "payments")[: max(shape.owner - 5, 1)],
        "description": filler(shape.description, "What the secret is for. "),
        "rotation": (
            {"disabled_reason": "Rotated by its issuer on their own calendar, then stored."}
            if rotation == "off"
            else {"schedule": "rate(30 days)", "window": "4h"}
        ),
        "consumers": budget.secret(shape.consumers),
        "replicate": replicate,
        "generation": {"length": max(shape.generated, 20 if shape.kind == "database" else 16)},
    }
    # What the secret writes into its stack's template (description, json template, tags,
    # readers in its resource policy), in bytes as the CDK indents it.
    room = MAX_SECRET_TEMPLATE_BYTES - 4_000 - shape.description
    if shape.kind == "json":
        secret["template"] = {"issuer": filler(min(shape.owner, MAX_TEMPLATE_FIELD), "acme")}
        secret["generate_key"] = "token"
        room -= min(shape.owner, MAX_TEMPLATE_FIELD)
    tag_count = min(shape.tags, max(room, 0) // (shape.tag_key + shape.tag_value + 40))
    secret["tags"] = {
        f"T{number:02d}" + filler(shape.tag_key - 3, "-key"): filler(shape.tag_value, "value ")
        for number in range(tag_count)
    }
    room -= tag_count * (shape.tag_key + shape.tag_value + 40)
    if shape.shares and readers:
        shared, size = [], 0
        for arn in readers[: shape.shares]:
            size += reader_policy_size(arn)
            if size > MAX_SHARED_POLICY or size * 3 // 2 > room:
                break
            shared.append(arn)
        secret["cross_account_readers"] = shared
    return secret


def build_parameter(
    index: int, shape: ParameterShape, *, application: str, budget: _Budget
) -> dict[str, Any]:
    prefix = f"/{application}/{ENVIRONMENT}/"
    name = f"p{index:03d}"
    rest = shape.name - len(prefix) - len(name)
    if rest > 1:  # a second level, up to the name's length
        name += "/" + filler(rest - 1, "setting.")
    name = name.rstrip("/.")
    parameter: dict[str, Any] = {"name": name, "type": shape.type}
    if shape.description:
        parameter["description"] = filler(shape.description, "What it configures. ")
    if shape.type == "SecureString":
        parameter["source"] = {"generate": {"length": 32, "exclude_punctuation": True}}
    else:
        value = filler(shape.value, "dark-mode," if shape.type == "StringList" else "value ")
        parameter["value"] = value.strip(",") or "v"
        if shape.policies:
            parameter["policies"] = [
                {
                    "Type": "NoChangeNotification",
                    "Version": "1.0",
                    "Attributes": {"After": "30", "Unit": "Days"},
                }
            ]
    parameter["consumers"] = budget.parameter(shape.consumers, prefix + name)
    return parameter


def build(sizes: Sizes) -> dict[str, Any]:
    """The shipped config with its prod environment grown to `sizes`, the lists bounded by a
    limit the model checks cut to the longest prefix it accepts."""
    config: dict[str, Any] = copy.deepcopy(default_strongbox_config())
    application = application_name(sizes.application)
    config["application"] = application
    prod = config["environments"][ENVIRONMENT]
    prod["replica_regions"] = list(REPLICA_REGIONS[: sizes.replica_regions])
    readers = [reader(index, sizes) for index in range(sizes.readers)]
    prod["cross_account_readers"] = [*readers, *prod["cross_account_readers"]]
    prod["key_administrators"] = [
        *prod["key_administrators"],
        *(
            f"arn:aws:iam::{ACCOUNT}:role/admins/"
            + filler(MAX_ROLE_NAME - 2, "administrator")
            + f"{index:02d}"
            for index in range(sizes.administrators)
        ),
    ]
    prod["alerts"]["allowed_readers"] = [
        f"arn:aws:iam::{ACCOUNT}:role/"
        + (f"a{index:02d}" + filler(sizes.allowed_reader_name, "-auditor"))[
            : max(sizes.allowed_reader_name, 3)
        ]
        for index in range(sizes.allowed_readers)
    ]
    budget = _Budget()
    for secret in prod["secrets"]:
        budget.secret(tuple(secret["consumers"]))
    for parameter in prod["parameters"]:
        budget.parameter(tuple(parameter["consumers"]), parameter["name"])
    token_rotated = 0
    for index in range(sizes.secrets):
        shape = sizes.secret_shapes[index % len(sizes.secret_shapes)]
        secret = build_secret(
            index,
            shape,
            readers=readers,
            replicas=bool(prod["replica_regions"]),
            budget=budget,
            token_rotated=token_rotated,
        )
        token_rotated += "schedule" in secret["rotation"] and secret["kind"] != "database"
        prod["secrets"].append(secret)
    for index in range(sizes.parameters):
        parameter_shape = sizes.parameter_shapes[index % len(sizes.parameter_shapes)]
        prod["parameters"].append(
            build_parameter(index, parameter_shape, application=application, budget=budget)
        )
    return fit(config)


def _keep_readers(config: dict[str, Any], count: int) -> None:
    prod = config["environments"][ENVIRONMENT]
    kept = prod["cross_account_readers"][:count]
    prod["cross_account_readers"] = kept
    for secret in prod["secrets"]:
        if "cross_account_readers" in secret:
            secret["cross_account_readers"] = [
                r for r in secret["cross_account_readers"] if r in kept
            ]


def _keep_allowed_readers(config: dict[str, Any], count: int) -> None:
    alerts = _prod(config)["alerts"]
    alerts["allowed_readers"] = alerts.get("allowed_readers", [])[:count]


# A refusal naming one of these keys cuts that list to the longest prefix the model accepts.
FITTED: dict[str, tuple[Callable[[dict[str, Any]], int], Callable[[dict[str, Any], int], None]]] = {
    f"environments.{ENVIRONMENT}.cross_account_readers:": (
        lambda c: len(c["environments"][ENVIRONMENT]["cross_account_readers"]),
        _keep_readers,
    ),
    f"environments.{ENVIRONMENT}.alerts.allowed_readers:": (
        lambda c: len(_prod(c)["alerts"].get("allowed_readers", [])),
        _keep_allowed_readers,
    ),
}


def accepted(config: dict[str, Any]) -> ConfigError | None:
    try:
        parse_config(config)
    except ConfigError as error:
        return error
    return None


def _skeleton(config: dict[str, Any]) -> dict[str, Any]:
    """`config` without what no fitted limit depends on (a secret's tags, description and
    owner), which is most of the model's time on a large config."""
    skeleton = copy.deepcopy(config)
    for secret in _prod(skeleton)["secrets"]:
        secret.pop("tags", None)
        secret["description"] = secret["owner"] = "x"
    return skeleton


def _fit_list(config: dict[str, Any], key: str) -> None:
    """The FITTED list `key` names cut, in place, to the longest prefix the model accepts."""
    length, keep = FITTED[key]
    low, high = 0, length(config) - 1  # the whole list was refused
    while low < high:
        middle = (low + high + 1) // 2
        trial = copy.deepcopy(config)
        keep(trial, middle)
        refusal = accepted(trial)
        fits = refusal is None or not str(refusal).startswith(key)
        low, high = (middle, high) if fits else (low, middle - 1)
    keep(config, low)


def _fit_lists(config: dict[str, Any]) -> None:
    """Each list of FITTED the model refuses cut, in place, to its longest accepted prefix
    (found on the skeleton, which the model reads in a fraction of the time)."""
    skeleton = _skeleton(config)
    for _ in FITTED:
        error = accepted(skeleton)
        key = next((key for key in FITTED if error and str(error).startswith(key)), None)
        if key is None:
            break
        _fit_list(skeleton, key)
    for length, keep in FITTED.values():
        keep(config, length(skeleton))


def fit(config: dict[str, Any]) -> dict[str, Any]:
    """`config` with its FITTED lists fitted; what the model refuses for another reason is
    rejected (rare: test_the_strategy_is_mostly_valid)."""
    _fit_lists(config)
    if accepted(config) is not None:
        reject()
    return config


def synthesize_environments(configs: list[dict[str, Any]], directory: Path) -> list[Synthesized]:
    """Each config's prod environment as `cdk synth -c env=prod` builds it, in one process."""
    jobs = []
    for index, config in enumerate(configs):
        context = cdk_json_context()
        context["strongbox"] = config
        context["env"] = ENVIRONMENT
        jobs.append((context, directory / f"config{index}"))
    return synthesize_all(jobs)


SHAPE = SecretShape(
    kind="api-key",
    rotation="off",
    consumers=("api", "batch"),
    replicate=True,
    shares=MAX_READERS,
    description=MAX_DESCRIPTION,
    owner=MAX_OWNER,
    purpose=MAX_PURPOSE,
    tags=MAX_EXTRA_TAGS,
    tag_key=MAX_TAG_KEY,
    tag_value=MAX_TAG_VALUE,
    generated=MAX_GENERATED,
)
# The most of everything: 1,000 secrets (token-rotated, json, database, unreplicated; the
# service reads 255, as in tests/test_scale.py), 500 parameters, cross-account readers up to the
# key policy, alert readers up to the pattern. Each secret and parameter is of an ordinary size,
# unshared and without extra tags: tags, sharing, hosted rotation and more consumers are most of
# a large synth's time, and LARGEST_ITEMS has the most of each.
PLAIN = replace(
    SHAPE,
    consumers=(),
    shares=0,
    description=60,
    owner=20,
    purpose=30,
    tags=0,
    tag_key=10,
    tag_value=20,
    generated=40,
)
LARGEST = Sizes(
    application=8,
    secrets=MAX_SECRETS - 5,
    secret_shapes=(
        replace(PLAIN, rotation="token", consumers=("api",)),
        replace(PLAIN, kind="json", rotation="token"),
        replace(PLAIN, kind="database", consumers=("api",)),
        replace(PLAIN, replicate=False),
    ),
    parameters=MAX_PARAMETERS - 3,
    parameter_shapes=(
        ParameterShape("String", 40, 40, 60, ("api",), False),
        ParameterShape("StringList", 60, 40, 60, (), True),
        ParameterShape("SecureString", 0, 40, 60, (), False),
    ),
    replica_regions=1,
    readers=MAX_READERS,
    reader_role=0,
    reader_path=0,
    allowed_readers=MAX_ALLOWED_READERS,
    allowed_reader_name=20,
    administrators=1,
)
# The largest of each item: a full Secrets stack of secrets with the longest descriptions, owners,
# purposes, tags and generated values, read by every consumer and shared with role readers that
# have long names and paths (as many as the key policy holds); 110 parameters of 8 KB values
# (two Parameters stacks by bytes), the longest names SSM takes, generated SecureStrings; three
# replica regions, the longest application name.
LARGEST_ITEMS = Sizes(
    application=MAX_APPLICATION,
    secrets=75,
    secret_shapes=(
        replace(SHAPE, rotation="token", consumers=CONSUMERS),
        replace(SHAPE, kind="json", rotation="token", replicate=False),
        replace(SHAPE, kind="database", rotation="hosted", consumers=("api",), shares=0),
    ),
    parameters=110,
    parameter_shapes=(
        ParameterShape("String", MAX_VALUE, 200, MAX_PARAMETER_DESCRIPTION, ("api",), True),
        ParameterShape("StringList", MAX_VALUE, MAX_FULL_PARAMETER_NAME, 0, ("batch",), False),
        ParameterShape(
            "SecureString", 0, MAX_FULL_PARAMETER_NAME, MAX_PARAMETER_DESCRIPTION, (), False
        ),
    ),
    replica_regions=len(REPLICA_REGIONS),
    readers=MAX_READERS,
    reader_role=MAX_ROLE_NAME,
    reader_path=100,
    allowed_readers=MAX_ALLOWED_READERS,
    allowed_reader_name=MAX_ROLE_NAME,
    administrators=3,
)


def test_accepted_configs_synthesize_inside_every_limit(tmp_path: Path) -> None:
    """Hypothesis draws the sizes and builds the configs; all of them are then synthesized in
    one process (most of a small synth is the interpreter and jsii starting) and each must be
    inside every limit. Nothing to shrink: a failure names the sizes of each config that
    breaches, with its breaches."""
    drawn: list[tuple[Sizes, dict[str, Any]]] = []

    @settings(
        max_examples=2,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        print_blob=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(sizes=sizes())
    @example(sizes=LARGEST)
    @example(sizes=LARGEST_ITEMS)
    def draw(sizes: Sizes) -> None:
        drawn.append((sizes, build(sizes)))

    draw()
    synthesized = synthesize_environments([config for _, config in drawn], tmp_path)
    failures = []
    for (drawn_sizes, _), result in zip(drawn, synthesized, strict=True):
        found, _ = breaches(result.outdir)
        if found or result.synth_error is not None:
            failures.append((drawn_sizes, [*found, *filter(None, [result.synth_error])]))
    assert failures == [], "\n\n".join(
        f"{failed!r}\n" + "\n".join(f"  {line}" for line in lines) for failed, lines in failures
    )


def test_the_strategy_is_mostly_valid() -> None:
    """Drawn sizes give configs the model accepts (after fitting), so the few synthesized
    examples test the property instead of being rejected."""
    rejected = 0

    @settings(max_examples=12, derandomize=True, database=None, deadline=None)
    @given(
        sizes=sizes().map(
            lambda s: replace(s, secrets=s.secrets % 30, parameters=s.parameters % 30)
        )
    )
    def count(sizes: Sizes) -> None:
        nonlocal rejected
        try:
            build(sizes)
        except BaseException:
            rejected += 1
            raise

    count()
    assert rejected <= 1


# ---------------------------------------------------------------------------------------------
# Accepted configs that breach a limit today. Each part below is added to the shipped config; the
# parts the model accepts are synthesized together (one synth, each breach names its own
# resource), and each part's test fails while its breach is in the templates. A part the model
# refuses passes: refusing it is one fix, fitting it in the templates the other.


def _token_rotated(purpose: str) -> dict[str, Any]:
    return {
        "purpose": purpose,
        "kind": "api-key",
        "owner": "team-partners",
        "description": "A partner's API key, rotated by Strongbox",
        "rotation": {"schedule": "rate(30 days)"},
    }


def _not_rotated(purpose: str, **more: Any) -> dict[str, Any]:
    return {
        "purpose": purpose,
        "kind": "api-key",
        "owner": "team-partners",
        "description": "A partner's API key",
        "rotation": {"disabled_reason": "Issued and rotated in the partner's portal."},
        **more,
    }


def _many_rotated_in_one_policy(config: dict[str, Any]) -> None:
    """60 secrets rotated by one function (same generation, one Secrets stack): its one managed
    policy names all 60 ARNs, over IAM's 6,144 characters (about 58 fit with short names, 33
    with 63-character purposes and a 20-character application)."""
    _prod(config)["secrets"] += [_token_rotated(f"rot-{index:02d}") for index in range(60)]


def _rotated_in_two_stacks(config: dict[str, Any]) -> None:
    """A second Secrets stack with a token-rotated secret has a rotation function of its own,
    whose role the unexpected-read rule lists; the model counts one function per generation in
    the environment, so alert readers it accepts push the pattern past 2,048 characters."""
    _prod(config)["secrets"] += [_not_rotated(f"fill-{index:02d}") for index in range(80)]
    _prod(config)["secrets"].append(_token_rotated("zz-rotated-in-the-last-stack"))
    _prod(config)["alerts"]["allowed_readers"] = [
        f"arn:aws:iam::{ACCOUNT}:role/auditor-{index:02d}" for index in range(60)
    ]


def _parameters_read_by_one_role(config: dict[str, Any]) -> None:
    """120 parameters the service reads: their ARNs are one statement, which is never split, in
    a managed policy of about 9,600 characters."""
    _prod(config)["parameters"] += [
        {"name": f"app/setting-{index:03d}", "type": "String", "value": "on", "consumers": ["api"]}
        for index in range(120)
    ]


def _secret_shared_with_roles(config: dict[str, Any]) -> None:
    """Cross-account readers as role ARNs (64-character names), as many as the key policy holds
    (64, fitted): a secret shared with all of them has a resource policy over Secrets Manager's
    20,480 characters."""
    readers = [
        f"arn:aws:iam::{600_000_000_000 + index:012d}:role/" + filler(64, "Reader")
        for index in range(70)
    ]
    prod = _prod(config)
    prod["cross_account_readers"] = [*prod["cross_account_readers"], *readers]
    prod["secrets"][4]["cross_account_readers"] = prod["cross_account_readers"]


def _secrets_stack_template_bytes(config: dict[str, Any]) -> None:
    """Placement fills a Secrets stack by resources (80 secrets, 400 resources), not bytes: 80
    secrets with 45 tags of the longest key and value make a template of about 1.7 MB."""
    tags = {f"T{number:02d}" + "k" * 125: "v" * 256 for number in range(45)}
    _prod(config)["secrets"] += [
        _not_rotated(f"tagged-{index:02d}", tags=tags) for index in range(80)
    ]


# name -> (how the part changes the shipped config, the label of its breach, the resource)
KNOWN_BREACHES: dict[str, tuple[Callable[[dict[str, Any]], None], str, str]] = {
    "token-rotated-secrets-in-one-policy": (
        _many_rotated_in_one_policy,
        "managed policy of",
        "TokenRotation",
    ),
    "token-rotation-in-two-stacks": (
        _rotated_in_two_stacks,
        "event pattern of",
        "/AlertsUnexpectedReads",
    ),
    "parameters-read-by-one-role": (
        _parameters_read_by_one_role,
        "managed policy of",
        "/Workload/SecretsPolicy",
    ),
    "secret-shared-with-roles": (
        _secret_shared_with_roles,
        "resource policy of",
        "/ReportingApiTokenResourcePolicy",
    ),
    "secrets-stack-template-bytes": (
        _secrets_stack_template_bytes,
        "template of",
        "Strongbox-Prod/Secrets",
    ),
}


@pytest.fixture(scope="module")
def known_breaches(tmp_path_factory: pytest.TempPathFactory) -> tuple[set[str], list[str]]:
    """(the parts the model accepts, the breaches of all of them synthesized together)."""
    config: dict[str, Any] = copy.deepcopy(default_strongbox_config())
    kept = set()
    for name, (change, _, _) in KNOWN_BREACHES.items():
        alone = copy.deepcopy(default_strongbox_config())
        change(alone)
        _fit_lists(alone)
        if accepted(alone) is None:
            change(config)
            kept.add(name)
    _fit_lists(config)
    assert accepted(config) is None, f"the parts together are refused: {accepted(config)}"
    (synthesized,) = synthesize_environments([config], tmp_path_factory.mktemp("known"))
    found, _ = breaches(synthesized.outdir)
    return kept, found


@pytest.mark.parametrize("name", list(KNOWN_BREACHES))
def test_a_known_breach_is_refused_or_fits(
    name: str, known_breaches: tuple[set[str], list[str]]
) -> None:
    kept, found = known_breaches
    _, label, resource = KNOWN_BREACHES[name]
    if name in kept:
        assert [line for line in found if resource in line and f": {label}" in line] == []
