"""Example workload function reading its secrets and parameters through the AWS Parameters and
Secrets Lambda Extension. Replace it with your own code, but keep ``load`` and ``fresh``.

Configuration (environment variables set by the construct), for each NAME (``A-Z0-9_``): a
secret's complete ARN in ``NAME_SECRET_ARN``, with optional ``NAME_SECRET_FIELD`` (the secret is
a JSON object, this field is the value; numbers and booleans as JSON text) and
``NAME_SECRET_STAGE`` (default ``AWSCURRENT``); or a parameter's full name in
``NAME_PARAMETER_NAME`` (decrypted). ``PARAMETERS_SECRETS_EXTENSION_HTTP_PORT``: default 2773.

``load()`` returns each NAME's value from the extension's cache (``http://localhost``, no proxy,
``AWS_SESSION_TOKEN`` in the ``X-Aws-Parameters-Secrets-Token`` header, 5 s timeout). Values
stay in memory, never in the environment, files, the result or the logs (JSON lines on stdout,
NAMEs only; botocore kept at INFO+, its DEBUG logs response bodies). Failures raise
``ReaderError``, whose message names NAME and the setting or HTTP status, never a value.

Why ``fresh(name)``: the extension keeps a value until its TTL (``SECRETS_MANAGER_TTL``,
``SSM_PARAMETER_STORE_TTL``, default 300 s) expires, so after a rotation it can serve the old
one, and single-user database rotation invalidates the old password at once. On an
authentication failure with a cached credential, call ``fresh`` once (Secrets Manager's
``GetSecretValue`` at the stage, or Parameter Store's ``GetParameters``, the action the role is
granted) and retry once, never in a loop; until the TTL expires later invocations may too::

    try:
        connection = connect(password=load()["DB"])
    except AuthenticationFailed:
        connection = connect(password=fresh("DB"))  # a second failure is a real error
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]

LOGGER_NAME = "strongbox.reader"
DEFAULT_STAGE = "AWSCURRENT"
TIMEOUT_SECONDS = 5.0
AUTH_HEADER = "X-Aws-Parameters-Secrets-Token"
CLIENT_CONFIG = Config(connect_timeout=3, read_timeout=5, retries={"total_max_attempts": 2})
_SETTING = re.compile(r"([A-Z0-9_]+)_(SECRET_ARN|SECRET_FIELD|SECRET_STAGE|PARAMETER_NAME)")
# The extension is local: a proxy from HTTP_PROXY must never see the session token.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ReaderError(RuntimeError):
    """A value could not be read. Messages name NAME, settings and statuses, never values."""


class JsonLinesHandler(logging.Handler):
    """One JSON object per record on stdout (as it is at emit time); never a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        created = datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat()
        entry = {"timestamp": created, "level": record.levelname, "logger": record.name}
        entry |= {f: getattr(record, f) for f in ("names", "error") if hasattr(record, f)}
        return json.dumps({"message": record.getMessage(), **entry})

    def emit(self, record: logging.LogRecord) -> None:
        print(self.format(record), flush=True)  # Lambda ships stdout to CloudWatch Logs


logger = logging.getLogger(LOGGER_NAME)
if not any(isinstance(handler, JsonLinesHandler) for handler in logger.handlers):
    logger.addHandler(JsonLinesHandler())
logger.setLevel(logging.INFO)
logger.propagate = False  # JSON already: not for the runtime's text handler on root
for _library in ("botocore", "boto3", "urllib3"):  # at DEBUG they log response bodies
    logging.getLogger(_library).setLevel(max(logging.INFO, logging.getLogger(_library).level))


@dataclass(frozen=True)
class Source:
    """Where NAME's value comes from: a secret (ARN, JSON field, stage) or a parameter."""

    name: str
    secret_arn: str | None = None
    field: str | None = None
    stage: str = DEFAULT_STAGE
    parameter_name: str | None = None


def _source(name: str, settings: Mapping[str, str]) -> Source:
    kind = "PARAMETER_NAME" if "PARAMETER_NAME" in settings else "SECRET_ARN"
    if kind == "PARAMETER_NAME" and len(settings) > 1:
        raise ReaderError(f"{name} is configured both as a secret and as a parameter")
    if not settings.get(kind):
        raise ReaderError(f"{name}_{kind} must be set and not empty")
    if kind == "PARAMETER_NAME":
        return Source(name, parameter_name=settings[kind])
    field, stage = settings.get("SECRET_FIELD") or None, settings.get("SECRET_STAGE")
    return Source(name, settings[kind], field, stage or DEFAULT_STAGE)


