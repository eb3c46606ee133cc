"""The rotation Lambda's handler against moto's in-process Secrets Manager (no network)."""

from __future__ import annotations

import dataclasses
import json
import logging
import string
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import boto3  # type: ignore[import-untyped]
import pytest
from botocore.exceptions import (  # type: ignore[import-untyped]
    ClientError,
    ConnectTimeoutError,
    ReadTimeoutError,
)
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.secretsmanager.models import FakeSecret, secretsmanager_backends

from strongbox.rotation import calls as rotation_calls
from strongbox.rotation import handler as rotation
from tests.aws_calls import AwsCall, assert_declaration_change_fails, assert_declared, recording
from tests.conftest import ROOT, mocked_aws, run_in_isolation

REGION = "eu-west-1"
RUNTIME = "rotation handler"
CURRENT = "AWSCURRENT"
PREVIOUS = "AWSPREVIOUS"
PENDING = "AWSPENDING"
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{DEFAULT_ACCOUNT_ID}:function:strongbox-rotation"
ENDPOINT = f"https://secretsmanager.{REGION}.amazonaws.com"
HANDLER_ENV = (
    "ROTATION_STRATEGY",
    "TOKEN_LENGTH",
    "TOKEN_EXCLUDE_CHARACTERS",
    "TOKEN_EXCLUDE_PUNCTUATION",
    "TOKEN_FIELD",
    "SECRETS_MANAGER_ENDPOINT",
    "LOG_LEVEL",
)
PLAIN_VALUE = "initial-plain-token-Qx7vW2mK9pL4"
JSON_VALUE = json.dumps(
    {"username": "svc-payments", "api_key": "initial-api-key-Hj3nB8rT5yU1", "region": REGION}
)


# ---------------------------------------------------------------------------------------------
# Secrets Manager, as seen by a rotation function
# ---------------------------------------------------------------------------------------------


class RotationService:
    """Drives moto's Secrets Manager the way the real service drives a rotation.

    When a rotation starts, Secrets Manager registers a new version id (the token) carrying
    only the label AWSPENDING, with no value yet, and then invokes the rotation function once
    per step. moto 5.2.5 cannot reach that state through its API: `rotate_secret` with a
    Lambda ARN invokes the function through moto's Lambda (a Docker container), and without
    one it immediately moves AWSCURRENT onto the new, still empty, version. It also offers no
    other way to turn RotationEnabled on. So `enable_rotation` and `start_rotation` set the
    same fields of moto's secret model that its `rotate_secret` sets, and the steps are
    invoked in-process. Everything the handler does goes through boto3 and moto's API.
    """

    def __init__(self, client: Any) -> None:
        self.client = client

    def _model(self, arn: str) -> FakeSecret:
        secret = secretsmanager_backends[DEFAULT_ACCOUNT_ID][REGION].secrets[arn]
        assert isinstance(secret, FakeSecret)
        return secret

    def create_secret(self, name: str, value: str, *, rotation: bool = True) -> str:
        arn: str = self.client.create_secret(Name=name, SecretString=value)["ARN"]
        if rotation:
            self.enable_rotation(arn)
        return arn

    def enable_rotation(self, arn: str) -> None:
        secret = self._model(arn)
        secret.rotation_requested = True  # moto reports RotationEnabled only after this
        secret.rotation_enabled = True
        secret.rotation_lambda_arn = FUNCTION_ARN
        secret.auto_rotate_after_days = 30

    def start_rotation(self, arn: str) -> str:
        """RotateSecret: refuse while a rotation is unfinished, else register a pending token."""
        stages = self.stages(arn)
        if any(PENDING in labels and CURRENT not in labels for labels in stages.values()):
            # The service's answer when AWSPENDING is on a version other than AWSCURRENT.
            raise RuntimeError("A previous rotation isn't complete")
        token = str(uuid.uuid4())
        secret = self._model(arn)
        secret.remove_version_stages_from_old_versions([PENDING])
        secret.versions[token] = {
            "createdate": int(time.time()),
            "version_id": token,
            "version_stages": [PENDING],
        }
        return token

    def abandon_rotation(self, arn: str) -> None:
        """What an operator does after a failed rotation: take AWSPENDING off its version."""
        for version_id, labels in self.stages(arn).items():
            if PENDING in labels:
                self.client.update_secret_version_stage(
                    SecretId=arn, VersionStage=PENDING, RemoveFromVersionId=version_id
                )

    def invoke(self, arn: str, token: str, step: str) -> None:
        event = {"SecretId": arn, "ClientRequestToken": token, "Step": step}
        rotation.lambda_handler(event, None)

    def rotate(self, arn: str) -> str:
        token = self.start_rotation(arn)
        for step in STEPS:
            self.invoke(arn, token, step)
        return token

    def stages(self, arn: str) -> dict[str, list[str]]:
        versions: dict[str, list[str]] = self.client.describe_secret(SecretId=arn)[
            "VersionIdsToStages"
        ]
        return {version: sorted(labels) for version, labels in versions.items()}

    def labelled(self, arn: str, label: str) -> list[str]:
        return [version for version, labels in self.stages(arn).items() if label in labels]

    def value(self, arn: str, stage: str = CURRENT) -> str:
        value: str = self.client.get_secret_value(SecretId=arn, VersionStage=stage)["SecretString"]
        return value

    def pending_value(self, arn: str, token: str) -> str:
        response = self.client.get_secret_value(SecretId=arn, VersionId=token, VersionStage=PENDING)
        value: str = response["SecretString"]
        return value

    def snapshot(self, arn: str) -> tuple[dict[str, list[str]], str, dict[str, str]]:
        """Stages, the AWSCURRENT value and every stored value, by version."""
        values = {
            version: self.client.get_secret_value(SecretId=arn, VersionId=version)["SecretString"]
            for version in self.stages(arn)
            if "secret_string" in self._model(arn).versions[version]
        }
        return self.stages(arn), self.value(arn), values

    def all_stored_values(self) -> set[str]:
        backend = secretsmanager_backends[DEFAULT_ACCOUNT_ID][REGION]
        return {
            version["secret_string"]
            for secret in backend.secrets.values()
            if isinstance(secret, FakeSecret)
            for version in secret.versions.values()
            if "secret_string" in version
        }


