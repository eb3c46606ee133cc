"""Secrets Manager rotation function: the four-step rotation protocol, pluggable strategies.

Protocol
--------
To rotate a secret, Secrets Manager registers a new version id (the event's
``ClientRequestToken``) carrying the staging label ``AWSPENDING`` and then invokes this
function once per step, with the event ``{"SecretId", "ClientRequestToken", "Step"}``:

``createSecret``
    Store a new value as the ``AWSPENDING`` version. A retry that finds the version already
    holding a value keeps it, so every later step sees the same value.
``setSecret``
    Make the new value valid wherever it is used: ``strategy.set(pending, current)``.
``testSecret``
    Prove the new value works: ``strategy.test(pending)``.
``finishSecret``
    Move ``AWSCURRENT`` to the new version. Secrets Manager then moves ``AWSPREVIOUS`` to the
    version that lost ``AWSCURRENT``, so the old value stays readable as the last known good
    version. The handler also takes ``AWSPENDING`` off the new version, leaving the secret in
    the documented "no rotation in progress" state.

Each step is safe to re-run: Lambda retries failed invocations and Secrets Manager retries a
failed rotation with the same token. Errors from AWS (throttling, timeouts, ...) propagate
unchanged after a log line, so those retries happen; nothing moves ``AWSCURRENT`` before
``finishSecret``, so a failed rotation leaves the last good value current.

Configuration (environment variables)
-------------------------------------
``ROTATION_STRATEGY``
    ``token`` (the default) or ``module.path:attribute`` (see below).
``TOKEN_LENGTH`` (default 40), ``TOKEN_EXCLUDE_CHARACTERS`` (default none),
``TOKEN_EXCLUDE_PUNCTUATION`` (``true``/``false``, default ``true``)
    Options of the ``GetRandomPassword`` call that makes the token strategy's new value.
``TOKEN_FIELD``
    Empty (the default): the whole ``SecretString`` is the token. Set: the secret is a JSON
    object and only this field is replaced; the other fields are kept as they are.
``SECRETS_MANAGER_ENDPOINT``
    Endpoint URL of Secrets Manager (for example an interface VPC endpoint's DNS name).
``LOG_LEVEL``
    Level of this function's logs (default ``INFO``).

Extension point: your own strategy
----------------------------------
The built-in ``token`` strategy rotates a value that only Secrets Manager knows about (its
``set`` does nothing). When the value must also change somewhere else, for example an API key
issued by a third-party service, write a strategy: any object with the three methods of
``RotationStrategy``::

    # my_vendor.py, shipped next to handler.py in your own copy of this code asset
    class VendorKeyStrategy:
        def create(self, client, current_value):
            return client.get_random_password(PasswordLength=48)["RandomPassword"]

        def set(self, pending_value, current_value):
            ...  # authenticate with current_value, register pending_value with the vendor

        def test(self, pending_value):
            ...  # call the vendor with pending_value; raise if it is refused

and set ``ROTATION_STRATEGY=my_vendor:VendorKeyStrategy``. The module is imported with
``importlib`` and the attribute (a class or a factory function) is called with no arguments
on every invocation. ``set`` and ``test`` may be invoked again after a retry, so make them
idempotent; raise to fail the step. Never put secret values into exception messages: the
Lambda runtime logs the message of the exception that ends an invocation.

Logging
-------
One JSON object per line on stdout: level, message, step, secret ARN, token and, for failures,
the error type and AWS error code. Secret values are never logged, and neither are messages
of exceptions this module did not raise (they could quote a value). botocore's loggers are
kept at INFO or above because at DEBUG it logs request and response bodies, which carry
``SecretString``.
"""

from __future__ import annotations

import contextvars
import datetime
import importlib
import json
import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import boto3  # type: ignore[import-untyped]

CURRENT = "AWSCURRENT"
PENDING = "AWSPENDING"
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
LOGGER_NAME = "strongbox.rotation"

