"""Secrets split across Secrets stacks by template bytes too (stacks/placement.py), and the
unexpected-read rule measured with every Secrets stack's rotation functions (stacks/stage.py).
One synth: 80 secrets of the largest tags and descriptions, which by counts alone would fill a
single stack of about 2 MB, spread over stacks each under 800,000 bytes and its estimate, with
alert readers up to the rule's limit; one app run refuses readers past it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.limits import MAX_EVENT_PATTERN, breaches
from stacks.config import (
    MAX_ROLE_NAME,
    ConfigError,
    EnvironmentConfig,
    alert_pattern_size,
    parse_config,
)
from stacks.placement import (
    MAX_SECRETS_TEMPLATE_BYTES,
    PLACEMENT_FILE,
    SECRETS,
    SECRETS_STACK_BYTES,
    Shards,
    alerts_cost,
    place,
    place_secrets,
    rotation_function,
    rotation_function_cost,
    rotation_function_count,
    secret_template_bytes,
)
from strongbox.alerts import unexpected_read_pattern
from tests.conftest import (
    Synthesized,
    cdk_json_context,
    default_strongbox_config,
    run_app,
    synthesize,
)

APPLICATION = parse_config(default_strongbox_config()).application
ACCOUNT = "333333333333"
SECRETS_STACKS = ["Secrets", "Secrets2", "Secrets3"]
# The big environment synthesized, its config, the placement it should get, its functions.
Big = tuple[Synthesized, EnvironmentConfig, dict[str, str], int]


def big_secret(index: int) -> dict[str, Any]:
    """A secret as large as the model accepts it in text: 45 tags of the longest key and value,
    a description of 2,048 characters. Every fourth rotates with a token."""
    secret: dict[str, Any] = {
        "purpose": f"partner-{index:02d}-settlement-credentials",
        "kind": "api-key",
        "owner": "team-partners",
        "description": "d" * 2048,
        "tags": {f"T{tag:02d}" + "k" * 125: "v" * 256 for tag in range(45)},
        "rotation": {"disabled_reason": "Issued and rotated in the partner's portal."},
    }
    if index % 4 == 0:
        secret["rotation"] = {"schedule": "rate(30 days)"}
    return secret


def prod_with(
    secrets: list[dict[str, Any]], allowed_readers: list[str] | None = None
) -> dict[str, Any]:
    """The shipped config with `secrets` added to prod (and `allowed_readers` for its alerts)."""
    raw = copy.deepcopy(default_strongbox_config())
    prod = raw["environments"]["prod"]
    prod["secrets"] += secrets
    prod["alerts"]["allowed_readers"] = allowed_readers or []
    return raw


def recorded() -> dict[str, str]:
    return dict(json.loads(PLACEMENT_FILE.read_text())["prod"])


def estimated_bytes(environment: EnvironmentConfig, placement: dict[str, str], stack: str) -> int:
    """Placement's estimate of a Secrets stack's template: its own part, its secrets, a rotation
    function for each generation they rotate with, and the alerts in the first stack."""
    secrets = [s for s in environment.secrets if placement[s.purpose] == stack]
    functions = {rotation_function(s) for s in secrets} - {None}
    return (
        SECRETS_STACK_BYTES
        + sum(secret_template_bytes(APPLICATION, environment, s) for s in secrets)
        + len(functions) * rotation_function_cost(environment)[2]
        + (alerts_cost(environment)[2] if stack == "Secrets" else 0)
    )


def pattern_size(environment: EnvironmentConfig, functions: int) -> int:
    """The unexpected-read pattern as deployed with `functions` rotation functions, their roles'
    generated names at IAM's longest: the same list SecretsStack.expected_readers makes."""
    role = f"arn:aws:iam::{ACCOUNT}:role/"
    workload = environment.workload
    assert workload is not None
    readers = [
        *[role + "x" * MAX_ROLE_NAME] * functions,
        *(
            f"{role}strongbox/{APPLICATION}/{APPLICATION}-prod-{consumer}-{kind}"
            for _, consumer, kind in workload.reading_roles
        ),
        f"{role}cdk-hnb659fds-cfn-exec-role-{ACCOUNT}-{environment.region}",
        *environment.key_administrators,
        *environment.alerts.allowed_readers,
    ]
    prefix = f"prod/{APPLICATION}/"
    arn_prefixes = [
        f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:{prefix}"
        for region in environment.regions
    ]
    return len(
        json.dumps(unexpected_read_pattern(prefix, arn_prefixes, readers), separators=(",", ":"))
    )


def readers_up_to(secrets: list[dict[str, Any]], functions: int, limit: int) -> list[str]:
    """As many alert readers as keep the pattern, with `functions` rotation functions, within
    `limit` characters."""
    readers: list[str] = []
    while True:
        more = [*readers, f"arn:aws:iam::{ACCOUNT}:role/auditor-{len(readers):02d}"]
        try:
            environment = parse_config(prod_with(secrets, more)).environment("prod")
        except ConfigError:  # over the limit with config's count of functions
            return readers
        if pattern_size(environment, functions) > limit:
            return readers
        readers = more