@dataclass
class Fault:
    operation: str
    error: Callable[[], Exception]
    on_call: int = 1
    after: bool = False  # raise after the service has processed the request (response lost)
    calls: int = 0
    fired: int = 0


@dataclass
class ClientSpy:
    """Hooks into every client the handler creates: records its calls, raises injected faults.

    Faults are raised from botocore's before-call / after-call events, i.e. inside the very
    `client.<operation>()` call the handler makes.
    """

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)

    def attach(self, client: Any) -> Any:
        client.meta.events.register("provide-client-params", self._record)
        client.meta.events.register("before-call", self._before_call)
        client.meta.events.register("after-call", self._after_call)
        return client

    def inject(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    def operations(self) -> list[str]:
        return [operation for operation, _ in self.calls]

    def _fire(self, operation: str, after: bool) -> None:
        for fault in self.faults:
            if fault.operation == operation and fault.after == after:
                fault.calls += 1
                if fault.calls == fault.on_call:
                    fault.fired += 1
                    raise fault.error()

    def _record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.calls.append((model.name, dict(params)))

    def _before_call(self, model: Any, **_: Any) -> None:
        self._fire(model.name, after=False)

    def _after_call(self, model: Any, **_: Any) -> None:
        self._fire(model.name, after=True)


def throttling(operation: str) -> Callable[[], Exception]:
    def error() -> Exception:
        body = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}
        exception: Exception = ClientError(body, operation)
        return exception

    return error


def read_timeout() -> Exception:
    exception: Exception = ReadTimeoutError(endpoint_url=ENDPOINT)
    return exception


def connect_timeout() -> Exception:
    exception: Exception = ConnectTimeoutError(endpoint_url=ENDPOINT)
    return exception


# ---------------------------------------------------------------------------------------------
# Strategies loaded through ROTATION_STRATEGY
# ---------------------------------------------------------------------------------------------


class RecordingStrategy:
    """A user strategy: records what the handler passes to it."""

    calls: ClassVar[list[tuple[str, tuple[str, ...]]]] = []

    def create(self, client: Any, current_value: str) -> str:
        value = f"custom-{uuid.uuid4().hex}"
        self.calls.append(("create", (current_value,)))
        return value

    def set(self, pending_value: str, current_value: str) -> None:
        self.calls.append(("set", (pending_value, current_value)))

    def test(self, pending_value: str) -> None:
        self.calls.append(("test", (pending_value,)))


class VendorRefusedError(Exception):
    """What a third-party API client would raise."""


class FlakyStrategy(rotation.TokenStrategy):
    """The token strategy, whose set()/test() fail once when `fail_once` names them."""

    fail_once: ClassVar[set[str]] = set()

    def set(self, pending_value: str, current_value: str) -> None:
        if "set" in self.fail_once:
            self.fail_once.discard("set")
            raise VendorRefusedError("the vendor did not accept the new key")

    def test(self, pending_value: str) -> None:
        if "test" in self.fail_once:
            self.fail_once.discard("test")
            raise VendorRefusedError("the vendor rejected the new key")
        super().test(pending_value)


