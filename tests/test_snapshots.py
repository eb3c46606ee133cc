"""Snapshots of every stack; regenerate (--snapshot-update) only in a commit that says why."""

from __future__ import annotations

from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension
from syrupy.matchers import path_type

from tests.conftest import Synthesized, expected_stacks

STACKS = expected_stacks()

# Asset hashes and the CDK analytics blob change with every aws-cdk-lib release, not with our code.
VOLATILE = path_type(
    {r".*\.S3Key": (str,), r"Resources\.CDKMetadata\.Properties\.Analytics": (str,)}, regex=True
)


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.with_defaults(extension_class=JSONSnapshotExtension, matcher=VOLATILE)


def test_every_stack_has_a_snapshot(synthesized: Synthesized) -> None:
    assert sorted(synthesized.stacks) == STACKS


@pytest.mark.parametrize("stack", STACKS, ids=[s.replace("/", "-") for s in STACKS])
def test_template_matches_snapshot(
    synthesized: Synthesized, snapshot_json: SnapshotAssertion, stack: str
) -> None:
    template: dict[str, Any] = synthesized.stack(stack).template
    assert template == snapshot_json
