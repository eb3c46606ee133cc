"""Records the AWS calls a handler makes through botocore and holds them against its CALLS."""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

import pytest
from botocore.handlers import BUILTIN_HANDLERS  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[1]

# What each declared kind of resource (see the calls.py modules) is: a secret or a parameter.
_KINDS = {"secret": "secret", "source": "secret", "parameter": "parameter", "*": None}
_ARNS = {
    "secret": re.compile(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+"),
    "parameter": re.compile(r"arn:aws[a-z-]*:ssm:[a-z0-9-]+:[0-9]{12}:parameter/.+"),
}


@dataclass(frozen=True)
class AwsCall:
    """One authorization AWS makes for a request: its IAM action and the request's parameters."""

    action: str  # e.g. "secretsmanager:GetSecretValue"
    params: Mapping[str, Any] = field(repr=False)  # may hold values: never printed

    def resources(self) -> list[tuple[str, str]] | None:
        """(secret | parameter | the ResourceType, id) of each resource the request names; None
        for a service whose resource fields this module does not know."""
        service, params = self.action.split(":")[0], self.params
        if service == "secretsmanager":
            return [("secret", str(params["SecretId"]))] if "SecretId" in params else []
        if service == "ssm":
            names = [params["Name"]] if "Name" in params else list(params.get("Names", []))
            found = [("parameter", str(name)) for name in names]
            if "ResourceId" in params:
                kind = str(params.get("ResourceType", "")).lower()
                found.append((kind, str(params["ResourceId"])))
            return found
        return None

    def described(self) -> str:
        """The action and the request's resource fields (never a value), as in a report."""
        fields = ("SecretId", "Name", "Names", "ResourceType", "ResourceId")
        shown = ", ".join(f"{key}={self.params[key]}" for key in fields if key in self.params)
        return f"{self.action} ({shown or 'no resource'})"


@dataclass
class _Recording:
    handler_file: str
    calls: list[AwsCall]


_recording: _Recording | None = None


def _record(params: Mapping[str, Any], model: Any, **_: Any) -> None:
    """botocore's before-parameter-build: keeps the call if the handler's code is making it."""
    recording = _recording
    if recording is None:
        return
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename != recording.handler_file:
        frame = frame.f_back
    if frame is None:  # the test's own call (setting up, inspecting moto's state)
        return
    # The IAM prefix of these services is their signing name (not true of every service).
    action = f"{model.service_model.signing_name}:{model.name}"
    recording.calls.append(AwsCall(action, dict(params)))
    if action == "ssm:PutParameter" and params.get("Tags"):
        recording.calls.append(AwsCall("ssm:AddTagsToResource", dict(params)))


# Every botocore session made from now on (each test's, see conftest.mocked_aws, and any a
# handler would make itself) registers the hook, which reaches every client of that session:
# the way moto installs its own before-send hook.
if ("before-parameter-build", _record) not in BUILTIN_HANDLERS:
    BUILTIN_HANDLERS.append(("before-parameter-build", _record))


@contextlib.contextmanager
def recording(handler: ModuleType) -> Iterator[list[AwsCall]]:
    """Collects the botocore calls made while code of `handler` (its module) is on the stack.

    Only botocore calls: what a handler asks over plain HTTP (the reader's Parameters and
    Secrets extension on localhost:2773, the provider's PUT to CloudFormation's presigned S3
    URL) never passes through botocore and is not recorded.
    """
    global _recording
    assert handler.__file__ is not None
    _recording = _Recording(handler.__file__, [])
    try:
        yield _recording.calls
    finally:
        _recording = None


def undeclared(calls: Iterable[AwsCall], declarations: ModuleType) -> list[str]:
    """A line for each call (once) its `declarations` module's CALLS does not declare, or
    declares on another kind of resource."""
    where = Path(str(declarations.__file__)).resolve().relative_to(ROOT)
    declared: Mapping[str, str] = declarations.CALLS
    problems: dict[str, None] = {}
    for call in calls:
        if call.action not in declared:
            problems[f"called {call.described()} which {where} does not declare"] = None
            continue
        kind, resources = _KINDS.get(declared[call.action], "?"), call.resources()
        if kind == "?":
            problem = f"declared on {declared[call.action]!r}, a kind tests/aws_calls.py lacks"
        elif resources is None:
            problem = "whose resource tests/aws_calls.py cannot tell for that service yet"
        elif kind is None and resources:
            problem = f"on a resource, which {where} does not declare (it declares '*')"
        elif kind is not None and not (resources and all(_is(kind, *r) for r in resources)):
            problem = f"on no {kind}, which {where} does not declare ({declared[call.action]!r})"
        else:
            continue
        problems[f"called {call.described()} {problem}"] = None
    return list(problems)


def _is(kind: str, found: str, value: str) -> bool:
    """Whether `value`, named as a `found`, is a `kind`: its ARN, or a name (names have no ':')."""
    return found == kind and bool(_ARNS[kind].fullmatch(value) or (value and ":" not in value))


def assert_declared(runtime: str, calls: Iterable[AwsCall], declarations: ModuleType) -> None:
    """Fails naming each call of `runtime` (e.g. "rotation handler") that `declarations` (the
    handler's calls.py module, read now: a test may have changed its CALLS) does not declare."""
    problems = undeclared(calls, declarations)
    assert not problems, "\n".join(f"{runtime} {problem}" for problem in problems)


def assert_declaration_change_fails(
    monkeypatch: Any,
    runtime: str,
    calls: Iterable[AwsCall],
    declarations: ModuleType,
    *,
    action: str,
    declared: str | None,
    expected: str,
) -> None:
    """With `action` left out of `declarations.CALLS` (`declared` None) or declared on another
    kind of resource, `assert_declared` fails with exactly `expected`. The change is undone
    before the test's own recorded calls are checked."""
    with monkeypatch.context() as patch:
        if declared is None:
            patch.delitem(declarations.CALLS, action)
        else:
            patch.setitem(declarations.CALLS, action, declared)
        with pytest.raises(AssertionError, match=re.escape(expected)):
            assert_declared(runtime, calls, declarations)