class NotAStrategy:
    def create(self, client: Any, current_value: str) -> str:
        return "x"


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (*HANDLER_ENV, "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    RecordingStrategy.calls.clear()
    FlakyStrategy.fail_once.clear()


@pytest.fixture
def service() -> Iterator[RotationService]:
    with mocked_aws():
        yield RotationService(boto3.client("secretsmanager", region_name=REGION))


@pytest.fixture(autouse=True)
def handler_calls() -> Iterator[list[AwsCall]]:
    """Every test: each AWS call the handler makes is one rotation/calls.py declares."""
    with recording(rotation) as calls:
        yield calls
    assert_declared(RUNTIME, calls, rotation_calls)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> ClientSpy:
    spy = ClientSpy()
    real_make_client = rotation.make_client
    monkeypatch.setattr(rotation, "make_client", lambda: spy.attach(real_make_client()))
    return spy


def assert_rotated(service: RotationService, arn: str, token: str, old_value: str) -> str:
    """The rotation to `token` completed: returns the new value."""
    assert service.labelled(arn, CURRENT) == [token]
    assert len(service.labelled(arn, PREVIOUS)) == 1
    assert service.labelled(arn, PENDING) == []
    assert service.value(arn, PREVIOUS) == old_value
    new_value = service.value(arn, CURRENT)
    assert new_value != old_value
    return new_value


# ---------------------------------------------------------------------------------------------
# Full rotations
# ---------------------------------------------------------------------------------------------


def test_full_rotation_of_a_plain_token(
    service: RotationService, spy: ClientSpy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKEN_LENGTH", "24")
    monkeypatch.setenv("TOKEN_EXCLUDE_CHARACTERS", "abcdefABCDEF012345")
    arn = service.create_secret("payments/prod/api-token", PLAIN_VALUE)
    old_version = service.labelled(arn, CURRENT)[0]

    token = service.rotate(arn)

    new_value = assert_rotated(service, arn, token, PLAIN_VALUE)
    assert service.stages(arn) == {old_version: [PREVIOUS], token: [CURRENT]}
    assert len(new_value) == 24
    assert set(new_value) <= set(string.ascii_letters + string.digits) - set("abcdefABCDEF012345")
    assert [params for op, params in spy.calls if op == "GetRandomPassword"] == [
        {
            "PasswordLength": 24,
            "ExcludePunctuation": True,
            "ExcludeCharacters": "abcdefABCDEF012345",
        }
    ]
    assert [params for op, params in spy.calls if op == "UpdateSecretVersionStage"] == [
        {
            "SecretId": arn,
            "VersionStage": CURRENT,
            "MoveToVersionId": token,
            "RemoveFromVersionId": old_version,
        },
        {"SecretId": arn, "VersionStage": PENDING, "RemoveFromVersionId": token},
    ]


def test_full_rotation_of_one_json_field(
    service: RotationService, spy: ClientSpy, monkeypatch: pytest.MonkeyPatch
) -> None:
    excluded = "\"'\\`"
    monkeypatch.setenv("TOKEN_FIELD", "api_key")
    monkeypatch.setenv("TOKEN_LENGTH", "32")
    monkeypatch.setenv("TOKEN_EXCLUDE_PUNCTUATION", "false")
    monkeypatch.setenv("TOKEN_EXCLUDE_CHARACTERS", excluded)
    arn = service.create_secret("payments/prod/vendor", JSON_VALUE)

    token = service.rotate(arn)

    new = json.loads(assert_rotated(service, arn, token, JSON_VALUE))
    old = json.loads(JSON_VALUE)
    assert list(new) == list(old)
    assert {k: v for k, v in new.items() if k != "api_key"} == {
        "username": "svc-payments",
        "region": REGION,
    }
    key = new["api_key"]
    assert len(key) == 32
    assert not set(key) & set(excluded)
    assert set(key) & set(string.punctuation)  # punctuation allowed, and required by default
    assert [params for op, params in spy.calls if op == "GetRandomPassword"] == [
        {"PasswordLength": 32, "ExcludePunctuation": False, "ExcludeCharacters": excluded}
    ]


def test_default_token_is_40_characters_without_punctuation(service: RotationService) -> None:
    arn = service.create_secret("payments/prod/default", PLAIN_VALUE)
    token = service.rotate(arn)
    value = assert_rotated(service, arn, token, PLAIN_VALUE)
    assert len(value) == 40
    assert set(value) <= set(string.ascii_letters + string.digits)


def test_hundred_rotations_in_a_row(service: RotationService) -> None:
    arn = service.create_secret("payments/prod/hundred", PLAIN_VALUE)
    values = [PLAIN_VALUE]
    for _ in range(100):
        token = service.rotate(arn)
        values.append(assert_rotated(service, arn, token, values[-1]))

    assert len(set(values[1:])) == 100
    assert PLAIN_VALUE not in values[1:]
    stages = service.stages(arn)
    assert sum(CURRENT in labels for labels in stages.values()) == 1
    assert sum(PREVIOUS in labels for labels in stages.values()) == 1
    assert sum(PENDING in labels for labels in stages.values()) == 0
    assert service.value(arn, CURRENT) == values[-1]
    assert service.value(arn, PREVIOUS) == values[-2]


# ---------------------------------------------------------------------------------------------
# Retries (idempotency)
# ---------------------------------------------------------------------------------------------


def test_every_step_invoked_twice_is_idempotent(service: RotationService, spy: ClientSpy) -> None:
    arn = service.create_secret("payments/prod/retried", PLAIN_VALUE)
    old_version = service.labelled(arn, CURRENT)[0]
    token = service.start_rotation(arn)

    service.invoke(arn, token, "createSecret")
    pending = service.pending_value(arn, token)
    service.invoke(arn, token, "createSecret")
    assert service.pending_value(arn, token) == pending
    assert spy.operations().count("PutSecretValue") == 1
    assert spy.operations().count("GetRandomPassword") == 1

    for step in ("setSecret", "testSecret"):
        service.invoke(arn, token, step)
        service.invoke(arn, token, step)
        assert service.stages(arn) == {old_version: [CURRENT], token: [PENDING]}
        assert service.pending_value(arn, token) == pending

    service.invoke(arn, token, "finishSecret")
    after_first_finish = service.snapshot(arn)
    calls_before = len(spy.calls)
    service.invoke(arn, token, "finishSecret")

    assert service.snapshot(arn) == after_first_finish
    assert spy.operations()[calls_before:] == ["DescribeSecret"]
    assert service.stages(arn) == {old_version: [PREVIOUS], token: [CURRENT]}
    assert service.value(arn) == pending
    assert service.value(arn, PREVIOUS) == PLAIN_VALUE
    assert spy.operations().count("UpdateSecretVersionStage") == 2


def test_token_already_current_returns_without_change(
    service: RotationService, spy: ClientSpy
) -> None:
    arn = service.create_secret("payments/prod/current", PLAIN_VALUE)
    current_version = service.labelled(arn, CURRENT)[0]
    before = service.snapshot(arn)

    for step in STEPS:
        service.invoke(arn, current_version, step)

    assert service.snapshot(arn) == before
    assert spy.operations() == ["DescribeSecret"] * 4


# ---------------------------------------------------------------------------------------------
# Fault injection
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaultCase:
    step: str
    fault: Fault | None  # an AWS call fails ...
    strategy_fails_in: str | None  # ... or the strategy rejects
    error: type[Exception]
    message: str


FAULTS = {
    "create-throttled": FaultCase(
        "createSecret",
        Fault("PutSecretValue", throttling("PutSecretValue")),
        None,
        ClientError,
        "An error occurred (ThrottlingException) when calling the PutSecretValue operation: "
        "Rate exceeded",
    ),
    "create-password-read-timeout": FaultCase(
        "createSecret",
        Fault("GetRandomPassword", read_timeout),
        None,
        ReadTimeoutError,
        f'Read timeout on endpoint URL: "{ENDPOINT}"',
    ),
    "create-response-lost": FaultCase(
        "createSecret",
        Fault("PutSecretValue", read_timeout, after=True),
        None,
        ReadTimeoutError,
        f'Read timeout on endpoint URL: "{ENDPOINT}"',
    ),
    "set-refused": FaultCase(
        "setSecret", None, "set", VendorRefusedError, "the vendor did not accept the new key"
    ),
    "test-rejected": FaultCase(
        "testSecret", None, "test", VendorRefusedError, "the vendor rejected the new key"
    ),
    "finish-throttled": FaultCase(
        "finishSecret",
        Fault("UpdateSecretVersionStage", throttling("UpdateSecretVersionStage")),
        None,
        ClientError,
        "An error occurred (ThrottlingException) when calling the UpdateSecretVersionStage "
        "operation: Rate exceeded",
    ),
    "finish-connect-timeout": FaultCase(
        "finishSecret",
        Fault("UpdateSecretVersionStage", connect_timeout),
        None,
        ConnectTimeoutError,
        f'Connect timeout on endpoint URL: "{ENDPOINT}"',
    ),
}


def fail_rotation(
    service: RotationService,
    spy: ClientSpy,
    monkeypatch: pytest.MonkeyPatch,
    arn: str,
    case: FaultCase,
) -> str:
    """Start a rotation whose `case.step` fails inside the handler; returns its token."""
    monkeypatch.setenv("ROTATION_STRATEGY", f"{__name__}:FlakyStrategy")
    fault = spy.inject(dataclasses.replace(case.fault, calls=0, fired=0)) if case.fault else None
    if case.strategy_fails_in:
        FlakyStrategy.fail_once.add(case.strategy_fails_in)
    token = service.start_rotation(arn)
    for step in STEPS[: STEPS.index(case.step)]:
        service.invoke(arn, token, step)
    with pytest.raises(case.error) as raised:
        service.invoke(arn, token, case.step)
    assert str(raised.value) == case.message
    if fault:
        assert fault.fired == 1
    else:
        assert FlakyStrategy.fail_once == set()
    return token


@pytest.mark.parametrize("case", FAULTS.values(), ids=list(FAULTS))
def test_failed_step_keeps_current_and_next_rotation_succeeds(
    service: RotationService, spy: ClientSpy, monkeypatch: pytest.MonkeyPatch, case: FaultCase
) -> None:
    arn = service.create_secret("payments/prod/faulty", PLAIN_VALUE)
    service.rotate(arn)
    good_version = service.labelled(arn, CURRENT)[0]
    good_value = service.value(arn)

    failed_token = fail_rotation(service, spy, monkeypatch, arn, case)

    assert service.labelled(arn, CURRENT) == [good_version]
    assert service.value(arn) == good_value
    assert service.value(arn, PREVIOUS) == PLAIN_VALUE
    assert service.labelled(arn, PENDING) == [failed_token]
    with pytest.raises(RuntimeError, match="A previous rotation isn't complete"):
        service.start_rotation(arn)

    service.abandon_rotation(arn)
    token = service.rotate(arn)
    assert token != failed_token
    assert_rotated(service, arn, token, good_value)


@pytest.mark.parametrize("case", FAULTS.values(), ids=list(FAULTS))
def test_failed_step_succeeds_when_lambda_retries_it(
    service: RotationService, spy: ClientSpy, monkeypatch: pytest.MonkeyPatch, case: FaultCase
) -> None:
    arn = service.create_secret("payments/prod/retry", PLAIN_VALUE)
    token = fail_rotation(service, spy, monkeypatch, arn, case)
    stored = service.pending_value(arn, token) if case.step != "createSecret" else None
    if case.fault and case.fault.after:
        # The service stored the value, only the response was lost: the retry must keep it.
        stored = service.pending_value(arn, token)
    calls_before = len(spy.calls)

    for step in STEPS[STEPS.index(case.step) :]:
        service.invoke(arn, token, step)

    new_value = assert_rotated(service, arn, token, PLAIN_VALUE)
    retried_puts = spy.operations()[calls_before:].count("PutSecretValue")
    if stored is None:
        assert retried_puts == 1
    else:
        assert (new_value, retried_puts) == (stored, 0)


def test_finish_interrupted_after_moving_current(service: RotationService, spy: ClientSpy) -> None:
    arn = service.create_secret("payments/prod/half-finished", PLAIN_VALUE)
    old_version = service.labelled(arn, CURRENT)[0]
    fault = spy.inject(
        Fault("UpdateSecretVersionStage", throttling("UpdateSecretVersionStage"), on_call=2)
    )
    token = service.start_rotation(arn)
    for step in STEPS[:3]:
        service.invoke(arn, token, step)
    pending = service.pending_value(arn, token)

    with pytest.raises(ClientError, match="ThrottlingException"):
        service.invoke(arn, token, "finishSecret")

    # AWSCURRENT moved; AWSPENDING on the same version is a valid end state of a rotation.
    assert fault.fired == 1
    assert service.stages(arn) == {old_version: [PREVIOUS], token: [CURRENT, PENDING]}
    assert service.value(arn) == pending
    service.invoke(arn, token, "finishSecret")  # the retry sees AWSCURRENT and stops
    assert service.stages(arn) == {old_version: [PREVIOUS], token: [CURRENT, PENDING]}

    next_token = service.rotate(arn)
    assert_rotated(service, arn, next_token, pending)


# ---------------------------------------------------------------------------------------------
# Bad events
# ---------------------------------------------------------------------------------------------


def test_unknown_step(service: RotationService, spy: ClientSpy) -> None:
    arn = service.create_secret("payments/prod/bad-step", PLAIN_VALUE)
    token = service.start_rotation(arn)
    before = service.snapshot(arn)

    with pytest.raises(ValueError, match=r"^Invalid step parameter rotateSecret$"):
        service.invoke(arn, token, "rotateSecret")

    assert service.snapshot(arn) == before
    assert spy.calls == []


def test_token_with_no_version(service: RotationService, spy: ClientSpy) -> None:
    arn = service.create_secret("payments/prod/unknown-token", PLAIN_VALUE)
    service.start_rotation(arn)
    before = service.snapshot(arn)
    stranger = str(uuid.uuid4())

    for step in STEPS:
        with pytest.raises(rotation.RotationError) as raised:
            service.invoke(arn, stranger, step)
        assert str(raised.value) == (
            f"Secret version {stranger} has no stage for rotation of secret {arn}"
        )

    assert service.snapshot(arn) == before
    assert set(spy.operations()) == {"DescribeSecret"}


def test_rotation_not_enabled(service: RotationService, spy: ClientSpy) -> None:
    never = service.create_secret("payments/prod/never-rotated", PLAIN_VALUE, rotation=False)
    cancelled = service.create_secret("payments/prod/cancelled", PLAIN_VALUE)
    for arn in (never, cancelled):
        token = service.start_rotation(arn)
        if arn == cancelled:
            service.client.cancel_rotate_secret(SecretId=arn)
        before = service.snapshot(arn)

        for step in STEPS:
            with pytest.raises(rotation.RotationError) as raised:
                service.invoke(arn, token, step)
            assert str(raised.value) == f"Secret {arn} is not enabled for rotation"

        assert service.snapshot(arn) == before
        assert service.labelled(arn, PENDING) == [token]
    assert set(spy.operations()) == {"DescribeSecret"}


def test_token_not_pending(service: RotationService, spy: ClientSpy) -> None:
    arn = service.create_secret("payments/prod/previous-token", PLAIN_VALUE)
    previous = service.labelled(arn, CURRENT)[0]
    service.rotate(arn)
    assert service.labelled(arn, PREVIOUS) == [previous]
    before = service.snapshot(arn)
    calls_before = len(spy.calls)

    for step in STEPS:
        with pytest.raises(rotation.RotationError) as raised:
            service.invoke(arn, previous, step)
        assert str(raised.value) == (
            f"Secret version {previous} not set as AWSPENDING for rotation of secret {arn}"
        )

    assert service.snapshot(arn) == before
    assert spy.operations()[calls_before:] == ["DescribeSecret"] * 4


# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------


def test_custom_strategy_gets_pending_and_current(
    service: RotationService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROTATION_STRATEGY", f"{__name__}:RecordingStrategy")
    arn = service.create_secret("payments/prod/custom", PLAIN_VALUE)

    token = service.rotate(arn)

    new_value = assert_rotated(service, arn, token, PLAIN_VALUE)
    assert new_value.startswith("custom-")
    assert RecordingStrategy.calls == [
        ("create", (PLAIN_VALUE,)),
        ("set", (new_value, PLAIN_VALUE)),
        ("test", (new_value,)),
    ]


def test_strategy_factory_in_a_module_shipped_next_to_the_handler(
    service: RotationService, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    module = "strongbox_test_vendor_strategy"
    (tmp_path / f"{module}.py").write_text(
        "CALLS = []\n"
        "class _Vendor:\n"
        "    def create(self, client, current_value):\n"
        "        return 'vendor-' + current_value[::-1]\n"
        "    def set(self, pending_value, current_value):\n"
        "        CALLS.append(('set', pending_value, current_value))\n"
        "    def test(self, pending_value):\n"
        "        CALLS.append(('test', pending_value))\n"
        "def make_strategy():\n"
        "    return _Vendor()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)
    monkeypatch.setenv("ROTATION_STRATEGY", f"{module}:make_strategy")
    arn = service.create_secret("payments/prod/vendor-factory", PLAIN_VALUE)

    token = service.rotate(arn)

    expected = "vendor-" + PLAIN_VALUE[::-1]
    assert assert_rotated(service, arn, token, PLAIN_VALUE) == expected
    calls = sys.modules[module].CALLS
    assert calls == [("set", expected, PLAIN_VALUE), ("test", expected)]
    monkeypatch.delitem(sys.modules, module)


def test_the_custom_rotation_example_keeps_the_key_it_replaces(
    service: RotationService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """examples/custom_rotation's strategy through the four steps, twice."""
    monkeypatch.syspath_prepend(str(ROOT / "examples" / "custom_rotation" / "strategies"))
    monkeypatch.delitem(sys.modules, "rolling_signing_key", raising=False)
    monkeypatch.setenv("ROTATION_STRATEGY", "rolling_signing_key:RollingSigningKey")
    first = json.dumps({"key": "k" * 64, "previous_key": ""})
    arn = service.create_secret("shop/dev/webhook-signing-key", first)

    second = assert_rotated(service, arn, service.rotate(arn), first)
    third = assert_rotated(service, arn, service.rotate(arn), second)

    assert json.loads(second)["previous_key"] == "k" * 64
    assert json.loads(third)["previous_key"] == json.loads(second)["key"]
    assert len(json.loads(third)["key"]) == 64
    monkeypatch.delitem(sys.modules, "rolling_signing_key")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "no_colon_here",
            "ROTATION_STRATEGY must be 'token' or 'module.path:attribute', not 'no_colon_here'",
        ),
        (f"{__name__}:Missing", f"ROTATION_STRATEGY '{__name__}:Missing': module has no 'Missing'"),
        (
            f"{__name__}:NotAStrategy",
            f"ROTATION_STRATEGY '{__name__}:NotAStrategy' did not return an object with "
            "create(), set() and test()",
        ),
    ],
)
def test_bad_strategy_setting(
    service: RotationService, monkeypatch: pytest.MonkeyPatch, spec: str, message: str
) -> None:
    monkeypatch.setenv("ROTATION_STRATEGY", spec)
    arn = service.create_secret("payments/prod/bad-strategy", PLAIN_VALUE)
    token = service.start_rotation(arn)
    before = service.snapshot(arn)
    with pytest.raises(rotation.RotationError) as raised:
        service.invoke(arn, token, "createSecret")
    assert str(raised.value) == message
    assert service.snapshot(arn) == before


def test_default_strategy_is_the_token_strategy(monkeypatch: pytest.MonkeyPatch) -> None:
    assert type(rotation.load_strategy()) is rotation.TokenStrategy
    monkeypatch.setenv("ROTATION_STRATEGY", " token ")
    assert type(rotation.load_strategy()) is rotation.TokenStrategy
    assert isinstance(RecordingStrategy(), rotation.RotationStrategy)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"TOKEN_LENGTH": "forty"}, "TOKEN_LENGTH must be an integer"),
        ({"TOKEN_LENGTH": "0"}, "TOKEN_LENGTH must be between 1 and 4096"),
        ({"TOKEN_LENGTH": "4097"}, "TOKEN_LENGTH must be between 1 and 4096"),
        (
            {"TOKEN_EXCLUDE_PUNCTUATION": "yes"},
            "TOKEN_EXCLUDE_PUNCTUATION must be 'true' or 'false'",
        ),
    ],
)
def test_token_strategy_settings_are_validated(environ: dict[str, str], message: str) -> None:
    with pytest.raises(rotation.RotationError) as raised:
        rotation.TokenStrategy(environ)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("field_name", "pending", "message"),
    [
        ("", "", "The AWSPENDING value is empty"),
        ("api_key", "", "The AWSPENDING value is empty"),
        ("api_key", "not-json-Kq2", "The AWSPENDING value is not valid JSON"),
        ("api_key", '["Kq2"]', "The AWSPENDING value is not a JSON object"),
        (
            "api_key",
            '{"user": "Kq2"}',
            "The AWSPENDING value has no non-empty string field 'api_key'",
        ),
        (
            "api_key",
            '{"api_key": ""}',
            "The AWSPENDING value has no non-empty string field 'api_key'",
        ),
    ],
)
def test_token_strategy_test_rejects_malformed_values(
    field_name: str, pending: str, message: str
) -> None:
    strategy = rotation.TokenStrategy({"TOKEN_FIELD": field_name})
    with pytest.raises(rotation.RotationError) as raised:
        strategy.test(pending)
    assert str(raised.value) == message
    rotation.TokenStrategy({"TOKEN_FIELD": "api_key"}).test('{"api_key": "Kq2"}')


