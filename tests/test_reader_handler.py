"""The reader Lambda's handler against a local HTTP server that plays the Parameters and Secrets
Lambda Extension, and (for `fresh`) moto's in-process Secrets Manager and SSM.

The handler always asks `localhost`: the fake extension listens on 127.0.0.1, on an ephemeral
port handed over in PARAMETERS_SECRETS_EXTENSION_HTTP_PORT, as the Lambda runtime would.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID

from strongbox.reader import calls as reader_calls
from strongbox.reader import handler
from tests.aws_calls import AwsCall, assert_declaration_change_fails, assert_declared, recording
from tests.conftest import mocked_aws, run_in_isolation

REGION = "eu-west-1"
RUNTIME = "reader handler"
# What the extension calls for load(), with the function's role: the handler asks it over HTTP,
# so the recorder (botocore's hooks) never sees these.
EXTENSION_CALLS = {"secretsmanager:GetSecretValue", "ssm:GetParameter"}
SESSION_TOKEN = "session-token-of-the-function-Fq2wE9rT"  # noqa: S105 - a fake value
SECRET_PREFIX = f"arn:aws:secretsmanager:{REGION}:{DEFAULT_ACCOUNT_ID}:secret"
API_KEY_ARN = f"{SECRET_PREFIX}:payments/dev/api-key-AbCdEf"
DATABASE_ARN = f"{SECRET_PREFIX}:payments/dev/database-Gh1jK2"
UNKNOWN_ARN = f"{SECRET_PREFIX}:payments/dev/nothing-Zz9zZ9"
LOG_LEVEL_PARAMETER = "/payments/dev/log-level"
SIGNING_KEY_PARAMETER = "/payments/dev/webhook signing+key"
API_KEY = "plain-api-key-Zr4tY8uI2oP6aS3d"
PASSWORD = "database-password-Lk9jH3gF5dS1"  # noqa: S105 - a fake value
PREVIOUS_PASSWORD = "previous-password-Vc6xZ2nB8mQ4"  # noqa: S105 - a fake value
NEW_PASSWORD = "rotated-password-Wp7oI1uY3tR5"  # noqa: S105 - a fake value
DATABASE = json.dumps(
    {"username": "payments_app", "password": PASSWORD, "port": 5432, "ssl": True, "ratio": 0.5}
)
PREVIOUS_DATABASE = json.dumps({"username": "payments_app", "password": PREVIOUS_PASSWORD})
NEW_DATABASE = json.dumps({"username": "payments_app", "password": NEW_PASSWORD, "port": 5432})
LOG_LEVEL = "log-level-value-Hs4dF6gJ8kL0"
SIGNING_KEY = "webhook-signing-key-Xb5nM7qW9eR1"
NEW_SIGNING_KEY = "new-signing-key-Tg3yH5uJ7iK9"
CIPHERTEXT = "AQICAHhPZ3Vzd2FzIGVuY3J5cHRlZA=="  # what GetParameter gives without decryption
VALUES = (
    API_KEY,
    PASSWORD,
    PREVIOUS_PASSWORD,
    NEW_PASSWORD,
    LOG_LEVEL,
    SIGNING_KEY,
    NEW_SIGNING_KEY,
    SESSION_TOKEN,
)
_SETTING = re.compile(r"[A-Z0-9_]+_(SECRET_ARN|SECRET_FIELD|SECRET_STAGE|PARAMETER_NAME)")


# ---------------------------------------------------------------------------------------------
# The extension, played by a local HTTP server
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    path: str
    raw_query: str
    query: dict[str, list[str]]
    token: str | None
    host: str | None


@dataclass
class FakeExtension:
    """Serves GetSecretValue and GetParameter JSON from its own (possibly stale) cache.

    Like the real extension it refuses requests without the session token (401) and answers
    404 for what it does not know. Error bodies quote every value: the handler must not use them.
    """

    token: str
    port: int = 0
    secrets: dict[tuple[str, str], str | None] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    status: int | None = None  # answer every request with this status
    delay: float = 0.0

    def secret(self, arn: str, value: str | None, stage: str = "AWSCURRENT") -> None:
        self.secrets[(arn, stage)] = value  # None: a binary secret

    def answer(self, request: BaseHTTPRequestHandler) -> tuple[int, dict[str, Any]]:
        parts = urllib.parse.urlsplit(request.path)
        query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        token = request.headers.get(handler.AUTH_HEADER)
        self.requests.append(
            Request(parts.path, parts.query, query, token, request.headers.get("Host"))
        )
        time.sleep(self.delay)
        error = {"message": f"an error that quotes {' '.join(VALUES)}"}
        if self.status is not None:
            return self.status, error
        if token != self.token:
            return 401, error
        if parts.path == "/secretsmanager/get" and set(query) <= {"secretId", "versionStage"}:
            arn, stage = query["secretId"][0], query.get("versionStage", ["AWSCURRENT"])[0]
            if (arn, stage) not in self.secrets:
                return 404, error
            value = self.secrets[(arn, stage)]
            body: dict[str, Any] = {"ARN": arn, "VersionId": "v1", "VersionStages": [stage]}
            if value is None:
                return 200, body | {"SecretBinary": "AAEC"}
            return 200, body | {"SecretString": value}
        if parts.path == "/systemsmanager/parameters/get":
            name = query["name"][0]
            if name not in self.parameters:
                return 404, error
            decrypted = query.get("withDecryption") == ["true"]
            value = self.parameters[name] if decrypted else CIPHERTEXT
            return 200, {"Parameter": {"Name": name, "Type": "SecureString", "Value": value}}
        return 400, error


class _Server(ThreadingHTTPServer):
    extension: FakeExtension


class _ExtensionRequestHandler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        status, body = self.server.extension.answer(self)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test output is for the handler's logs."""


