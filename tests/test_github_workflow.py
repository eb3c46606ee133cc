"""The GitHub Actions workflow (.github/workflows/ci.yml): it runs the README's commands, holds the
least privilege it needs, gets AWS credentials only from OIDC, and pins every action to a commit.

The checks are two functions, `problems` (the parsed workflow) and `text_problems` (its raw text,
for what parsing drops: the tag comments beside the pins, and comments in general). The real file
must have none; each planted mutation below must be reported, so no check can silently pass.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
README = ROOT / "README.md"

CONFIGURE_AWS_CREDENTIALS = "aws-actions/configure-aws-credentials"
CHECKOUT = "actions/checkout"
ROLE_VARIABLE = "vars.AWS_DIFF_ROLE_ARN"
MAX_TEST_MINUTES = 90
SHA_PIN = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
# `uses: owner/repo@<40 hex> # v1.2.3`: the comment names the release tag the SHA came from.
PINNED_USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s+\S+@[0-9a-f]{40} +# v\d+(?:\.\d+)*\s*$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:")
# secrets.AWS_ACCESS_KEY_ID, secrets.my_aws_key, secrets['AWS_SECRET_ACCESS_KEY'], ...
AWS_SECRET_REFERENCE = re.compile(r"secrets\s*(?:\.\s*\w*|\[\s*['\"][^'\"]*)aws", re.IGNORECASE)
ACCESS_KEY_INPUTS = ("aws-access-key-id", "aws-secret-access-key", "aws-session-token")


def load_workflow(path: Path) -> dict[str, Any]:
    """The workflow as a dict. YAML 1.1 (PyYAML) reads the key `on` as the boolean True: it is
    put back under "on"."""
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict), f"{path} is not a YAML mapping"
    workflow: dict[str, Any] = {("on" if key is True else key): v for key, v in loaded.items()}
    return workflow


def readme_commands(readme: str) -> list[str]:
    """The commands of the README's first ```sh block, without their trailing comments."""
    block = re.search(r"^```sh\n(.*?)^```", readme, re.MULTILINE | re.DOTALL)
    assert block is not None, "README.md has no ```sh code block"
    commands = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    return [command for command in commands if command]


