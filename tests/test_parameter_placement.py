"""Parameters spread over as many Parameters stacks as they need, placed once and never moved
(stacks/placement.py), bounded only by Parameter Store's quota (stacks/config.py); and an
environment of 630 parameters synthesized into three Parameters stacks, each inside its limits,
a consumer reading from the second and third, the call-path proof passing."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any, cast

import pytest

from benchmarks.limits import MAX_RESOURCES, breaches
from stacks.config import (
    MAX_PARAMETERS_BY_TIER,
    ConfigError,
    EnvironmentConfig,
    Refusal,
    _check_parameters_stack,
    parse_config,
)
from stacks.placement import (
    MAX_PARAMETERS_PER_STACK,
    PARAMETER_PLACEMENT_FILE,
    PARAMETERS,
    PARAMETERS_STACK_BYTES,
    PROVIDER_POLICY_CHARACTERS,
    Shards,
    parameter_cost,
    place_parameters,
)
from strongbox.access.proof import check
from tests.conftest import Synthesized, cdk_json_context, default_strongbox_config, synthesize

SHIPPED = parse_config(default_strongbox_config())
BYTES, POLICY = 1, 2  # the measures of a parameter's cost, after its one resource


def strings(count: int, prefix: str = "bulk/setting", value: str = "on") -> list[dict[str, Any]]:
    return [
        {"name": f"{prefix}-{index:04d}", "type": "String", "value": value}
        for index in range(count)
    ]


def secure_strings(count: int, prefix: str = "salts/salt") -> list[dict[str, Any]]:
    return [
        {
            "name": f"{prefix}-{index:02d}",
            "type": "SecureString",
            "source": {"generate": {"length": 32, "exclude_punctuation": True}},
        }
        for index in range(count)
    ]


def prod_with(parameters: list[dict[str, Any]]) -> EnvironmentConfig:
    """The shipped prod environment with `parameters` instead of its own."""
    raw = copy.deepcopy(default_strongbox_config())
    raw["environments"]["prod"]["parameters"] = parameters
    return parse_config(raw).environment("prod")


def place(environment: EnvironmentConfig, recorded: dict[str, str] | None = None) -> dict[str, str]:
    return place_parameters(SHIPPED.application, environment, recorded or {})


def members(placement: dict[str, str], stack: str) -> list[str]:
    return [name for name, placed in placement.items() if placed == stack]


def totals(environment: EnvironmentConfig, names: Sequence[str]) -> list[int]:
    """The sums of `names`' costs, one per measure."""
    costs = {
        p.name: parameter_cost(SHIPPED.application, environment, p) for p in environment.parameters
    }
    return [sum(costs[name][measure] for name in names) for measure in range(3)]


def test_the_shipped_parameter_placement_is_recorded() -> None:
    recorded = json.loads(PARAMETER_PLACEMENT_FILE.read_text())
    assert set(recorded) == {environment.name for environment in SHIPPED.environments}
    for environment in SHIPPED.environments:
        assert recorded[environment.name] == place(environment), (
            "parameter-placement.json is stale: run `make place` and commit it"
        )
        assert set(recorded[environment.name].values()) == {"Parameters"}


def test_a_stack_holds_at_most_its_room_of_parameters() -> None:
    environment = prod_with(strings(1_000))
    placement = place(environment)

    assert PARAMETERS.order(placement) == ["Parameters", "Parameters2", "Parameters3"]
    counts = [len(members(placement, stack)) for stack in PARAMETERS.order(placement)]
    assert counts == [MAX_PARAMETERS_PER_STACK, MAX_PARAMETERS_PER_STACK, 1_000 - 960]
    # First fit in sorted order: the first stack holds the first names.
    assert (
        members(placement, "Parameters")
        == sorted(p.name for p in environment.parameters)[:MAX_PARAMETERS_PER_STACK]
    )


def test_large_values_split_by_template_bytes() -> None:
    """150 values of 8,000 bytes: far fewer than 480 parameters, but about 1.2 MB."""
    big = [{**p, "tier": "Advanced"} for p in strings(150, "big/value", "v" * 8_000)]
    environment = prod_with(big)
    placement = place(environment)
    stacks = PARAMETERS.order(placement)

    assert len(stacks) == 2
    for stack in stacks:
        assert len(members(placement, stack)) < MAX_PARAMETERS_PER_STACK
        assert totals(environment, members(placement, stack))[BYTES] <= PARAMETERS.room[BYTES]
    assert totals(environment, members(placement, "Parameters"))[BYTES] > 700_000


def test_secure_strings_split_by_the_provider_policy() -> None:
    """80 SecureStrings: their ARNs, twice each, overflow one provider's 6,144-character policy."""
    environment = prod_with(secure_strings(80))
    placement = place(environment)
    stacks = PARAMETERS.order(placement)

    assert len(stacks) >= 3
    for stack in stacks:
        names = members(placement, stack)
        assert PROVIDER_POLICY_CHARACTERS + totals(environment, names)[POLICY] <= 6_144 - 600
        assert totals(environment, names)[BYTES] < 100_000