@pytest.fixture
def extension(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeExtension]:
    server = _Server(("127.0.0.1", 0), _ExtensionRequestHandler)
    server.extension = FakeExtension(token=SESSION_TOKEN, port=server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    monkeypatch.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(server.extension.port))
    try:
        yield server.extension
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# ---------------------------------------------------------------------------------------------
# Environment, logs, AWS
# ---------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if (
            _SETTING.fullmatch(name)
            or name.lower().endswith("_proxy")
            or name.startswith("AWS_")
            or name == "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"
        ):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))


class LogCollector(logging.Handler):
    """Every record of every logger (the handler's own does not propagate to root)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        formatter = handler.JsonLinesHandler()
        return "\n".join(
            f"{record.getMessage()}\n{formatter.format(record)}\n{record.__dict__}"
            for record in self.records
        )


def leaks(text: str) -> list[str]:
    """Values (and the session token) found in `text`."""
    return [value for value in VALUES if value in text]


@pytest.fixture(autouse=True)
def handler_calls() -> Iterator[list[AwsCall]]:
    """Every test: each AWS call the handler makes itself is one reader/calls.py declares."""
    with recording(handler) as calls:
        yield calls
    assert_declared(RUNTIME, calls, reader_calls)


@pytest.fixture(autouse=True)
def log_hygiene(capsys: pytest.CaptureFixture[str]) -> Iterator[LogCollector]:
    """Every test: nothing logged, by the handler or botocore, holds a value."""
    collector = LogCollector()
    loggers = [logging.getLogger(), logging.getLogger(handler.LOGGER_NAME)]
    for logger in loggers:
        logger.addHandler(collector)
    try:
        yield collector
    finally:
        for logger in loggers:
            logger.removeHandler(collector)
    captured = capsys.readouterr()
    assert leaks(f"{collector.text()}\n{captured.out}\n{captured.err}") == []


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The handler's JSON lines on stdout so far (checked for values again, then re-emitted)."""
    out = capsys.readouterr().out
    assert leaks(out) == []
    return [json.loads(line) for line in out.splitlines()]


def configure(monkeypatch: pytest.MonkeyPatch, settings: dict[str, str]) -> None:
    for name, value in settings.items():
        monkeypatch.setenv(name, value)


@dataclass
class Aws:
    secretsmanager: Any
    ssm: Any
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    configs: list[Any] = field(default_factory=list)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """moto's Secrets Manager and SSM; records every call of the clients the handler makes."""
    with mocked_aws():
        aws = Aws(boto3.client("secretsmanager"), boto3.client("ssm"))

        def client(service: str, **kwargs: Any) -> Any:
            made = boto3.client(service, **kwargs)
            aws.configs.append(kwargs.get("config"))

            def record(model: Any, params: dict[str, Any], **_: Any) -> None:
                aws.calls.append((service, model.name, dict(params)))

            made.meta.events.register("provide-client-params", record)
            return made

        monkeypatch.setattr(handler, "boto3", SimpleNamespace(client=client))
        yield aws