def test_token_field_needs_a_json_current_value(
    service: RotationService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKEN_FIELD", "api_key")
    arn = service.create_secret("payments/prod/not-json", PLAIN_VALUE)
    token = service.start_rotation(arn)
    before = service.snapshot(arn)
    with pytest.raises(rotation.RotationError) as raised:
        service.invoke(arn, token, "createSecret")
    assert str(raised.value) == "The AWSCURRENT value is not valid JSON"
    assert service.snapshot(arn) == before


# ---------------------------------------------------------------------------------------------
# Logging
# ---------------------------------------------------------------------------------------------


def test_logs_are_json_and_never_contain_secret_values(
    service: RotationService,
    spy: ClientSpy,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    handler_logger = logging.getLogger(rotation.LOGGER_NAME)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger=rotation.LOGGER_NAME)
    # The handler's logger doesn't propagate to root; pytest 9 attaches caplog to such loggers
    # itself, older versions don't: listen directly then.
    attach = caplog.handler not in handler_logger.handlers
    if attach:
        handler_logger.addHandler(caplog.handler)
    try:
        # The name shares no 8-character window with the value, whatever ARN suffix moto draws.
        plain = service.create_secret("payments/prod/log-raw", PLAIN_VALUE)
        service.rotate(plain)
        monkeypatch.setenv("TOKEN_FIELD", "api_key")
        vendor = service.create_secret("payments/prod/log-json", JSON_VALUE)
        service.rotate(vendor)
        for case in FAULTS.values():
            with monkeypatch.context() as scoped:
                fail_rotation(service, spy, scoped, vendor, case)
            spy.faults.clear()
            service.abandon_rotation(vendor)
        with pytest.raises(rotation.RotationError):
            service.invoke(plain, service.labelled(plain, PREVIOUS)[0], "setSecret")
        with pytest.raises(ValueError, match="Invalid step"):
            service.invoke(plain, service.start_rotation(plain), "bogusStep")
    finally:
        if attach:
            handler_logger.removeHandler(caplog.handler)

    secret_values = service.all_stored_values()
    secret_values |= {json.loads(v)["api_key"] for v in secret_values if v.startswith("{")}
    assert PLAIN_VALUE in secret_values
    assert len(secret_values) >= 12
    captured = capsys.readouterr()
    formatter = rotation.JsonFormatter()
    everything = "\n".join(
        [
            captured.out,
            captured.err,
            caplog.text,
            *(record.getMessage() for record in caplog.records),
            *(formatter.format(record) for record in caplog.records),
        ]
    )
    leaked = sorted(value for value in secret_values if value in everything)
    assert leaked == []
    # Not even a fragment: every 8-character window of every token and plain value.
    tokens = {value for value in secret_values if not value.startswith("{")}
    fragments = {value[i : i + 8] for value in tokens for i in range(len(value) - 7)}
    assert sorted(fragment for fragment in fragments if fragment in everything) == []

    lines = [json.loads(line) for line in captured.out.splitlines()]
    own_records = [r for r in caplog.records if r.name == rotation.LOGGER_NAME]
    assert len(lines) == len(own_records) > 50
    for entry in lines:
        assert set(entry) >= {"level", "message", "step", "secret_arn", "token", "timestamp"}
        assert entry["secret_arn"] in (plain, vendor)
        assert uuid.UUID(entry["token"])
    assert {entry["step"] for entry in lines} == {*STEPS, "bogusStep"}
    assert [json.loads(formatter.format(r)) | {"timestamp": None} for r in own_records] == [
        entry | {"timestamp": None} for entry in lines
    ]
    assert any(entry["level"] == "DEBUG" for entry in lines)
    failures = [entry for entry in lines if entry["message"] == "Rotation step failed"]
    assert [(e["step"], e["error_type"], e.get("error_code")) for e in failures] == [
        ("createSecret", "ClientError", "ThrottlingException"),
        ("createSecret", "ReadTimeoutError", None),
        ("createSecret", "ReadTimeoutError", None),
        ("setSecret", "VendorRefusedError", None),
        ("testSecret", "VendorRefusedError", None),
        ("finishSecret", "ClientError", "ThrottlingException"),
        ("finishSecret", "ConnectTimeoutError", None),
        ("setSecret", "RotationError", None),
    ]
    assert "error" not in failures[3]  # messages of foreign exceptions are not logged
    previous = service.labelled(plain, PREVIOUS)[0]
    assert failures[-1]["error"] == (
        f"Secret version {previous} not set as AWSPENDING for rotation of secret {plain}"
    )


# ---------------------------------------------------------------------------------------------
# Client and packaging
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        (
            "https://vpce-0abc-1234.secretsmanager.eu-west-1.vpce.amazonaws.com",
            "https://vpce-0abc-1234.secretsmanager.eu-west-1.vpce.amazonaws.com",
        ),
        ("", None),
        (None, None),
    ],
    ids=["vpc-endpoint", "empty", "unset"],
)
def test_secrets_manager_endpoint_is_the_clients_endpoint_url(
    service: RotationService,
    monkeypatch: pytest.MonkeyPatch,
    endpoint: str | None,
    expected: str | None,
) -> None:
    if endpoint is not None:
        monkeypatch.setenv("SECRETS_MANAGER_ENDPOINT", endpoint)
    created: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    real_client = boto3.client

    def client(*args: Any, **kwargs: Any) -> Any:
        created.append((args, kwargs))
        # moto intercepts the regional endpoint only: the VPC endpoint's name would not resolve.
        return real_client(*args)

    monkeypatch.setattr(rotation, "boto3", SimpleNamespace(client=client))
    arn = service.create_secret("payments/prod/endpoint", PLAIN_VALUE)

    token = service.rotate(arn)

    assert_rotated(service, arn, token, PLAIN_VALUE)
    assert created == [(("secretsmanager",), {"endpoint_url": expected})] * 4