# Extra attributes a log call may attach (`extra=`) that the JSON formatter writes out.
_EXTRA_FIELDS = ("strategy", "version_id", "error", "error_type", "error_code")


class RotationError(ValueError):
    """The secret or the configuration is not in a state this rotation can handle.

    Messages name secrets, versions and settings, never secret values.
    """


# ---------------------------------------------------------------------------------------------
# Logging
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Invocation:
    step: str
    secret_arn: str
    token: str


_invocation: contextvars.ContextVar[_Invocation | None] = contextvars.ContextVar(
    "strongbox_rotation_invocation", default=None
)


class _InvocationFilter(logging.Filter):
    """Stamps every record with the step, secret ARN and token of the running invocation."""

    def filter(self, record: logging.LogRecord) -> bool:
        invocation = _invocation.get()
        record.step = invocation.step if invocation else None
        record.secret_arn = invocation.secret_arn if invocation else None
        record.token = invocation.token if invocation else None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record. Deliberately never writes exception text or tracebacks."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "step": getattr(record, "step", None),
            "secret_arn": getattr(record, "secret_arn", None),
            "token": getattr(record, "token", None),
        }
        for field in _EXTRA_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        return json.dumps(entry, default=str)


class _StdoutHandler(logging.Handler):
    """Writes to whatever sys.stdout is at emit time (Lambda ships stdout to CloudWatch)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
            sys.stdout.flush()
        except Exception:
            self.handleError(record)


def _configure_logging() -> logging.Logger:
    log = logging.getLogger(LOGGER_NAME)
    if not any(isinstance(handler, _StdoutHandler) for handler in log.handlers):
        handler = _StdoutHandler()
        handler.setFormatter(JsonFormatter())
        log.addHandler(handler)
        log.addFilter(_InvocationFilter())
    level = os.environ.get("LOG_LEVEL", "INFO").strip().upper()
    log.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
    # Our records are JSON already: don't pass them on to the runtime's text handler on root.
    log.propagate = False
    # botocore logs request and response bodies (SecretString included) at DEBUG.
    for name in ("botocore", "boto3", "urllib3"):
        library_logger = logging.getLogger(name)
        library_logger.setLevel(max(logging.INFO, library_logger.getEffectiveLevel()))
    return log


logger = _configure_logging()


def _error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------


@runtime_checkable
class RotationStrategy(Protocol):
    """What a rotation strategy provides. Values are SecretString values."""

    def create(self, client: Any, current_value: str) -> str:
        """Return the new value, derived from the current one (createSecret)."""
        ...

    def set(self, pending_value: str, current_value: str) -> None:
        """Make the pending value valid where it is used (setSecret)."""
        ...

    def test(self, pending_value: str) -> None:
        """Raise unless the pending value works (testSecret)."""
        ...


def _int_setting(environ: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise RotationError(f"{name} must be an integer") from None
    if not low <= value <= high:
        raise RotationError(f"{name} must be between {low} and {high}")
    return value


def _bool_setting(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in ("true", "false"):
        raise RotationError(f"{name} must be 'true' or 'false'")
    return raw == "true"


def _json_object(value: str, label: str) -> dict[str, Any]:
    try:
        parsed = json.loads(value)
    except ValueError:
        raise RotationError(f"The {label} value is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise RotationError(f"The {label} value is not a JSON object")
    return parsed


class TokenStrategy:
    """A random token from GetRandomPassword: the whole SecretString, or one JSON field of it.

    Only Secrets Manager holds the token, so there is nothing to set; the old value stays
    readable as AWSPREVIOUS until the next rotation.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.length = _int_setting(env, "TOKEN_LENGTH", 40, 1, 4096)
        self.exclude_characters = env.get("TOKEN_EXCLUDE_CHARACTERS", "")
        self.exclude_punctuation = _bool_setting(env, "TOKEN_EXCLUDE_PUNCTUATION", True)
        self.field = env.get("TOKEN_FIELD", "").strip()

    def create(self, client: Any, current_value: str) -> str:
        options: dict[str, Any] = {
            "PasswordLength": self.length,
            "ExcludePunctuation": self.exclude_punctuation,
        }
        if self.exclude_characters:
            options["ExcludeCharacters"] = self.exclude_characters
        token = client.get_random_password(**options)["RandomPassword"]
        if not self.field:
            return str(token)
        fields = _json_object(current_value, CURRENT)
        fields[self.field] = token
        return json.dumps(fields)

    def set(self, pending_value: str, current_value: str) -> None:
        """Nothing outside Secrets Manager knows the token."""

    def test(self, pending_value: str) -> None:
        if not pending_value:
            raise RotationError(f"The {PENDING} value is empty")
        if self.field:
            token = _json_object(pending_value, PENDING).get(self.field)
            if not isinstance(token, str) or not token:
                raise RotationError(
                    f"The {PENDING} value has no non-empty string field {self.field!r}"
                )