# ---------------------------------------------------------------------------------------------
# Placement by bytes.


def test_big_secrets_split_by_template_bytes() -> None:
    """80 big secrets: by counts alone (80 secrets, 4 resources each at most) they would share
    one stack of about 2 MB; by bytes each stack stays within 800,000 with its functions and
    alerts, and the byte room, not the count, is what fills them."""
    secrets = [big_secret(index) for index in range(80)]
    environment = parse_config(prod_with(secrets)).environment("prod")
    placement = place_secrets(APPLICATION, environment, recorded())
    stacks = SECRETS.order(placement)
    by_counts = place(environment.secrets, recorded())

    assert stacks == SECRETS_STACKS
    assert SECRETS.order(by_counts) == ["Secrets", "Secrets2"]  # 85 secrets, 80 to a stack
    for stack in stacks:
        assert estimated_bytes(environment, placement, stack) <= MAX_SECRETS_TEMPLATE_BYTES
    smallest = min(
        secret_template_bytes(APPLICATION, environment, s)
        for s in environment.secrets
        if s.purpose.startswith("partner-")
    )
    for stack in stacks[:-1]:
        members = [p for p, placed in placement.items() if placed == stack]
        assert len(members) < 40
        assert (
            estimated_bytes(environment, placement, stack) + smallest > MAX_SECRETS_TEMPLATE_BYTES
        )
    # The shipped five stay where they are recorded.
    assert {purpose: placement[purpose] for purpose in recorded()} == recorded()


def test_recorded_secrets_stay_past_the_byte_room() -> None:
    """A recorded placement is kept even where today's byte room would not take it; new secrets
    go where there is room."""
    secrets = [big_secret(index) for index in range(40)]
    environment = parse_config(prod_with(secrets)).environment("prod")
    everything_first = {s.purpose: "Secrets" for s in environment.secrets[:-1]}
    placement = place_secrets(APPLICATION, environment, everything_first)

    assert {purpose: placement[purpose] for purpose in everything_first} == everything_first
    assert estimated_bytes(environment, placement, "Secrets") > MAX_SECRETS_TEMPLATE_BYTES
    assert placement[environment.secrets[-1].purpose] == "Secrets2"


def test_a_stack_pays_for_a_shared_function_once_and_the_first_for_its_reserve() -> None:
    """a, b and d share a group (a rotation function) costing 30 in each stack that holds one of
    them; the first stack holds 45 besides its items (the alerts)."""
    shards = Shards("Things", (10, 100), PLACEMENT_FILE, kind="thing", key="name")
    costs = {name: (1, 10) for name in "abcd"}
    shared = {name: ("g", (0, 30)) for name in "abd"}

    assert shards.place(costs, {}, shared=shared) == dict.fromkeys("abcd", "Things")
    # Things: 45 + a (10 + 30) + b (10) = 95, so c (10) goes to Things2, and d there pays for
    # the group again (10 + 30).
    assert shards.place(costs, {}, shared=shared, reserved=(0, 45)) == {
        "a": "Things",
        "b": "Things",
        "c": "Things2",
        "d": "Things2",
    }


def test_rotation_functions_are_counted_per_stack() -> None:
    """Two token-rotated secrets of one generation: one function in one stack, two when they are
    recorded in two stacks (the rule names both roles); config counts one either way."""
    environment = parse_config(prod_with([extra_signing_key()])).environment("prod")
    by_purpose = {s.purpose: s for s in environment.secrets}
    apart = {**recorded(), "extra-signing-key": "Secrets2"}

    assert rotation_function(by_purpose["extra-signing-key"]) is not None
    assert rotation_function(by_purpose["extra-signing-key"]) == rotation_function(
        by_purpose["session-signing-key"]
    )
    assert rotation_function(by_purpose["stripe-api-key"]) is None
    assert rotation_function_count(APPLICATION, environment, recorded()) == 1
    assert rotation_function_count(APPLICATION, environment, apart) == 2
    assert pattern_size(environment, 1) == alert_pattern_size(APPLICATION, environment)[0]


def extra_signing_key() -> dict[str, Any]:
    """A token-rotated secret generated like the shipped session-signing-key."""
    return {**big_secret(0), "purpose": "extra-signing-key", "generation": {"length": 64}}


# ---------------------------------------------------------------------------------------------
# One synth: 80 big secrets (every fourth token-rotated, so each Secrets stack has a rotation
# function) in prod, with alert readers up to the rule's limit counting every function.

BIG = [big_secret(index) for index in range(80)]