def sources() -> dict[str, Source]:
    """Every NAME configured in the environment, with its source."""
    settings: dict[str, dict[str, str]] = {}
    for key, value in os.environ.items():
        if match := _SETTING.fullmatch(key):
            settings.setdefault(match[1], {})[match[2]] = value.strip()
    return {name: _source(name, found) for name, found in sorted(settings.items())}


def _secret_value(source: Source, response: Mapping[str, Any]) -> str:
    """NAME's value in a GetSecretValue response: the SecretString or one of its JSON fields."""
    name, field, secret_string = source.name, source.field, response.get("SecretString")
    if not isinstance(secret_string, str):
        raise ReaderError(f"{name}: the secret has no SecretString (a binary secret)")
    if field is None:
        return secret_string
    try:
        value = json.loads(secret_string)[field]
    except (ValueError, TypeError, KeyError, IndexError):
        raise ReaderError(f"{name}: the secret is not a JSON object with field {field!r}") from None
    if not isinstance(value, str | int | float):  # e.g. a database secret's port
        raise ReaderError(f"{name}: field {field!r} is not a string, number or boolean")
    return value if isinstance(value, str) else json.dumps(value)


def _from_extension(name: str, path: str, query: Mapping[str, str]) -> dict[str, Any]:
    port = os.environ.get("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "").strip() or "2773"
    if not re.fullmatch(r"[0-9]{1,5}", port) or not 0 < int(port) < 65536:
        raise ReaderError("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT must be a port number")
    token = os.environ.get("AWS_SESSION_TOKEN")
    if not token:
        raise ReaderError(f"{name}: AWS_SESSION_TOKEN is not set (the extension requires it)")
    url = f"http://localhost:{port}/{path}?{urllib.parse.urlencode(query)}"
    request = urllib.request.Request(url, headers={AUTH_HEADER: token})
    try:
        with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        exc.close()
        raise ReaderError(f"{name}: the extension answered HTTP {exc.code}") from None
    except OSError as exc:  # refused, timed out: the extension is not there (yet)
        raise ReaderError(f"{name}: no answer from the extension ({type(exc).__name__})") from None
    if status != 200:
        raise ReaderError(f"{name}: the extension answered HTTP {status}")
    return dict(json.loads(body))  # GetSecretValue's or GetParameter's JSON


def _read(source: Source) -> str:
    if source.secret_arn is not None:
        query = {"secretId": source.secret_arn, "versionStage": source.stage}
        return _secret_value(source, _from_extension(source.name, "secretsmanager/get", query))
    query = {"name": str(source.parameter_name), "withDecryption": "true"}
    answer = _from_extension(source.name, "systemsmanager/parameters/get", query)
    return str(answer["Parameter"]["Value"])


def load() -> dict[str, str]:
    """Every configured NAME and its value, read through the extension's cache."""
    return {name: _read(source) for name, source in sources().items()}


def fresh(name: str) -> str:
    """NAME's value straight from Secrets Manager or Parameter Store, bypassing the cache."""
    source = sources().get(name)
    if source is None:
        raise ReaderError(f"{name} is not configured: no {name}_SECRET_ARN or _PARAMETER_NAME")
    if source.secret_arn is not None:
        client = boto3.client("secretsmanager", config=CLIENT_CONFIG)
        response = client.get_secret_value(SecretId=source.secret_arn, VersionStage=source.stage)
        value = _secret_value(source, response)
    else:
        client = boto3.client("ssm", config=CLIENT_CONFIG)
        response = client.get_parameters(Names=[source.parameter_name], WithDecryption=True)
        if response.get("InvalidParameters") or not response.get("Parameters"):
            raise ReaderError(f"{name}: parameter {source.parameter_name} was not found")
        value = str(response["Parameters"][0]["Value"])
    logger.info("Read a fresh value, bypassing the extension", extra={"names": [name]})
    return value


def lambda_handler(event: Any, context: Any) -> dict[str, list[str]]:
    """Entry point: load every configured value; answer and log with the NAMEs only."""
    try:
        names = sorted(load())
    except ReaderError as exc:
        logger.error("Loading the configured values failed", extra={"error": str(exc)})
        raise
    logger.info("Loaded the configured values", extra={"names": names})
    return {"loaded": names}