def load_strategy(spec: str | None = None) -> RotationStrategy:
    """The strategy ROTATION_STRATEGY (or `spec`) names: "token" or "module.path:attribute"."""
    if spec is None:
        spec = os.environ.get("ROTATION_STRATEGY", "")
    spec = spec.strip() or "token"
    if spec == "token":
        return TokenStrategy()
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise RotationError(
            f"ROTATION_STRATEGY must be 'token' or 'module.path:attribute', not {spec!r}"
        )
    module = importlib.import_module(module_name)
    try:
        factory = getattr(module, attribute)
    except AttributeError:
        raise RotationError(f"ROTATION_STRATEGY {spec!r}: module has no {attribute!r}") from None
    strategy = factory()
    if not isinstance(strategy, RotationStrategy):
        raise RotationError(
            f"ROTATION_STRATEGY {spec!r} did not return an object with create(), set() and test()"
        )
    return strategy


# ---------------------------------------------------------------------------------------------
# The protocol
# ---------------------------------------------------------------------------------------------


def make_client() -> Any:
    """The Secrets Manager client, created per invocation (import needs no AWS credentials)."""
    return boto3.client(
        "secretsmanager", endpoint_url=os.environ.get("SECRETS_MANAGER_ENDPOINT") or None
    )


def _secret_string(response: Mapping[str, Any], label: str) -> str:
    value = response.get("SecretString")
    if not isinstance(value, str):
        raise RotationError(f"The {label} version has no SecretString; only strings rotate")
    return value


def _pending_value(client: Any, arn: str, token: str) -> str:
    response = client.get_secret_value(SecretId=arn, VersionId=token, VersionStage=PENDING)
    return _secret_string(response, PENDING)


def _current_value(client: Any, arn: str) -> str:
    return _secret_string(client.get_secret_value(SecretId=arn, VersionStage=CURRENT), CURRENT)


def _create_secret(
    client: Any, strategy: RotationStrategy, arn: str, token: str, metadata: Mapping[str, Any]
) -> None:
    current = _current_value(client, arn)
    try:
        client.get_secret_value(SecretId=arn, VersionId=token, VersionStage=PENDING)
    except client.exceptions.ResourceNotFoundException:
        pass
    else:
        logger.info("The AWSPENDING version already has a value; keeping it")
        return
    new_value = strategy.create(client, current)
    if not isinstance(new_value, str) or not new_value:
        raise RotationError("The rotation strategy returned an empty or non-string value")
    if new_value == current:
        raise RotationError("The rotation strategy returned the AWSCURRENT value unchanged")
    client.put_secret_value(
        SecretId=arn, ClientRequestToken=token, SecretString=new_value, VersionStages=[PENDING]
    )
    logger.info("Stored a new value as the AWSPENDING version")


def _set_secret(
    client: Any, strategy: RotationStrategy, arn: str, token: str, metadata: Mapping[str, Any]
) -> None:
    strategy.set(_pending_value(client, arn, token), _current_value(client, arn))
    logger.info("The strategy set the AWSPENDING value")