def free_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# ---------------------------------------------------------------------------------------------
# load() through the extension
# ---------------------------------------------------------------------------------------------


def test_each_mocked_test_reads_its_own_aws_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The mocked session is new per test (only the service models are shared), so a test's
    config file, credentials and region are the ones its fixtures set, not an earlier test's."""
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    for region in ("eu-west-1", "us-east-2"):
        config = tmp_path / f"{region}.config"
        config.write_text(f"[default]\nregion = {region}\n")
        monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
        with mocked_aws():
            assert boto3.client("ssm").meta.region_name == region


def test_load_reads_every_value_through_the_extension(
    extension: FakeExtension, monkeypatch: pytest.MonkeyPatch
) -> None:
    extension.secret(API_KEY_ARN, API_KEY)
    extension.secret(DATABASE_ARN, DATABASE)
    extension.secret(DATABASE_ARN, PREVIOUS_DATABASE, "AWSPREVIOUS")
    extension.parameters[LOG_LEVEL_PARAMETER] = LOG_LEVEL
    extension.parameters[SIGNING_KEY_PARAMETER] = SIGNING_KEY
    configure(
        monkeypatch,
        {
            "API_KEY_SECRET_ARN": API_KEY_ARN,
            "DB_PASSWORD_SECRET_ARN": DATABASE_ARN,
            "DB_PASSWORD_SECRET_FIELD": "password",
            "DB_PORT_SECRET_ARN": DATABASE_ARN,
            "DB_PORT_SECRET_FIELD": "port",
            "DB_SSL_SECRET_ARN": DATABASE_ARN,
            "DB_SSL_SECRET_FIELD": "ssl",
            "OLD_DB_PASSWORD_SECRET_ARN": DATABASE_ARN,
            "OLD_DB_PASSWORD_SECRET_FIELD": "password",
            "OLD_DB_PASSWORD_SECRET_STAGE": "AWSPREVIOUS",
            "LOG_LEVEL_PARAMETER_NAME": LOG_LEVEL_PARAMETER,
            "SIGNING_KEY_PARAMETER_NAME": SIGNING_KEY_PARAMETER,
        },
    )

    values = handler.load()

    assert values == {
        "API_KEY": API_KEY,
        "DB_PASSWORD": PASSWORD,
        "DB_PORT": "5432",  # JSON numbers and booleans as their JSON text
        "DB_SSL": "true",
        "OLD_DB_PASSWORD": PREVIOUS_PASSWORD,
        "LOG_LEVEL": LOG_LEVEL,
        "SIGNING_KEY": SIGNING_KEY,
    }
    requests = extension.requests
    assert len(requests) == 7
    assert {request.token for request in requests} == {SESSION_TOKEN}
    assert {request.host for request in requests} == {f"localhost:{extension.port}"}
    secret_queries = sorted(r.raw_query for r in requests if r.path == "/secretsmanager/get")
    api_key, database = (urllib.parse.quote(arn, safe="") for arn in (API_KEY_ARN, DATABASE_ARN))
    assert secret_queries == [
        f"secretId={api_key}&versionStage=AWSCURRENT",
        f"secretId={database}&versionStage=AWSCURRENT",
        f"secretId={database}&versionStage=AWSCURRENT",
        f"secretId={database}&versionStage=AWSCURRENT",
        f"secretId={database}&versionStage=AWSPREVIOUS",
    ]
    parameter_queries = sorted(
        r.raw_query for r in requests if r.path == "/systemsmanager/parameters/get"
    )
    # Every character of the name that is not a letter, digit or "-_.~" is escaped.
    assert parameter_queries == [
        "name=%2Fpayments%2Fdev%2Flog-level&withDecryption=true",
        "name=%2Fpayments%2Fdev%2Fwebhook+signing%2Bkey&withDecryption=true",
    ]