def jobs(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = workflow.get("jobs")
    return found if isinstance(found, dict) else {}


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    found = job.get("steps")
    return [step for step in found if isinstance(step, dict)] if isinstance(found, list) else []


def action(step: dict[str, Any]) -> str:
    """The action a step uses, without its ref: "actions/checkout"."""
    return str(step.get("uses", "")).split("@", 1)[0]


def strings(node: Any) -> Iterator[str]:
    """Every string in a parsed YAML document, keys included."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def grants_id_token(permissions: Any) -> bool:
    if isinstance(permissions, str):
        return permissions == "write-all"
    return isinstance(permissions, dict) and permissions.get("id-token") == "write"


def trigger_problems(workflow: dict[str, Any]) -> list[str]:
    triggers = workflow.get("on")
    if not isinstance(triggers, dict):
        return [f"`on` must be a mapping of events, found {triggers!r}"]
    found = []
    if "pull_request" not in triggers:
        found.append("the workflow must run on pull_request")
    push = triggers.get("push")
    if not isinstance(push, dict) or "main" not in (push.get("branches") or []):
        found.append("the workflow must run on push to main")
    return found


def job_test_problems(test: dict[str, Any], commands: list[str]) -> list[str]:
    found = []
    if test.get("runs-on") != "ubuntu-24.04":
        found.append(f"job test must run on ubuntu-24.04, not {test.get('runs-on')!r}")
    timeout = test.get("timeout-minutes")
    if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout > MAX_TEST_MINUTES:
        found.append(f"job test needs timeout-minutes <= {MAX_TEST_MINUTES}, found {timeout!r}")
    runs = [str(step["run"]).strip() for step in steps(test) if "run" in step]
    for command in commands:
        if command not in runs:
            found.append(f"job test must run the README's `{command}` as a step of its own")
    setup_python = [step for step in steps(test) if action(step) == "actions/setup-python"]
    if not any(str(step.get("with", {}).get("python-version")) == "3.11" for step in setup_python):
        found.append('job test must set up Python with python-version "3.11"')
    if not any(action(step) == "actions/setup-node" for step in steps(test)):
        found.append("job test must set up Node (actions/setup-node) for npm")
    return found


def diff_job_problems(diff: dict[str, Any]) -> list[str]:
    found = []
    condition = " ".join(str(diff.get("if", "")).split())
    if not re.search(re.escape(ROLE_VARIABLE) + r"\s*!=\s*''", condition) or "||" in condition:
        found.append(f"job diff's `if` must require {ROLE_VARIABLE} != '', found {condition!r}")
    if diff.get("needs") not in ("test", ["test"]):
        found.append("job diff must need job test")
    if diff.get("permissions") != {"id-token": "write", "contents": "read"}:
        found.append(
            "job diff's permissions must be exactly id-token: write, contents: read, "
            f"found {diff.get('permissions')!r}"
        )
    configure = [step for step in steps(diff) if action(step) == CONFIGURE_AWS_CREDENTIALS]
    if not configure:
        found.append(f"job diff must get AWS credentials with {CONFIGURE_AWS_CREDENTIALS}")
    runs = [str(step["run"]) for step in steps(diff) if "run" in step]
    if "make setup" not in [run.strip() for run in runs]:
        found.append("job diff must run `make setup`")
    if not any(re.search(r"\bcdk diff\b.*'\*\*'", run) for run in runs):
        found.append("job diff must run `cdk diff '**'`")
    return found


def credentials_problems(job_name: str, job: dict[str, Any]) -> list[str]:
    found = []
    for step in steps(job):
        if action(step) != CONFIGURE_AWS_CREDENTIALS:
            continue
        inputs = step.get("with") or {}
        if inputs.get("role-to-assume") != "${{ " + ROLE_VARIABLE + " }}":
            found.append(
                f"job {job_name}: {CONFIGURE_AWS_CREDENTIALS} must use role-to-assume: "
                f"${{{{ {ROLE_VARIABLE} }}}}, found {inputs.get('role-to-assume')!r}"
            )
        for key in ACCESS_KEY_INPUTS:
            if key in inputs:
                found.append(f"job {job_name}: {CONFIGURE_AWS_CREDENTIALS} must not take {key}")
        if not grants_id_token(job.get("permissions")):
            found.append(f"job {job_name}: OIDC credentials need id-token: write on the job")
    return found


def problems(workflow: dict[str, Any], readme_commands: list[str]) -> list[str]:
    """Everything wrong with a parsed workflow; [] when there is nothing."""
    found = trigger_problems(workflow)

    if workflow.get("permissions") != {"contents": "read"}:
        found.append(
            "top-level permissions must be exactly {contents: read}, "
            f"found {workflow.get('permissions')!r}"
        )

    all_jobs = jobs(workflow)
    for name in ("test", "diff"):
        if name not in all_jobs:
            found.append(f"the workflow has no job {name}")
    if "test" in all_jobs:
        found += job_test_problems(all_jobs["test"], readme_commands)
    if "diff" in all_jobs:
        found += diff_job_problems(all_jobs["diff"])

    for name, job in all_jobs.items():
        if name != "diff" and grants_id_token(job.get("permissions")):
            found.append(f"only job diff may have id-token: write, job {name} has it")
        found += credentials_problems(name, job)
        for step in steps(job):
            uses = step.get("uses")
            if uses is not None and not SHA_PIN.match(str(uses)):
                found.append(f"job {name}: `uses: {uses}` is not pinned to a 40-hex commit SHA")
            if (
                action(step) == CHECKOUT
                and (step.get("with") or {}).get("persist-credentials") is not False
            ):
                found.append(f"job {name}: {CHECKOUT} must set persist-credentials: false")
        if "uses" in job and not SHA_PIN.match(str(job["uses"])):
            found.append(f"job {name}: `uses: {job['uses']}` is not pinned to a 40-hex commit SHA")

    for text in strings(workflow):
        if AWS_SECRET_REFERENCE.search(text):
            found.append(f"AWS credentials must never come from secrets: {text!r}")
    return found


def text_problems(text: str) -> list[str]:
    """What only the raw file shows: a pin without its tag comment, secrets in comments."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if USES_LINE.match(line) and not PINNED_USES_LINE.match(line):
            found.append(f"line {number}: want `uses: owner/repo@<sha> # vX.Y.Z`, found {line!r}")
        if AWS_SECRET_REFERENCE.search(line):
            found.append(f"line {number}: AWS credentials must never come from secrets")
    return found


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    return load_workflow(WORKFLOW)


@pytest.fixture(scope="module")
def commands() -> list[str]:
    return readme_commands(README.read_text(encoding="utf-8"))


def test_readme_lists_the_commands_ci_runs(commands: list[str]) -> None:
    assert "make test" in commands, f"README's first ```sh block lost `make test`: {commands}"
    assert "make synth" in commands, f"README's first ```sh block lost `make synth`: {commands}"


def test_on_key_is_read_as_on_not_true(workflow: dict[str, Any]) -> None:
    keys = list(workflow)
    assert all(isinstance(key, str) for key in keys), f"PyYAML's True key is back: {keys}"
    assert "pull_request" in workflow["on"], f"unexpected triggers: {workflow['on']!r}"


def test_workflow_has_no_problems(workflow: dict[str, Any], commands: list[str]) -> None:
    assert problems(workflow, commands) == [], "\n".join(problems(workflow, commands))


def test_workflow_text_has_no_problems() -> None:
    found = text_problems(WORKFLOW.read_text(encoding="utf-8"))
    assert found == [], "\n".join(found)


def test_job_test_runs_the_readme_commands_in_ci_order(workflow: dict[str, Any]) -> None:
    runs = [str(step["run"]).strip() for step in steps(jobs(workflow)["test"]) if "run" in step]
    assert runs[:2] == ["make test", "make synth"], f"job test's run steps: {runs}"


# Planted mutations of the real workflow: each must be reported with the message given.
def step_of(workflow: dict[str, Any], job: str, uses: str) -> dict[str, Any]:
    return next(step for step in steps(jobs(workflow)[job]) if action(step) == uses)


def run_step(workflow: dict[str, Any], job: str, command: str) -> dict[str, Any]:
    return next(s for s in steps(jobs(workflow)[job]) if str(s.get("run", "")).strip() == command)


def drop_make_synth(w: dict[str, Any]) -> None:
    jobs(w)["test"]["steps"].remove(run_step(w, "test", "make synth"))


def misspell_make_test(w: dict[str, Any]) -> None:
    run_step(w, "test", "make test")["run"] = "make tests"


def chain_make_test(w: dict[str, Any]) -> None:
    run_step(w, "test", "make test")["run"] = "make lint && make unit"


def widen_top_level_permissions(w: dict[str, Any]) -> None:
    w["permissions"] = {"contents": "read", "id-token": "write"}


def write_all_top_level(w: dict[str, Any]) -> None:
    w["permissions"] = "write-all"


def id_token_on_test(w: dict[str, Any]) -> None:
    jobs(w)["test"]["permissions"] = {"contents": "read", "id-token": "write"}


def no_id_token_on_diff(w: dict[str, Any]) -> None:
    jobs(w)["diff"]["permissions"] = {"contents": "read"}


def diff_always(w: dict[str, Any]) -> None:
    jobs(w)["diff"]["if"] = "always()"


def diff_or_true(w: dict[str, Any]) -> None:
    jobs(w)["diff"]["if"] = "vars.AWS_DIFF_ROLE_ARN != '' || github.event_name == 'push'"


def access_keys(w: dict[str, Any]) -> None:
    inputs = step_of(w, "diff", CONFIGURE_AWS_CREDENTIALS)["with"]
    del inputs["role-to-assume"]
    inputs["aws-access-key-id"] = "${{ secrets.AWS_ACCESS_KEY_ID }}"
    inputs["aws-secret-access-key"] = "${{ secrets.AWS_SECRET_ACCESS_KEY }}"


def aws_secret_in_env(w: dict[str, Any]) -> None:
    jobs(w)["test"]["env"] = {"KEY": "${{ secrets['my_aws_key'] }}"}


def credentials_in_test(w: dict[str, Any]) -> None:
    jobs(w)["test"]["steps"].append(copy.deepcopy(step_of(w, "diff", CONFIGURE_AWS_CREDENTIALS)))


def tag_pin(w: dict[str, Any]) -> None:
    step_of(w, "test", "actions/setup-node")["uses"] = "actions/setup-node@v7"


def short_sha_pin(w: dict[str, Any]) -> None:
    step = step_of(w, "diff", CONFIGURE_AWS_CREDENTIALS)
    step["uses"] = str(step["uses"])[: len(CONFIGURE_AWS_CREDENTIALS) + 1 + 7]


def persisted_credentials(w: dict[str, Any]) -> None:
    del step_of(w, "test", CHECKOUT)["with"]["persist-credentials"]


def long_timeout(w: dict[str, Any]) -> None:
    jobs(w)["test"]["timeout-minutes"] = 120


def no_pull_request(w: dict[str, Any]) -> None:
    del w["on"]["pull_request"]


MUTATIONS: list[tuple[Callable[[dict[str, Any]], None], list[str]]] = [
    (drop_make_synth, ["job test must run the README's `make synth`"]),
    (misspell_make_test, ["job test must run the README's `make test`"]),
    (chain_make_test, ["job test must run the README's `make test`"]),
    (widen_top_level_permissions, ["top-level permissions must be exactly {contents: read}"]),
    (write_all_top_level, ["top-level permissions must be exactly {contents: read}"]),
    (id_token_on_test, ["only job diff may have id-token: write, job test has it"]),
    (no_id_token_on_diff, ["job diff's permissions must be exactly", "need id-token: write"]),
    (diff_always, ["job diff's `if` must require vars.AWS_DIFF_ROLE_ARN"]),
    (diff_or_true, ["job diff's `if` must require vars.AWS_DIFF_ROLE_ARN"]),
    (
        access_keys,
        [
            "must use role-to-assume",
            "must not take aws-access-key-id",
            "must not take aws-secret-access-key",
            "AWS credentials must never come from secrets",
        ],
    ),
    (aws_secret_in_env, ["AWS credentials must never come from secrets"]),
    (credentials_in_test, ["job test: OIDC credentials need id-token: write"]),
    (tag_pin, ["`uses: actions/setup-node@v7` is not pinned to a 40-hex commit SHA"]),
    (short_sha_pin, ["is not pinned to a 40-hex commit SHA"]),
    (persisted_credentials, ["job test: actions/checkout must set persist-credentials: false"]),
    (long_timeout, ["job test needs timeout-minutes <= 90"]),
    (no_pull_request, ["the workflow must run on pull_request"]),
]


@pytest.mark.parametrize(
    ("mutate", "expected"), MUTATIONS, ids=[mutate.__name__ for mutate, _ in MUTATIONS]
)
def test_planted_mutation_is_reported(
    workflow: dict[str, Any],
    commands: list[str],
    tmp_path: Path,
    mutate: Callable[[dict[str, Any]], None],
    expected: list[str],
) -> None:
    mutated = copy.deepcopy(workflow)
    mutate(mutated)
    # Through a file and load_workflow, like the real one (PyYAML writes `on` as `true`).
    path = tmp_path / "ci.yml"
    path.write_text(yaml.safe_dump(mutated, sort_keys=False), encoding="utf-8")

    found = problems(load_workflow(path), commands)

    for message in expected:
        assert any(message in problem for problem in found), f"{message!r} not in {found}"


def test_readme_command_missing_from_workflow_is_reported(workflow: dict[str, Any]) -> None:
    found = problems(workflow, ["make test", "make synth", "make report"])
    assert found == ["job test must run the README's `make report` as a step of its own"], found


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (" # v7.0.1", "", "want `uses: owner/repo@<sha> # vX.Y.Z`"),
        (" # v7.0.1", " # latest", "want `uses: owner/repo@<sha> # vX.Y.Z`"),
        (
            "# No AWS access keys",
            "# ${{ secrets.AWS_SECRET_ACCESS_KEY }}",
            "never come from secrets",
        ),
    ],
)
def test_planted_text_mutation_is_reported(old: str, new: str, expected: str) -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    assert old in text, f"the mutation's anchor {old!r} is gone from {WORKFLOW.name}"

    found = text_problems(text.replace(old, new, 1))

    assert any(expected in problem for problem in found), f"{expected!r} not in {found}"
