"""The JSON Schema and the key reference, both generated from the config model: current, valid,
honoured by cdk.json, and refusing what the model refuses wherever JSON Schema can say it."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs; a test-only dependency
import pytest

from stacks.config_reference import DOCS_FILE, SCHEMA_FILE, docs_text, schema_text
from tests.conftest import ROOT, default_strongbox_config
from tests.test_config import INVALID

VALIDATOR = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))

# What the model refuses and JSON Schema cannot say: a key compared with another (a region with
# the zones, a consumer with the workload, a window with its schedule), a number inside a string
# (a rate's hours, a cron field), names that collide after a transformation, or a size computed
# from the whole environment (policies, patterns, stacks). Synth refuses each, naming the key.
SYNTH_ONLY = {
    "compares keys": {
        "replica region equal to the primary",
        "availability zone of another region",
        "availability zone lettered past any region's",
        "rotation window past midnight",
        "rotation window longer than the schedule",
        "master secret that is not a database secret",
        "hosted rotation of a replicated secret",
        "cross-account reader is the environment's own account",
        "cross-account reader role in the own account",
        "generated key also in the template",
        "secret shared with an account the key does not trust",
        "key administrator in another account",
        "vpc-endpoint-only without endpoints",
        "vpc-endpoint-only on a replicated secret",
        "secret consumer that is not the workload's",
        "consumer without a workload",
        "parameter consumer that is not the workload's",
        "database credentials that are not a secret",
        "database credentials of an api-key",
        "database credentials of another engine",
        "database credentials rotated by a master secret",
        "database credentials the service does not read",
        "function named like the service",
        "instance named like the function",
        "SecureString copy of a field that is not text at deploy time",
        "consumer misspelt",
        "database credentials misspelt",
        "wave naming a misspelt environment",
    },
    "reads a number inside a string": {
        "rotation more often than every 4 hours",
        "rotation less often than every 1000 days",
        "cron naming both day fields",
        "cron hour out of range",
        "cron day of week unknown",
    },
    "compares items of a list by a key, or after a transformation": {
        "duplicate secret name",
        "duplicate parameter name",
        "secret purposes that differ only in punctuation",
        "parameter names that differ only in punctuation",
    },
    "sizes the whole environment": {
        "cross-account readers overflowing the key policy",
        "allowed readers overflowing the alert rule's pattern",
        "more Standard parameters than Parameter Store holds",
        "role name over IAM's limit",
        "service reading more secrets than its role's policies hold",
        "parameter name over Parameter Store's length with its ARN",
        "secret shared with more roles than its resource policy holds",
        "function in a region without the extension's layer",
        "master secret of another engine",
    },
    # Tag values may hold any Unicode letter; JSON Schema's patterns have no portable class
    # for one (Python's `re`, which many validators use, has no \p{L}).
    "needs Unicode character classes": {"owner that is not a tag value"},
}


def in_cdk_json(block: Any) -> dict[str, Any]:
    return {"app": "python3 app.py", "context": {"strongbox": block}}


def test_the_committed_schema_is_generated_from_the_model() -> None:
    assert SCHEMA_FILE.read_text() == schema_text(), "stale: run `make reference` and commit"


def test_the_key_reference_in_the_docs_is_generated_from_the_model() -> None:
    current = DOCS_FILE.read_text()
    assert current == docs_text(current), "stale: run `make reference` and commit"


def test_the_schema_is_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(json.loads(SCHEMA_FILE.read_text()))


def test_cdk_json_names_the_schema_and_passes_it() -> None:
    document = json.loads((ROOT / "cdk.json").read_text())
    assert document["$schema"] == "./stacks/cdk.schema.json"
    assert list(VALIDATOR.iter_errors(document)) == []


@pytest.mark.parametrize(("name", "mutate"), [(case[0], case[1]) for case in INVALID])
def test_the_schema_refuses_each_rejected_input_it_can_express(name: str, mutate: Any) -> None:
    raw = copy.deepcopy(default_strongbox_config())
    mutate(raw)
    refused = not VALIDATOR.is_valid(in_cdk_json(raw))
    synth_only = any(name in cases for cases in SYNTH_ONLY.values())
    assert refused != synth_only, (
        f"{name!r}: the schema {'refuses' if refused else 'accepts'} it, "
        f"{'yet' if refused else 'and'} SYNTH_ONLY {'lists' if synth_only else 'does not list'} it"
    )


def test_synth_only_names_cases_that_exist() -> None:
    names = {case[0] for case in INVALID}
    listed = set().union(*SYNTH_ONLY.values())
    assert listed <= names, listed - names


def test_the_schema_checks_what_the_model_declares() -> None:
    """A few declarations, each as the schema carries it (the mutation: drop the rule)."""
    secret = VALIDATOR.schema["$defs"]["SecretConfig"]
    assert secret["required"] == ["purpose", "kind", "description", "owner", "rotation"]
    assert secret["additionalProperties"] is False
    rotation = VALIDATOR.schema["$defs"]["RotationConfig"]
    assert rotation["oneOf"] == [{"required": ["schedule"]}, {"required": ["disabled_reason"]}]
    environments = VALIDATOR.schema["$defs"]["StrongboxConfig"]["properties"]["environments"]
    assert environments["propertyNames"] == {"pattern": "^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){0,19}$"}