# ---------------------------------------------------------------------------------------------
# Declared calls (rotation/calls.py)
# ---------------------------------------------------------------------------------------------


def test_a_rotation_makes_every_declared_call_on_the_rotated_secret(
    service: RotationService, handler_calls: list[AwsCall]
) -> None:
    arn = service.create_secret("payments/prod/api-token", PLAIN_VALUE)

    service.rotate(arn)

    # A declaration the handler no longer needs fails here, as a missing one fails every test.
    assert {call.action for call in handler_calls} == set(rotation_calls.CALLS)
    assert {name for call in handler_calls for _, name in call.resources() or []} == {arn}


@pytest.mark.parametrize(
    ("action", "declared", "complaint"),
    [
        ("secretsmanager:PutSecretValue", None, "which {calls} does not declare"),
        (
            "secretsmanager:GetRandomPassword",
            "secret",
            "on no secret, which {calls} does not declare ('secret')",
        ),
        ("secretsmanager:DescribeSecret", "*", "on a resource, which {calls} does not declare"),
    ],
    ids=["left-out", "declared-on-a-secret", "declared-without-a-resource"],
)
def test_a_call_the_declarations_get_wrong_fails_naming_it(
    service: RotationService,
    handler_calls: list[AwsCall],
    monkeypatch: pytest.MonkeyPatch,
    action: str,
    declared: str | None,
    complaint: str,
) -> None:
    arn = service.create_secret("payments/prod/api-token", PLAIN_VALUE)
    service.rotate(arn)
    resource = "no resource" if action.endswith("GetRandomPassword") else f"SecretId={arn}"
    expected = f"{RUNTIME} called {action} ({resource}) " + complaint.format(
        calls="constructs/strongbox/rotation/calls.py"
    )

    assert_declaration_change_fails(
        monkeypatch,
        RUNTIME,
        handler_calls,
        rotation_calls,
        action=action,
        declared=declared,
        expected=expected,
    )


def test_handler_module_is_self_contained_and_imports_without_credentials() -> None:
    asset = Path(rotation.__file__).parent
    script = (
        "import sys, handler\n"
        "assert not [m for m in sys.modules if m.startswith('strongbox')]\n"
        "print(handler.__name__, handler.STEPS)\n"
    )
    result = run_in_isolation(asset, script)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "handler ('createSecret', 'setSecret', 'testSecret', 'finishSecret')\n"
    )