def test_handler_returns_and_logs_names_only(
    extension: FakeExtension, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    extension.secret(DATABASE_ARN, DATABASE)
    extension.parameters[SIGNING_KEY_PARAMETER] = SIGNING_KEY
    configure(
        monkeypatch,
        {"DB_SECRET_ARN": DATABASE_ARN, "SIGNING_KEY_PARAMETER_NAME": SIGNING_KEY_PARAMETER},
    )

    result = handler.lambda_handler({"password": "not-from-the-event"}, None)

    assert result == {"loaded": ["DB", "SIGNING_KEY"]}
    assert leaks(json.dumps(result)) == []
    (line,) = log_lines(capsys)
    assert line["level"] == "INFO"
    assert line["logger"] == handler.LOGGER_NAME
    assert line["message"] == "Loaded the configured values"
    assert line["names"] == ["DB", "SIGNING_KEY"]


def test_no_configuration_loads_nothing(
    extension: FakeExtension, capsys: pytest.CaptureFixture[str]
) -> None:
    assert handler.lambda_handler({}, None) == {"loaded": []}
    assert extension.requests == []
    assert [line["names"] for line in log_lines(capsys)] == [[]]


def test_the_extension_is_asked_directly_even_with_a_proxy_configured(
    extension: FakeExtension,
) -> None:
    # A proxy would see the session token; this one does not even listen. A new interpreter,
    # so no opener urllib built earlier (before the proxy variables) can hide a proxied request.
    proxy = f"http://127.0.0.1:{free_port()}"
    environment = {
        "PATH": "/usr/bin:/bin",
        "http_proxy": proxy,
        "HTTP_PROXY": proxy,
        "all_proxy": proxy,
        "AWS_SESSION_TOKEN": SESSION_TOKEN,
        "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(extension.port),
        "API_KEY_SECRET_ARN": API_KEY_ARN,
    }
    extension.secret(API_KEY_ARN, API_KEY)
    script = (
        f"import sys; sys.path.insert(0, {str(Path(handler.__file__).parent)!r})\n"
        f"import handler; print(handler.load() == {{'API_KEY': {API_KEY!r}}})\n"
    )

    result = subprocess.run(
        [sys.executable, "-I", "-c", script],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        timeout=60,
    )

    assert (result.returncode, result.stdout, result.stderr) == (0, "True\n", "")
    assert [request.token for request in extension.requests] == [SESSION_TOKEN]


# ---------------------------------------------------------------------------------------------
# Failures name NAME and the status, never a value
# ---------------------------------------------------------------------------------------------


def _missing_field(extension: FakeExtension, monkeypatch: pytest.MonkeyPatch) -> None:
    extension.secret(DATABASE_ARN, DATABASE)
    configure(monkeypatch, {"DB_SECRET_ARN": DATABASE_ARN, "DB_SECRET_FIELD": "api_key"})


def _field_of_a_plain_secret(extension: FakeExtension, monkeypatch: pytest.MonkeyPatch) -> None:
    extension.secret(API_KEY_ARN, API_KEY)
    configure(monkeypatch, {"API_KEY_SECRET_ARN": API_KEY_ARN, "API_KEY_SECRET_FIELD": "password"})


def _field_that_is_an_object(extension: FakeExtension, monkeypatch: pytest.MonkeyPatch) -> None:
    extension.secret(DATABASE_ARN, json.dumps({"password": {"value": PASSWORD}}))
    configure(monkeypatch, {"DB_SECRET_ARN": DATABASE_ARN, "DB_SECRET_FIELD": "password"})


def _binary_secret(extension: FakeExtension, monkeypatch: pytest.MonkeyPatch) -> None:
    extension.secret(API_KEY_ARN, None)
    configure(monkeypatch, {"API_KEY_SECRET_ARN": API_KEY_ARN})


def _unknown_secret(extension: FakeExtension, monkeypatch: pytest.MonkeyPatch) -> None:
    extension.secret(API_KEY_ARN, API_KEY)
    configure(monkeypatch, {"API_KEY_SECRET_ARN": API_KEY_ARN, "MISSING_SECRET_ARN": UNKNOWN_ARN})


def _stage_the_extension_cannot_find(
    extension: FakeExtension, monkeypatch: pytest.MonkeyPatch
) -> None:
    extension.secret(DATABASE_ARN, DATABASE)
    configure(monkeypatch, {"DB_SECRET_ARN": DATABASE_ARN, "DB_SECRET_STAGE": "AWSPENDING"})


def _unknown_parameter(extension: FakeExtension, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(monkeypatch, {"LOG_LEVEL_PARAMETER_NAME": "/payments/dev/nothing"})


def _wrong_token(extension: FakeExtension, monkeypatch: pytest.MonkeyPatch) -> None:
    extension.secret(API_KEY_ARN, API_KEY)
    configure(
        monkeypatch, {"API_KEY_SECRET_ARN": API_KEY_ARN, "AWS_SESSION_TOKEN": "an-expired-token"}
    )


def _extension_failure(extension: FakeExtension, monkeypatch: pytest.MonkeyPatch) -> None:
    extension.parameters[LOG_LEVEL_PARAMETER] = LOG_LEVEL
    extension.status = 502
    configure(monkeypatch, {"LOG_LEVEL_PARAMETER_NAME": LOG_LEVEL_PARAMETER})


def _no_content(extension: FakeExtension, monkeypatch: pytest.MonkeyPatch) -> None:
    extension.secret(API_KEY_ARN, API_KEY)
    extension.status = 204
    configure(monkeypatch, {"API_KEY_SECRET_ARN": API_KEY_ARN})


FAILURES: dict[str, tuple[Callable[[FakeExtension, pytest.MonkeyPatch], None], str]] = {
    "missing-field": (_missing_field, "DB: the secret is not a JSON object with field 'api_key'"),
    "field-of-a-plain-secret": (
        _field_of_a_plain_secret,
        "API_KEY: the secret is not a JSON object with field 'password'",
    ),
    "field-that-is-an-object": (
        _field_that_is_an_object,
        "DB: field 'password' is not a string, number or boolean",
    ),
    "binary-secret": (_binary_secret, "API_KEY: the secret has no SecretString (a binary secret)"),
    "unknown-secret": (_unknown_secret, "MISSING: the extension answered HTTP 404"),
    "unknown-stage": (_stage_the_extension_cannot_find, "DB: the extension answered HTTP 404"),
    "unknown-parameter": (_unknown_parameter, "LOG_LEVEL: the extension answered HTTP 404"),
    "wrong-token": (_wrong_token, "API_KEY: the extension answered HTTP 401"),
    "extension-failure": (_extension_failure, "LOG_LEVEL: the extension answered HTTP 502"),
    "no-content": (_no_content, "API_KEY: the extension answered HTTP 204"),
}


@pytest.mark.parametrize("case", FAILURES.values(), ids=FAILURES.keys())
def test_failures_name_the_name_and_the_status_but_never_a_value(
    extension: FakeExtension,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    case: tuple[Callable[[FakeExtension, pytest.MonkeyPatch], None], str],
) -> None:
    arrange, message = case
    arrange(extension, monkeypatch)

    with pytest.raises(handler.ReaderError) as raised:
        handler.lambda_handler({}, None)

    assert str(raised.value) == message
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__ or raised.value.__context__ is None
    assert extension.requests  # the extension was asked
    assert {request.token for request in extension.requests} == {os.environ["AWS_SESSION_TOKEN"]}
    (line,) = log_lines(capsys)
    assert (line["level"], line["message"], line["error"]) == (
        "ERROR",
        "Loading the configured values failed",
        message,
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"DB_SECRET_FIELD": "password"}, "DB_SECRET_ARN must be set and not empty"),
        ({"DB_SECRET_ARN": " "}, "DB_SECRET_ARN must be set and not empty"),
        ({"LOG_PARAMETER_NAME": ""}, "LOG_PARAMETER_NAME must be set and not empty"),
        (
            {"DB_SECRET_ARN": DATABASE_ARN, "DB_PARAMETER_NAME": LOG_LEVEL_PARAMETER},
            "DB is configured both as a secret and as a parameter",
        ),
        (
            {"LOG_PARAMETER_NAME": LOG_LEVEL_PARAMETER, "LOG_SECRET_STAGE": "AWSPREVIOUS"},
            "LOG is configured both as a secret and as a parameter",
        ),
        (
            {"DB_SECRET_ARN": DATABASE_ARN, "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": "http"},
            "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT must be a port number",
        ),
        (
            {"DB_SECRET_ARN": DATABASE_ARN, "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": "65536"},
            "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT must be a port number",
        ),
        (
            {"DB_SECRET_ARN": DATABASE_ARN, "AWS_SESSION_TOKEN": ""},
            "DB: AWS_SESSION_TOKEN is not set (the extension requires it)",
        ),
    ],
    ids=[
        "field-without-arn",
        "blank-arn",
        "empty-parameter-name",
        "secret-and-parameter",
        "parameter-with-a-stage",
        "port-not-a-number",
        "port-out-of-range",
        "no-session-token",
    ],
)
def test_bad_configuration_fails_before_asking_the_extension(
    extension: FakeExtension,
    monkeypatch: pytest.MonkeyPatch,
    settings: dict[str, str],
    message: str,
) -> None:
    extension.secret(DATABASE_ARN, DATABASE)
    configure(monkeypatch, settings)

    with pytest.raises(handler.ReaderError) as raised:
        handler.load()

    assert str(raised.value) == message
    assert extension.requests == []


