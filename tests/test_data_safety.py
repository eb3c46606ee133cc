"""No data loss: stateful resources are retained outside dev, their logical ids are pinned, stacks
outside dev are termination-protected, and changing what is not identity replaces nothing."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stacks.config import parse_config
from tests.conftest import (
    ROOT,
    Synthesized,
    cdk_json_context,
    default_strongbox_config,
    synthesize_all,
)

CONFIG = parse_config(default_strongbox_config())
PINS_FILE = ROOT / "tests" / "stateful_resources.json"
# Resources whose loss loses data (or keys to it), and the properties whose change makes
# CloudFormation replace them (AWS resource reference, "Update requires: Replacement").
REPLACED_BY: dict[str, tuple[str, ...]] = {
    "AWS::KMS::Key": ("KeySpec", "KeyUsage", "MultiRegion"),
    "AWS::KMS::ReplicaKey": ("PrimaryKeyArn",),
    "AWS::SecretsManager::Secret": ("Name",),
    "AWS::RDS::DBInstance": (
        "DBInstanceIdentifier",
        "DBName",
        "Engine",
        "KmsKeyId",
        "MasterUsername",
        "StorageEncrypted",
    ),
    "AWS::Logs::LogGroup": ("LogGroupName",),
    "Custom::SecureStringParameter": ("ParameterName",),
}
MIGRATE = (
    "renaming or moving a stateful resource replaces it (a new key, secret, database or log "
    "group; the old one retained or deleted). Restore the construct id, or migrate deliberately: "
    "README, 'Logical ids'. If the change is intended, rerun with STRONGBOX_PIN_UPDATE=1 and "
    "commit tests/stateful_resources.json with the reason."
)


def stateful(synthesized: Synthesized) -> dict[str, dict[str, str]]:
    """Stack -> logical id -> type, for every stateful resource of the assembly."""
    return {
        name: {
            logical_id: resource["Type"]
            for logical_id, resource in sorted(stack.template["Resources"].items())
            if resource["Type"] in REPLACED_BY
        }
        for name, stack in sorted(synthesized.stacks.items())
    }


def test_stateful_logical_ids_are_pinned(synthesized: Synthesized) -> None:
    current = stateful(synthesized)
    if os.environ.get("STRONGBOX_PIN_UPDATE") == "1":
        PINS_FILE.write_text(json.dumps(current, indent=2) + "\n")
    pinned = json.loads(PINS_FILE.read_text())
    for stack_name in sorted(set(pinned) | set(current)):
        assert current.get(stack_name) == pinned.get(stack_name), f"{stack_name}: {MIGRATE}"


@pytest.mark.parametrize("name", [e.name for e in CONFIG.environments])
def test_stateful_resources_outlive_their_stacks_outside_dev(
    synthesized: Synthesized, name: str
) -> None:
    environment = CONFIG.environment(name)
    policy = "Delete" if environment.is_development else "Retain"
    count = 0
    for stack_name, stack in synthesized.stacks.items():
        if not stack_name.startswith(f"{environment.stage_name}/"):
            continue
        for logical_id, resource in stack.template["Resources"].items():
            if resource["Type"] in REPLACED_BY:
                count += 1
                assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == (
                    policy,
                    policy,
                ), f"{stack_name}/{logical_id}"
            if resource["Type"] == "AWS::KMS::Key":
                assert resource["Properties"]["PendingWindowInDays"] == (
                    7 if environment.is_development else 30
                )
    assert count >= 10, "keys, secrets, the database, log groups and SecureStrings"


def test_stacks_outside_dev_are_termination_protected(synthesized: Synthesized) -> None:
    protected: dict[str, bool] = {}
    for stage in Path(synthesized.outdir).glob("assembly-*"):
        manifest = json.loads((stage / "manifest.json").read_text())
        for artifact in manifest["artifacts"].values():
            if artifact["type"] == "aws:cloudformation:stack":
                properties = artifact["properties"]
                protected[artifact["displayName"]] = properties.get("terminationProtection", False)
    assert len(protected) == len(synthesized.stacks)
    for stack_name, is_protected in protected.items():
        assert is_protected is (not stack_name.startswith("Strongbox-Dev/")), stack_name


def _staging(raw: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = raw["environments"]["staging"]
    return body


def _describe(raw: dict[str, Any]) -> None:
    for secret in _staging(raw)["secrets"]:
        secret["description"] += " (reviewed 2026-11)"
    for parameter in _staging(raw)["parameters"]:
        parameter["description"] = "Reviewed"


def _tag(raw: dict[str, Any]) -> None:
    for secret in _staging(raw)["secrets"]:
        secret["tags"] = {"CostCenter": "cc-1234", "DataClass": "confidential"}


def _reschedule(raw: dict[str, Any]) -> None:
    for secret in _staging(raw)["secrets"]:
        rotation = secret["rotation"]
        if "schedule" in rotation:
            rotation["schedule"] = "cron(0 4 ? * SUN *)"
            rotation["window"] = "2h"


def _replicate(raw: dict[str, Any]) -> None:
    _staging(raw)["replica_regions"] = ["eu-central-1"]
    # As in prod: hosted rotation cannot reach a replica, so the database secret stays put.
    for secret in _staging(raw)["secrets"]:
        if secret["kind"] == "database":
            secret["replicate"] = False


def _resize(raw: dict[str, Any]) -> None:
    workload = _staging(raw)["workload"]
    workload["desired_count"] = 3
    workload["database"]["instance_type"] = "t4g.small"


CHANGES: dict[str, Callable[[dict[str, Any]], None]] = {
    "descriptions": _describe,
    "tags": _tag,
    "rotation schedules": _reschedule,
    "replica region added": _replicate,
    "service and database size": _resize,
}


def replacement_view(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    """`stack/logical id` -> type and the values of its replacement-triggering properties."""
    return {
        f"{name}/{logical_id}": {
            "Type": resource["Type"],
            **{key: resource["Properties"].get(key) for key in REPLACED_BY[resource["Type"]]},
        }
        for name, stack in synthesized.stacks.items()
        for logical_id, resource in stack.template["Resources"].items()
        if resource["Type"] in REPLACED_BY
    }


@pytest.fixture(scope="module")
def staging_before(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    """Staging's stateful resources in the shared synth of the shipped app. The changed synths
    narrow to staging (`-c env=staging`), so a difference that narrowing made would fail the
    test as well: no way of building staging may replace a stateful resource."""
    return {
        resource: identity
        for resource, identity in replacement_view(synthesized).items()
        if resource.startswith("Strongbox-Staging/")
    }


@pytest.fixture(scope="module")
def staging_changed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Synthesized]:
    """Staging synthesized once with each change (`-c env=staging`), in one interpreter."""
    jobs = []
    for change in CHANGES:
        context = cdk_json_context()
        context["strongbox"] = copy.deepcopy(context["strongbox"])
        CHANGES[change](context["strongbox"])
        context["env"] = "staging"
        jobs.append((context, tmp_path_factory.mktemp("changed")))
    return dict(zip(CHANGES, synthesize_all(jobs), strict=True))


@pytest.mark.parametrize("change", list(CHANGES))
def test_changing_what_is_not_identity_replaces_nothing(
    staging_before: dict[str, dict[str, Any]],
    staging_changed: dict[str, Synthesized],
    change: str,
) -> None:
    changed = staging_changed[change]

    assert changed.synth_error is None, changed.synth_error
    assert changed.findings() == []
    after = replacement_view(changed)
    for resource, identity in staging_before.items():
        assert after.get(resource) == identity, f"{change} would replace {resource}"
    assert len(staging_before) >= 8