def test_new_parameters_never_move_recorded_ones() -> None:
    """New parameters inserted anywhere, named to sort before, among and after the recorded
    ones, and some removed: every recorded parameter stays; the room the removed ones leave is
    filled first."""
    before = strings(1_000)
    recorded = place(prod_with(before))
    new = [
        *strings(20, "aaa/first"),
        *strings(20, "bulk/setting-0100-new"),
        *strings(20, "zzz/last"),
    ]
    removed = [p["name"] for p in before[100:110]]  # all in Parameters
    after = before[:50] + new[:30] + before[50:100] + new[30:] + before[110:]
    placement = place(prod_with(after), recorded)

    for parameter in after:
        if parameter["name"] in recorded:
            assert placement[parameter["name"]] == recorded[parameter["name"]], parameter["name"]
    assert not set(removed) & set(placement)
    assert {recorded[name] for name in removed} == {"Parameters"}
    # Sorted order: the ten first new names fill the ten freed places of the first stack.
    first_new = sorted(p["name"] for p in new)[:10]
    assert [placement[name] for name in first_new] == ["Parameters"] * 10
    assert len(members(placement, "Parameters")) == MAX_PARAMETERS_PER_STACK


def test_recorded_parameters_stay_where_they_are_past_the_room() -> None:
    """A recorded placement is kept as it is, even a stack fuller than today's room (or a gap in
    the numbering): moving a parameter would replace it."""
    environment = prod_with(strings(500))
    names = sorted(p.name for p in environment.parameters)
    recorded = {name: "Parameters" for name in names[:490]} | {
        name: "Parameters3" for name in names[490:495]
    }
    placement = place(environment, recorded)

    assert {name: placement[name] for name in recorded} == recorded
    assert {placement[name] for name in names[495:]} == {"Parameters2"}
    assert PARAMETERS.order(placement) == ["Parameters", "Parameters2", "Parameters3"]