def _test_secret(
    client: Any, strategy: RotationStrategy, arn: str, token: str, metadata: Mapping[str, Any]
) -> None:
    strategy.test(_pending_value(client, arn, token))
    logger.info("The strategy accepted the AWSPENDING value")


def _finish_secret(
    client: Any, strategy: RotationStrategy, arn: str, token: str, metadata: Mapping[str, Any]
) -> None:
    versions: Mapping[str, list[str]] = metadata.get("VersionIdsToStages", {})
    current_version = next((v for v, stages in versions.items() if CURRENT in stages), None)
    if current_version == token:
        logger.info("The version is already AWSCURRENT")
        return
    move: dict[str, Any] = {"SecretId": arn, "VersionStage": CURRENT, "MoveToVersionId": token}
    if current_version is not None:
        move["RemoveFromVersionId"] = current_version
    # Secrets Manager moves AWSPREVIOUS to `current_version` as part of this call.
    client.update_secret_version_stage(**move)
    logger.info("Moved AWSCURRENT to the new version", extra={"version_id": token})
    client.update_secret_version_stage(
        SecretId=arn, VersionStage=PENDING, RemoveFromVersionId=token
    )
    logger.info("Removed AWSPENDING: the rotation is complete")


_STEP_FUNCTIONS: dict[str, Callable[[Any, RotationStrategy, str, str, Mapping[str, Any]], None]] = {
    "createSecret": _create_secret,
    "setSecret": _set_secret,
    "testSecret": _test_secret,
    "finishSecret": _finish_secret,
}


def _check_version(metadata: Mapping[str, Any], arn: str, token: str) -> bool:
    """Whether the step has work to do; raises if the version is not being rotated."""
    if not metadata.get("RotationEnabled"):
        raise RotationError(f"Secret {arn} is not enabled for rotation")
    versions: Mapping[str, list[str]] = metadata.get("VersionIdsToStages", {})
    if token not in versions:
        raise RotationError(f"Secret version {token} has no stage for rotation of secret {arn}")
    if CURRENT in versions[token]:
        return False
    if PENDING not in versions[token]:
        raise RotationError(
            f"Secret version {token} not set as AWSPENDING for rotation of secret {arn}"
        )
    return True


def lambda_handler(event: Mapping[str, Any], context: Any) -> None:
    """Entry point: run one step of the rotation of `SecretId` to version `ClientRequestToken`."""
    arn = str(event["SecretId"])
    token = str(event["ClientRequestToken"])
    step = str(event["Step"])
    scope = _invocation.set(_Invocation(step=step, secret_arn=arn, token=token))
    try:
        _run_step(arn, token, step)
    finally:
        _invocation.reset(scope)


def _run_step(arn: str, token: str, step: str) -> None:
    if step not in _STEP_FUNCTIONS:
        logger.error("Invalid rotation step")
        raise ValueError(f"Invalid step parameter {step}")
    logger.info("Rotation step started")
    try:
        client = make_client()
        metadata = client.describe_secret(SecretId=arn)
        logger.debug("Described the secret", extra={"version_id": token})
        if not _check_version(metadata, arn, token):
            logger.info("The version is already AWSCURRENT; nothing to do")
            return
        strategy = load_strategy()
        logger.debug("Loaded the strategy", extra={"strategy": type(strategy).__name__})
        _STEP_FUNCTIONS[step](client, strategy, arn, token, metadata)
    except RotationError as exc:
        # Our own messages carry no secret values.
        logger.error(
            "Rotation step failed", extra={"error": str(exc), "error_type": "RotationError"}
        )
        raise
    except Exception as exc:
        # Messages of other exceptions could quote a value: log their type and AWS code only.
        logger.error(
            "Rotation step failed",
            extra={"error_type": type(exc).__name__, "error_code": _error_code(exc)},
        )
        raise
    logger.info("Rotation step finished")
