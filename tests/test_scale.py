"""Scale: secrets spread over as many Secrets stacks as needed, placed once and never moved, and
a 1,000-secret environment inside every CloudFormation and IAM limit, with the packs passing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from benchmarks.large_config import large_config
from benchmarks.limits import breaches
from stacks.config import ConfigError, SecretConfig, parse_config
from stacks.placement import (
    MAX_SECRETS_PER_STACK,
    PLACEMENT_FILE,
    parse_recorded,
    place,
    resource_cost,
    stack_order,
)
from tests.conftest import Synthesized, cdk_json_context, default_strongbox_config, synthesize
from tests.test_compliance import cfn_lint_findings

SHIPPED = parse_config(default_strongbox_config())


def generated(count: int) -> tuple[SecretConfig, ...]:
    return parse_config(large_config(count)).environment("prod").secrets


def test_the_shipped_placement_is_recorded() -> None:
    recorded = json.loads(PLACEMENT_FILE.read_text())
    for environment in SHIPPED.environments:
        assert recorded[environment.name] == place(environment.secrets, {}), (
            "secret-placement.json is stale: run `make place` and commit it"
        )
        assert set(recorded[environment.name].values()) == {"Secrets"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not json", "strongbox-placement: is not valid JSON: Expecting value"),
        ("[]", "strongbox-placement: must be an object: environment -> secret purpose -> stack id"),
        ({"dev": 5}, "strongbox-placement.dev: must be an object: purpose -> stack id"),
        (
            {"dev": {"db-credentials": "Foo"}},
            "strongbox-placement.dev.db-credentials: 'Foo' is not allowed; expected Secrets, "
            "Secrets2, Secrets3, ...",
        ),
        (
            '{"dev": {"db-credentials": "Secrets1"}}',
            "strongbox-placement.dev.db-credentials: 'Secrets1' is not allowed; expected Secrets, "
            "Secrets2, Secrets3, ...",
        ),
    ],
    ids=["not-json", "list", "environment-not-object", "unknown-stack", "secrets1"],
)
def test_a_bad_recorded_placement_names_the_entry(value: Any, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_recorded(value, "strongbox-placement")
    assert str(error.value).startswith(message), str(error.value)


def test_a_large_environment_fills_stacks_within_their_room() -> None:
    secrets = generated(1000)
    placement = place(secrets, {})
    stacks = stack_order(placement)
    by_purpose = {s.purpose: s for s in secrets}

    assert len(stacks) >= len(secrets) // MAX_SECRETS_PER_STACK
    assert stacks[:3] == ["Secrets", "Secrets2", "Secrets3"]
    for stack in stacks:
        members = [p for p, s in placement.items() if s == stack]
        assert 0 < len(members) <= MAX_SECRETS_PER_STACK
        assert sum(resource_cost(by_purpose[p]) for p in members) <= 400


def test_new_secrets_never_move_recorded_ones() -> None:
    """Secrets inserted anywhere in the list, and some removed: every recorded secret stays."""
    before = list(generated(400))
    recorded = place(before, {})
    extra = list(generated(460))[400:]
    after = before[:10] + extra[:20] + before[10:200] + extra[20:] + before[205:]
    placement = place(after, recorded)

    for secret in after:
        if secret.purpose in recorded:
            assert placement[secret.purpose] == recorded[secret.purpose], secret.purpose
    removed = {s.purpose for s in before[200:205]}
    assert not removed & set(placement)
    # The five removed secrets made room: new ones fill it before a new stack is opened.
    freed = {recorded[p] for p in removed}
    assert any(placement[s.purpose] in freed for s in extra)


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    context = cdk_json_context()
    context["strongbox"] = large_config(1000)
    return synthesize(context, tmp_path_factory.mktemp("large"))


def test_a_thousand_secrets_stay_inside_every_limit(large: Synthesized) -> None:
    problems, figures = breaches(large.outdir)

    assert problems == []
    secrets_stacks = [name for name in figures if "/Secrets" in name]
    assert len(secrets_stacks) >= 12
    # The figures the limits are about, so a regression shows its size.
    assert max(f["resources"] for f in figures.values()) <= 300
    assert max(f.get("managed policy", 0) for f in figures.values()) <= 6144


def test_a_thousand_secrets_pass_the_packs_and_cfn_lint(large: Synthesized) -> None:
    """The packs run over every stack. cfn-lint runs over every stack but the Secrets shards
    between the first and the last: they are the same code over other secrets of the same
    three kinds, and their sizes are held to CloudFormation's limits by the test above."""
    shards = sorted(
        (name for name in large.stacks if name.split("/")[1].startswith("Secrets")),
        key=lambda name: int(name.split("/Secrets")[1] or 1),
    )
    linted = [name for name in large.stacks if name not in shards[1:-1]]

    assert large.synth_error is None
    assert large.findings() == []
    assert len(shards) >= 12 and {shards[0], shards[-1]} <= set(linted)
    assert cfn_lint_findings(large, linted) == []


def test_every_secret_lands_in_the_stack_placement_gives_it(large: Synthesized) -> None:
    placement = place(generated(1000), json.loads(PLACEMENT_FILE.read_text())["prod"])
    found: dict[str, str] = {}
    for name, stack in large.stacks.items():
        for resource in stack.resources("AWS::SecretsManager::Secret").values():
            purpose = resource["Properties"]["Name"].removeprefix("prod/payments/")
            found[purpose] = name.split("/")[1]
    assert found == placement


def test_the_service_reads_its_255_secrets_through_split_policies(
    large: Synthesized,
) -> None:
    workload = large.stack("Strongbox-Prod/Workload")
    policies = [
        r["Properties"]["PolicyDocument"]
        for logical_id, r in workload.resources("AWS::IAM::ManagedPolicy").items()
        if logical_id.startswith("SecretsPolicy")
    ]
    arns: list[Any] = [
        resource
        for document in policies
        for statement in document["Statement"]
        if statement["Action"] == "secretsmanager:GetSecretValue"
        for resource in statement["Resource"]
    ]
    assert len(policies) > 1
    read_by_service = [s for s in generated(1000) if "api" in s.consumers]
    assert len(read_by_service) == 250 + 5  # every fourth generated secret, the shipped five
    assert len(arns) == len(read_by_service)
    assert len({json.dumps(a) for a in arns}) == len(arns)
