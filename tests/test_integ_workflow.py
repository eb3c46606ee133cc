"""The integration workflow (.github/workflows/integ.yml): deploy mode on a schedule, off until
the repository variable AWS_INTEG_ROLE_ARN is set, never from a pull request or a push,
credentials from OIDC only, every action pinned. Each planted mutation must be reported."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_github_workflow import (
    ACCESS_KEY_INPUTS,
    CHECKOUT,
    CONFIGURE_AWS_CREDENTIALS,
    SHA_PIN,
    action,
    jobs,
    load_workflow,
    steps,
    text_problems,
)

WORKFLOW = Path(__file__).resolve().parents[1] / ".github" / "workflows" / "integ.yml"
ROLE_VARIABLE = "vars.AWS_INTEG_ROLE_ARN"
MAX_MINUTES = 120


def integ_problems(workflow: dict[str, Any]) -> list[str]:
    """Everything wrong with the parsed integ workflow; [] when there is nothing."""
    found = []
    triggers = workflow.get("on")
    if not isinstance(triggers, dict) or set(triggers) != {"schedule", "workflow_dispatch"}:
        found.append(f"integ must run on schedule and workflow_dispatch only, found {triggers!r}")
    if workflow.get("permissions") != {"contents": "read"}:
        found.append("top-level permissions must be exactly {contents: read}")
    if list(jobs(workflow)) != ["integ"]:
        return [*found, f"integ must have exactly the job integ, found {list(jobs(workflow))}"]
    job = jobs(workflow)["integ"]
    condition = " ".join(str(job.get("if", "")).split())
    if not re.search(re.escape(ROLE_VARIABLE) + r"\s*!=\s*''", condition) or "||" in condition:
        found.append(f"job integ's `if` must require {ROLE_VARIABLE} != '', found {condition!r}")
    if job.get("permissions") != {"id-token": "write", "contents": "read"}:
        found.append("job integ's permissions must be exactly id-token: write, contents: read")
    timeout = job.get("timeout-minutes")
    if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout > MAX_MINUTES:
        found.append(f"job integ needs timeout-minutes <= {MAX_MINUTES}, found {timeout!r}")
    for step in steps(job):
        if "uses" in step and not SHA_PIN.match(str(step["uses"])):
            found.append(f"`uses: {step['uses']}` is not pinned to a 40-hex commit SHA")
        if (
            action(step) == CHECKOUT
            and (step.get("with") or {}).get("persist-credentials") is not False
        ):
            found.append("job integ: actions/checkout must set persist-credentials: false")
    configure = [step for step in steps(job) if action(step) == CONFIGURE_AWS_CREDENTIALS]
    if len(configure) != 1:
        found.append(f"job integ must get AWS credentials with {CONFIGURE_AWS_CREDENTIALS}, once")
    for step in configure:
        inputs = step.get("with") or {}
        if inputs.get("role-to-assume") != "${{ " + ROLE_VARIABLE + " }}":
            found.append(f"job integ must assume ${{{{ {ROLE_VARIABLE} }}}}")
        found += [f"job integ must not take {key}" for key in ACCESS_KEY_INPUTS if key in inputs]
    if "make integ" not in [str(step.get("run", "")).strip() for step in steps(job)]:
        found.append("job integ must run `make integ` as a step of its own")
    return found


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    return load_workflow(WORKFLOW)


def test_integ_workflow_has_no_problems(workflow: dict[str, Any]) -> None:
    assert integ_problems(workflow) == []
    assert text_problems(WORKFLOW.read_text(encoding="utf-8")) == []


def on_pull_request(w: dict[str, Any]) -> None:
    w["on"]["pull_request"] = None


def always(w: dict[str, Any]) -> None:
    jobs(w)["integ"]["if"] = "github.ref == 'refs/heads/main'"


def or_true(w: dict[str, Any]) -> None:
    jobs(w)["integ"]["if"] = "vars.AWS_INTEG_ROLE_ARN != '' || true"


def access_keys(w: dict[str, Any]) -> None:
    step = next(s for s in steps(jobs(w)["integ"]) if action(s) == CONFIGURE_AWS_CREDENTIALS)
    step["with"] = {"aws-access-key-id": "${{ vars.KEY }}", "aws-region": "eu-west-1"}


def tag_pin(w: dict[str, Any]) -> None:
    next(s for s in steps(jobs(w)["integ"]) if action(s) == CHECKOUT)["uses"] = (
        "actions/checkout@v7"
    )


def no_make_integ(w: dict[str, Any]) -> None:
    job = jobs(w)["integ"]
    job["steps"] = [s for s in steps(job) if str(s.get("run", "")).strip() != "make integ"]


def write_all(w: dict[str, Any]) -> None:
    jobs(w)["integ"]["permissions"] = "write-all"


MUTATIONS: list[tuple[Callable[[dict[str, Any]], None], str]] = [
    (on_pull_request, "integ must run on schedule and workflow_dispatch only"),
    (always, "job integ's `if` must require vars.AWS_INTEG_ROLE_ARN"),
    (or_true, "job integ's `if` must require vars.AWS_INTEG_ROLE_ARN"),
    (access_keys, "job integ must not take aws-access-key-id"),
    (tag_pin, "`uses: actions/checkout@v7` is not pinned"),
    (no_make_integ, "job integ must run `make integ`"),
    (write_all, "job integ's permissions must be exactly"),
]


@pytest.mark.parametrize(
    ("mutate", "expected"), MUTATIONS, ids=[mutate.__name__ for mutate, _ in MUTATIONS]
)
def test_planted_mutation_is_reported(
    workflow: dict[str, Any],
    tmp_path: Path,
    mutate: Callable[[dict[str, Any]], None],
    expected: str,
) -> None:
    mutated = copy.deepcopy(workflow)
    mutate(mutated)
    path = tmp_path / "integ.yml"
    path.write_text(yaml.safe_dump(mutated, sort_keys=False), encoding="utf-8")
    found = integ_problems(load_workflow(path))
    assert any(expected in problem for problem in found), f"{expected!r} not in {found}"