@pytest.fixture(scope="module")
def big(
    tmp_path_factory: pytest.TempPathFactory,
) -> Big:
    """The environment synthesized as app.py builds it (compliance packs on, the shipped
    secret-placement.json read), its config, the placement it should get and its functions."""
    environment = parse_config(prod_with(BIG)).environment("prod")
    functions = rotation_function_count(APPLICATION, environment, recorded())
    context = cdk_json_context()
    context["env"] = "prod"
    context["strongbox"] = prod_with(BIG, readers_up_to(BIG, functions, MAX_EVENT_PATTERN))
    environment = parse_config(context["strongbox"]).environment("prod")
    synthesized = synthesize(context, tmp_path_factory.mktemp("secrets"))
    return synthesized, environment, place_secrets(APPLICATION, environment, recorded()), functions


def test_every_secret_is_in_the_stack_placement_gives_it(
    big: Big,
) -> None:
    synthesized, _, placement, _ = big
    found = {
        resource["Properties"]["Name"].removeprefix(f"prod/{APPLICATION}/"): name.split("/")[1]
        for name, stack in synthesized.stacks.items()
        for resource in stack.resources("AWS::SecretsManager::Secret").values()
    }

    assert synthesized.synth_error is None
    assert found == placement
    assert SECRETS.order(placement) == SECRETS_STACKS


def test_each_secrets_stack_stays_inside_its_limits_and_estimate(
    big: Big,
) -> None:
    """Every limit benchmarks/limits.py checks (templates under 1 MB among them), and each
    Secrets stack's template no larger than placement's estimate, which keeps it under 800,000
    bytes, nor smaller than 0.8 of it (the estimate is an upper bound, not a guess)."""
    synthesized, environment, placement, _ = big
    problems, figures = breaches(synthesized.outdir)

    assert problems == []
    for stack in SECRETS_STACKS:
        real = figures[f"Strongbox-Prod/{stack}"]["template bytes"]
        estimate = estimated_bytes(environment, placement, stack)
        assert real <= estimate <= MAX_SECRETS_TEMPLATE_BYTES, stack
        assert estimate <= 1.25 * real, stack


def test_the_read_rule_names_every_stacks_functions_within_its_limit(
    big: Big,
) -> None:
    """The rule lists a rotation function's role for each stack that rotates with a token (four
    here, where config counts two generations), and the readers accepted fill it to within one
    reader of EventBridge's 2,048 characters."""
    synthesized, environment, _, functions = big
    _, figures = breaches(synthesized.outdir)
    rotation_roles = [
        logical_id
        for stack in synthesized.stacks.values()
        for logical_id in stack.resources("AWS::IAM::Role")
        if logical_id.startswith("TokenRotation")
    ]

    assert functions == len(rotation_roles) == 4
    assert figures["Strongbox-Prod/Secrets"]["event pattern"] == pattern_size(
        environment, functions
    )
    assert MAX_EVENT_PATTERN - 50 < pattern_size(environment, functions) <= MAX_EVENT_PATTERN
    assert alert_pattern_size(APPLICATION, environment)[0] == pattern_size(environment, functions)


# ---------------------------------------------------------------------------------------------
# The refusal: readers config accepts that overflow the rule once each stack's function counts.


def test_app_py_refuses_alert_readers_past_the_rule_with_two_stacks_of_functions(
    tmp_path: Path,
) -> None:
    """session-signing-key rotates in Secrets and extra-signing-key, of the same generation, in
    Secrets2 (recorded there): two functions, where config counts one. Readers that config's
    count fits but the real one does not: app.py exits 2 with one line naming the readers."""
    extra = extra_signing_key()
    readers = readers_up_to([extra], 1, MAX_EVENT_PATTERN)
    config = prod_with([extra], readers)
    environment = parse_config(config).environment("prod")  # config accepts them
    context = cdk_json_context()
    context.update(
        env="prod",
        strongbox=config,
        **{"strongbox-placement": {"prod": {**recorded(), "extra-signing-key": "Secrets2"}}},
    )
    outdir = tmp_path / "cdk.out"

    result = run_app(context, outdir)

    assert alert_pattern_size(APPLICATION, environment)[0] <= MAX_EVENT_PATTERN
    assert pattern_size(environment, 2) > MAX_EVENT_PATTERN
    workload = environment.workload
    assert workload is not None
    roles = 2 + len(workload.reading_roles) + 1 + len(environment.key_administrators) + len(readers)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        "strongbox: invalid configuration: environments.prod.alerts.allowed_readers: the "
        f"unexpected-read rule would name {roles} roles (2 of them rotation functions, one a "
        "generation in each of 2 Secrets stacks) in a pattern of "
        f"{pattern_size(environment, 2):,} characters, over EventBridge's 2,048; list fewer "
        "roles (or raise the quota and the limit together)"
    ]
    assert sorted(outdir.iterdir()) == []