def test_an_absent_extension_is_an_error_naming_the_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure(
        monkeypatch,
        {
            "API_KEY_SECRET_ARN": API_KEY_ARN,
            "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(free_port()),
        },
    )

    with pytest.raises(handler.ReaderError) as raised:
        handler.load()

    assert str(raised.value) == "API_KEY: no answer from the extension (URLError)"


def test_a_hanging_extension_times_out(
    extension: FakeExtension, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert handler.TIMEOUT_SECONDS == 5
    monkeypatch.setattr(handler, "TIMEOUT_SECONDS", 0.2)
    extension.delay = 1.0
    extension.secret(API_KEY_ARN, API_KEY)
    configure(monkeypatch, {"API_KEY_SECRET_ARN": API_KEY_ARN})

    started = time.monotonic()
    with pytest.raises(handler.ReaderError) as raised:
        handler.load()

    assert time.monotonic() - started < 0.9
    assert str(raised.value) == "API_KEY: no answer from the extension (TimeoutError)"


# ---------------------------------------------------------------------------------------------
# fresh(): straight from Secrets Manager and SSM
# ---------------------------------------------------------------------------------------------


def test_fresh_reads_the_rotated_secret_the_extension_still_caches(
    extension: FakeExtension,
    aws: Aws,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    arn = aws.secretsmanager.create_secret(Name="payments/dev/database", SecretString=DATABASE)[
        "ARN"
    ]
    extension.secret(arn, DATABASE)
    configure(monkeypatch, {"DB_SECRET_ARN": arn, "DB_SECRET_FIELD": "password"})
    # A single-user rotation: AWSCURRENT moves to the new password, the extension's TTL runs.
    aws.secretsmanager.put_secret_value(SecretId=arn, SecretString=NEW_DATABASE)
    assert handler.load() == {"DB": PASSWORD}
    asked = len(extension.requests)

    assert handler.fresh("DB") == NEW_PASSWORD

    assert len(extension.requests) == asked  # fresh() bypasses the extension
    assert aws.calls == [
        ("secretsmanager", "GetSecretValue", {"SecretId": arn, "VersionStage": "AWSCURRENT"})
    ]
    assert aws.configs == [handler.CLIENT_CONFIG]
    (line,) = log_lines(capsys)
    assert (line["message"], line["names"]) == (
        "Read a fresh value, bypassing the extension",
        ["DB"],
    )


def test_fresh_keeps_the_version_stage(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    arn = aws.secretsmanager.create_secret(Name="payments/dev/database", SecretString=DATABASE)[
        "ARN"
    ]
    aws.secretsmanager.put_secret_value(SecretId=arn, SecretString=NEW_DATABASE)
    configure(
        monkeypatch,
        {"DB_SECRET_ARN": arn, "DB_SECRET_FIELD": "password", "DB_SECRET_STAGE": "AWSPREVIOUS"},
    )

    assert handler.fresh("DB") == PASSWORD
    assert aws.calls == [
        ("secretsmanager", "GetSecretValue", {"SecretId": arn, "VersionStage": "AWSPREVIOUS"})
    ]


def test_fresh_reads_the_parameter_with_get_parameters_decrypted(
    extension: FakeExtension, aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws.ssm.put_parameter(Name=SIGNING_KEY_PARAMETER, Value=SIGNING_KEY, Type="SecureString")
    extension.parameters[SIGNING_KEY_PARAMETER] = SIGNING_KEY
    configure(monkeypatch, {"SIGNING_KEY_PARAMETER_NAME": SIGNING_KEY_PARAMETER})
    aws.ssm.put_parameter(
        Name=SIGNING_KEY_PARAMETER, Value=NEW_SIGNING_KEY, Type="SecureString", Overwrite=True
    )
    assert handler.load() == {"SIGNING_KEY": SIGNING_KEY}

    assert handler.fresh("SIGNING_KEY") == NEW_SIGNING_KEY

    # The role is granted ssm:GetParameters, not ssm:GetParameter.
    assert aws.calls == [
        ("ssm", "GetParameters", {"Names": [SIGNING_KEY_PARAMETER], "WithDecryption": True})
    ]
    assert len(extension.requests) == 1


def test_fresh_of_a_missing_parameter_fails(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(monkeypatch, {"LOG_LEVEL_PARAMETER_NAME": "/payments/dev/nothing"})

    with pytest.raises(handler.ReaderError) as raised:
        handler.fresh("LOG_LEVEL")

    assert str(raised.value) == "LOG_LEVEL: parameter /payments/dev/nothing was not found"
    assert [operation for _, operation, _ in aws.calls] == ["GetParameters"]


def test_fresh_of_a_missing_field_fails_without_the_value(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = aws.secretsmanager.create_secret(Name="payments/dev/database", SecretString=DATABASE)[
        "ARN"
    ]
    configure(monkeypatch, {"DB_SECRET_ARN": arn, "DB_SECRET_FIELD": "api_key"})

    with pytest.raises(handler.ReaderError) as raised:
        handler.fresh("DB")

    assert str(raised.value) == "DB: the secret is not a JSON object with field 'api_key'"


def test_fresh_of_an_unconfigured_name_fails_without_calling_aws(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, {"API_KEY_SECRET_ARN": API_KEY_ARN})

    with pytest.raises(handler.ReaderError) as raised:
        handler.fresh("DB")

    assert str(raised.value) == "DB is not configured: no DB_SECRET_ARN or _PARAMETER_NAME"
    assert aws.calls == []


# ---------------------------------------------------------------------------------------------
# Declared calls (reader/calls.py)
# ---------------------------------------------------------------------------------------------


def fresh_secret_and_parameter(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> str:
    """fresh() of a secret's field and of a parameter; returns the secret's ARN."""
    arn: str = aws.secretsmanager.create_secret(Name="payments/dev/db", SecretString=DATABASE)[
        "ARN"
    ]
    aws.ssm.put_parameter(Name=LOG_LEVEL_PARAMETER, Value=LOG_LEVEL, Type="SecureString")
    configure(
        monkeypatch,
        {
            "DB_SECRET_ARN": arn,
            "DB_SECRET_FIELD": "password",
            "LEVEL_PARAMETER_NAME": LOG_LEVEL_PARAMETER,
        },
    )
    assert (handler.fresh("DB"), handler.fresh("LEVEL")) == (PASSWORD, LOG_LEVEL)
    return arn


def test_fresh_makes_every_declared_call_the_extension_does_not(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, handler_calls: list[AwsCall]
) -> None:
    arn = fresh_secret_and_parameter(aws, monkeypatch)

    # A declaration nothing makes fails here, as a missing one fails every test.
    made = {call.action for call in handler_calls}
    assert made == {"secretsmanager:GetSecretValue", "ssm:GetParameters"}
    assert made | EXTENSION_CALLS == set(reader_calls.CALLS)
    named = {resource for call in handler_calls for resource in call.resources() or []}
    assert named == {("secret", arn), ("parameter", LOG_LEVEL_PARAMETER)}


def test_a_call_the_declarations_leave_out_fails_naming_it(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, handler_calls: list[AwsCall]
) -> None:
    fresh_secret_and_parameter(aws, monkeypatch)
    expected = (
        f"{RUNTIME} called ssm:GetParameters (Names=['{LOG_LEVEL_PARAMETER}']) which"
        " constructs/strongbox/reader/calls.py does not declare"
    )

    assert_declaration_change_fails(
        monkeypatch,
        RUNTIME,
        handler_calls,
        reader_calls,
        action="ssm:GetParameters",
        declared=None,
        expected=expected,
    )


# ---------------------------------------------------------------------------------------------
# Packaging
# ---------------------------------------------------------------------------------------------


def test_handler_module_is_self_contained_and_imports_without_credentials() -> None:
    asset = Path(handler.__file__).parent
    script = (
        "import sys, handler\n"
        "assert not [m for m in sys.modules if m.startswith('strongbox')]\n"
        "print(handler.__name__, handler.load(), callable(handler.fresh))\n"
        "print(handler.lambda_handler({}, None))\n"
    )
    result = run_in_isolation(asset, script)
    assert result.returncode == 0, result.stderr
    first, log, last = result.stdout.splitlines()
    assert first == "handler {} True"
    assert json.loads(log)["names"] == []
    assert last == "{'loaded': []}"