def test_an_empty_stack_takes_an_item_larger_than_its_room() -> None:
    shards = Shards("Things", (2, 10), PARAMETER_PLACEMENT_FILE, kind="thing", key="name")
    placement = shards.place({"a": (1, 4), "b": (1, 50), "c": (1, 4), "d": (1, 4)}, {})
    assert placement == {"a": "Things", "b": "Things2", "c": "Things", "d": "Things3"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "[]",
            "strongbox-parameter-placement: must be an object: environment -> parameter name -> "
            "stack id",
        ),
        ({"dev": []}, "strongbox-parameter-placement.dev: must be an object: name -> stack id"),
        (
            {"dev": {"log-level": "Secrets"}},
            "strongbox-parameter-placement.dev.log-level: 'Secrets' is not allowed; expected "
            "Parameters, Parameters2, Parameters3, ...",
        ),
        (
            '{"dev": {"log-level": "Parameters1"}}',
            "strongbox-parameter-placement.dev.log-level: 'Parameters1' is not allowed; expected "
            "Parameters, Parameters2, Parameters3, ...",
        ),
    ],
    ids=["list", "environment-not-object", "a-secrets-stack", "parameters1"],
)
def test_a_bad_recorded_parameter_placement_names_the_entry(value: Any, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        PARAMETERS.parse_recorded(value, "strongbox-parameter-placement")
    assert str(error.value) == message


@pytest.mark.parametrize("tier", list(MAX_PARAMETERS_BY_TIER))
def test_parameter_store_holds_its_quota_of_each_tier_and_no_more(tier: str) -> None:
    """The check counts by tier; one parameter stands in for a quota's worth (parsing 100,000
    takes a minute). tests/test_config.py shows the Standard refusal through parse_config."""
    quota = MAX_PARAMETERS_BY_TIER[tier]
    environment = prod_with([{**strings(1)[0], "tier": tier}])

    def with_count(count: int) -> EnvironmentConfig:
        stand_in = SimpleNamespace(name="prod", parameters=environment.parameters * count)
        return cast(EnvironmentConfig, stand_in)

    _check_parameters_stack(SHIPPED.application, with_count(quota))
    with pytest.raises(Refusal) as refusal:
        _check_parameters_stack(SHIPPED.application, with_count(quota + 1))
    assert refusal.value.at == "environments.prod.parameters"
    assert refusal.value.reason.startswith(
        f"{quota + 1:,} parameters of the {tier} tier, over the {quota:,} Parameter Store holds "
        "in one account and region"
    )


# The synthesized environment: the shipped prod (its three parameters recorded in Parameters)
# with 600 Strings, 480 - 3 of which fill Parameters and the rest go to Parameters2, and 30
# SecureStrings, which fill Parameters2's provider policy and overflow into Parameters3. The
# service reads one String of Parameters2 and one SecureString of Parameters3.
READ_STRING, READ_SECURE_STRING = "bulk/setting-0599", "salts/salt-29"
PARAMETERS_STACKS = ["Parameters", "Parameters2", "Parameters3"]


def large_context() -> dict[str, Any]:
    context = cdk_json_context()
    context["env"] = "prod"
    prod = context["strongbox"]["environments"]["prod"]
    prod["parameters"] += strings(600) + secure_strings(30)
    for parameter in prod["parameters"]:
        if parameter["name"] in (READ_STRING, READ_SECURE_STRING):
            parameter["consumers"] = ["api"]
    return context


@pytest.fixture(scope="module")
def large(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Synthesized, EnvironmentConfig, dict[str, str]]:
    """The environment synthesized as app.py builds it (compliance packs on, the shipped
    parameter-placement.json read), its config and the placement it should get."""
    context = large_context()
    environment = parse_config(context["strongbox"]).environment("prod")
    recorded = json.loads(PARAMETER_PLACEMENT_FILE.read_text())["prod"]
    synthesized = synthesize(context, tmp_path_factory.mktemp("parameters"))
    return synthesized, environment, place(environment, recorded)


def parameters_in(stack: Any) -> list[str]:
    """The names (below /payments/prod/) of the parameters a synthesized stack creates."""
    names = [
        *(r["Properties"]["Name"] for r in stack.resources("AWS::SSM::Parameter").values()),
        *(
            r["Properties"]["ParameterName"]
            for r in stack.resources("Custom::SecureStringParameter").values()
        ),
    ]
    return [name.removeprefix("/payments/prod/") for name in names]


def test_every_parameter_is_in_exactly_the_stack_placement_gives_it(
    large: tuple[Synthesized, EnvironmentConfig, dict[str, str]],
) -> None:
    synthesized, environment, placement = large
    stacks = sorted(
        (name.split("/")[1] for name in synthesized.stacks if "/Parameters" in name),
        key=lambda stack: int(stack.removeprefix("Parameters") or 1),
    )
    found = [
        (name, stack)
        for stack in stacks
        for name in parameters_in(synthesized.stack(f"Strongbox-Prod/{stack}"))
    ]

    assert stacks == PARAMETERS.order(placement) == PARAMETERS_STACKS
    assert len(found) == len({name for name, _ in found}) == len(environment.parameters)
    assert dict(found) == placement
    assert placement[READ_STRING] == "Parameters2"
    assert placement[READ_SECURE_STRING] == "Parameters3"


def test_each_parameters_stack_stays_inside_its_limits_and_estimates(
    large: tuple[Synthesized, EnvironmentConfig, dict[str, str]],
) -> None:
    """Every limit benchmarks/limits.py checks, and each stack's template and provider policy
    no larger than placement's estimate of them (which keeps them under 800,000 bytes and
    6,144 characters)."""
    synthesized, environment, placement = large
    problems, figures = breaches(synthesized.outdir)

    assert problems == []
    for stack in PARAMETERS_STACKS:
        figure = figures[f"Strongbox-Prod/{stack}"]
        _, estimated_bytes, estimated_policy = totals(environment, members(placement, stack))
        assert figure["resources"] <= MAX_RESOURCES
        assert figure["template bytes"] <= PARAMETERS_STACK_BYTES + estimated_bytes
        assert figure["managed policy"] <= PROVIDER_POLICY_CHARACTERS + estimated_policy


def test_the_service_reads_parameters_of_other_stacks_after_they_deploy(
    large: tuple[Synthesized, EnvironmentConfig, dict[str, str]],
) -> None:
    synthesized, _, _ = large
    workload = synthesized.stack("Strongbox-Prod/Workload")
    statements = [
        statement
        for logical_id, policy in workload.resources("AWS::IAM::ManagedPolicy").items()
        if logical_id.startswith("SecretsPolicy")
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    (reads,) = [s for s in statements if s["Action"] == ["ssm:GetParameter", "ssm:GetParameters"]]
    decrypts = [
        s
        for s in statements
        if s["Action"] == "kms:Decrypt"
        and s["Condition"]["StringEquals"]["kms:ViaService"] == "ssm.eu-west-1.amazonaws.com"
    ]
    prefix = "arn:aws:ssm:eu-west-1:333333333333:parameter/payments/prod/"
    read = sorted(arn.removeprefix(prefix) for arn in reads["Resource"])
    depends_on = {
        synthesized.stack(f"Strongbox-Prod/{stack}").artifact_id for stack in PARAMETERS_STACKS
    }

    assert read == sorted(
        [READ_STRING, READ_SECURE_STRING, "feature-flags", "log-level", "session/cookie-salt"]
    )
    assert len(decrypts) == 1  # the SecureStrings' key, through Parameter Store only
    assert depends_on <= set(workload.dependencies)


def test_the_packs_and_the_call_path_proof_pass(
    large: tuple[Synthesized, EnvironmentConfig, dict[str, str]],
) -> None:
    synthesized, _, _ = large
    proof = check(synthesized.outdir)

    assert synthesized.synth_error is None
    assert synthesized.findings() == []
    assert proof.ok, "\n".join(proof.failures())
