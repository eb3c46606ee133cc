"""The SecureString provider's handler against moto's in-process SSM, KMS and Secrets Manager.

Nothing leaves the process: moto answers boto3, and the response to CloudFormation (an HTTPS
PUT to a presigned URL) is captured by replacing `urllib.request.urlopen`.
"""

from __future__ import annotations

import json
import logging
import string
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from botocore.exceptions import (  # type: ignore[import-untyped]
    ClientError,
    EndpointConnectionError,
)
from moto.core.models import DEFAULT_ACCOUNT_ID

from strongbox.parameters import calls as provider_calls
from strongbox.parameters import handler
from tests.aws_calls import AwsCall, assert_declaration_change_fails, assert_declared, recording
from tests.conftest import mocked_aws, run_in_isolation

REGION = "eu-west-1"
RUNTIME = "SecureString provider handler"
NAME = "/payments/prod/api-token"
NEW_NAME = "/payments/prod/api-token-v2"
LOGICAL_ID = "ApiTokenParameter"
STACK_ID = (
    f"arn:aws:cloudformation:{REGION}:{DEFAULT_ACCOUNT_ID}:stack/Strongbox-Prod-Secrets/"
    "5b6a1e90-2f0c-11f1-9a3e-0a1b2c3d4e5f"
)
SERVICE_TOKEN = f"arn:aws:lambda:{REGION}:{DEFAULT_ACCOUNT_ID}:function:strongbox-secure-string"
RESPONSE_HOST = "cloudformation-custom-resource-response-euwest1.s3-eu-west-1.amazonaws.com"
SIGNATURE = "9f2c4e1b7a6d3f0e8c5b2a1d4e7f0a3b6c9d2e5f8a1b4c7d0e3f6a9b2c5d8e1f"
CREDENTIAL = "ASIAQNZGKIQY5EXAMPLE"
QUERY = (
    "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20260504T101500Z&X-Amz-SignedHeaders=host"
    f"&X-Amz-Expires=7199&X-Amz-Credential={CREDENTIAL}%2F20260504%2F{REGION}%2Fs3%2Faws4_request"
    f"&X-Amz-Signature={SIGNATURE}"
)
PLAIN_VALUE = "copied-plain-value-Vb8nQ2xK7mR4tY6w"
FIELD_VALUE = "copied-field-value-Jp3sL9dF2gH5kZ8c"
CHANGED_VALUE = "changed-after-the-copy-Wq5eR8tY1u"
JSON_SECRET = json.dumps({"username": "svc-payments", "api_key": FIELD_VALUE, "port": 8443})
LOG_STREAM = "2026/05/04/[$LATEST]0123456789abcdef0123456789abcdef"
HANDLER_ENV = ("SSM_ENDPOINT", "SECRETS_MANAGER_ENDPOINT", "LOG_LEVEL")


# ---------------------------------------------------------------------------------------------
# Spying on the handler's clients
# ---------------------------------------------------------------------------------------------


@dataclass
class Spy:
    """Hooks into every client the handler creates.

    Records the clients, each call with its parameters, and every value that goes through
    them (written to SSM, generated, read from a secret or a parameter); raises injected
    faults from botocore's before-call event, i.e. inside the handler's `client.<op>()` call.
    """

    clients: list[str] = field(default_factory=list)
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    values: set[str] = field(default_factory=set)
    generated: set[str] = field(default_factory=set)
    faults: dict[str, Callable[[dict[str, Any]], Exception]] = field(default_factory=dict)

    def attach(self, service: str, client: Any) -> Any:
        self.clients.append(service)
        client.meta.events.register("provide-client-params", self._record)
        client.meta.events.register("before-call", self._before_call)
        client.meta.events.register("after-call", self._after_call)
        return client

    def operations(self) -> list[str]:
        return [operation for _, operation, _ in self.calls]

    def params(self, operation: str) -> list[dict[str, Any]]:
        return [params for _, name, params in self.calls if name == operation]

    def reset(self) -> None:
        self.clients.clear()
        self.calls.clear()

    def _record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.calls.append((model.service_model.service_name, model.name, dict(params)))
        if model.name == "PutParameter":
            self.values.add(params["Value"])

    def _before_call(self, model: Any, **_: Any) -> None:
        fault = self.faults.pop(model.name, None)
        if fault is not None:
            raise fault(self.calls[-1][2])

    def _after_call(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        if model.name == "GetRandomPassword":
            self.generated.add(parsed["RandomPassword"])
            self.values.add(parsed["RandomPassword"])
        elif model.name == "GetSecretValue" and "SecretString" in parsed:
            self.values.add(parsed["SecretString"])
        elif model.name == "GetParameter":
            self.values.add(parsed["Parameter"]["Value"])


def client_error(code: str, operation: str) -> Callable[[dict[str, Any]], Exception]:
    """A ClientError whose message quotes the request's value, as a service's message might."""

    def error(params: dict[str, Any]) -> Exception:
        message = f"Request failed for value {params.get('Value', '<none>')}"
        exception: Exception = ClientError({"Error": {"Code": code, "Message": message}}, operation)
        return exception

    return error


def connection_error(params: dict[str, Any]) -> Exception:
    exception: Exception = EndpointConnectionError(
        endpoint_url=f"https://secretsmanager.{REGION}.amazonaws.com"
    )
    return exception


# ---------------------------------------------------------------------------------------------
# CloudFormation, as seen by a custom resource provider
# ---------------------------------------------------------------------------------------------


@dataclass
class Sent:
    url: str
    method: str
    headers: dict[str, str]
    raw: bytes
    timeout: float
    body: dict[str, Any]


class FakeHttpResponse:
    status = 200

    def __enter__(self) -> FakeHttpResponse:
        return self

    def __exit__(self, *_: Any) -> None:
        return None


@dataclass
class CloudFormation:
    """Builds events like CloudFormation's and records what the handler PUTs back."""

    sent: list[Sent] = field(default_factory=list)
    fail_with: Exception | None = None

    def urlopen(self, request: urllib.request.Request, timeout: float) -> FakeHttpResponse:
        data = request.data
        assert isinstance(data, bytes)
        self.sent.append(
            Sent(
                url=request.full_url,
                method=request.get_method(),
                headers=dict(request.header_items()),
                raw=data,
                timeout=timeout,
                body=json.loads(data),
            )
        )
        if self.fail_with is not None:
            raise self.fail_with
        return FakeHttpResponse()

    @staticmethod
    def response_url(request_id: str) -> str:
        path = urllib.parse.quote(f"{STACK_ID}|{LOGICAL_ID}|{request_id}", safe="")
        return f"https://{RESPONSE_HOST}/{path}?{QUERY}"

    def event(
        self,
        request_type: str,
        properties: Any,
        *,
        physical_id: str | None = None,
        old: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        request_id = str(uuid.uuid4())
        event: dict[str, Any] = {
            "RequestType": request_type,
            "ServiceToken": SERVICE_TOKEN,
            "ResponseURL": self.response_url(request_id),
            "StackId": STACK_ID,
            "RequestId": request_id,
            "LogicalResourceId": LOGICAL_ID,
            "ResourceType": "Custom::SecureStringParameter",
            "ResourceProperties": properties,
        }
        if physical_id is not None:
            event["PhysicalResourceId"] = physical_id
        if old is not None:
            event["OldResourceProperties"] = old
        return event

    def send(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        """Invokes the handler; it must answer exactly once, to the event's ResponseURL."""
        before = len(self.sent)
        handler.lambda_handler(event, context)
        assert len(self.sent) == before + 1
        assert self.sent[-1].url == event["ResponseURL"]
        return self.sent[-1].body

    def create(self, properties: Any, context: Any = None) -> dict[str, Any]:
        return self.send(self.event("Create", properties), context)

    def update(
        self, physical_id: str, properties: Any, old: dict[str, Any], context: Any = None
    ) -> dict[str, Any]:
        event = self.event("Update", properties, physical_id=physical_id, old=old)
        return self.send(event, context)

    def delete(self, physical_id: str, properties: Any) -> dict[str, Any]:
        return self.send(self.event("Delete", properties, physical_id=physical_id))


def response(
    body: dict[str, Any],
    status: str,
    reason: str,
    physical_id: str,
    data: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The response the handler must send for the event answered by `body`."""
    return {
        "Status": status,
        "Reason": reason,
        "PhysicalResourceId": physical_id,
        "StackId": STACK_ID,
        "RequestId": body["RequestId"],
        "LogicalResourceId": LOGICAL_ID,
        "NoEcho": True,
        "Data": data or {},
    }


def failed_create_id(body: dict[str, Any]) -> str:
    return f"failed-create-{body['RequestId']}"


def took_over(name: str) -> str:
    return f"Took over parameter {name} created earlier by this resource, value kept (version 2)"


# ---------------------------------------------------------------------------------------------
# AWS (moto)
# ---------------------------------------------------------------------------------------------


@dataclass
class Aws:
    ssm: Any
    secretsmanager: Any
    key_arn: str
    other_key_arn: str
    spy: Spy

    def properties(self, **changes: Any) -> dict[str, Any]:
        """Valid ResourceProperties (Generate, 40 characters), with `changes` (None removes)."""
        properties: dict[str, Any] = {
            "ServiceToken": SERVICE_TOKEN,
            "ParameterName": NAME,
            "KeyId": self.key_arn,
            "Generate": {"Length": "40"},
        }
        for key, value in changes.items():
            if value is None:
                properties.pop(key, None)
            else:
                properties[key] = value
        return properties

    def secret(self, name: str, value: str) -> str:
        self.spy.values.add(value)
        arn: str = self.secretsmanager.create_secret(Name=name, SecretString=value)["ARN"]
        return arn

    def names(self) -> list[str]:
        parameters = self.ssm.describe_parameters()["Parameters"]
        return sorted(parameter["Name"] for parameter in parameters)

    def parameter(self, name: str) -> dict[str, Any]:
        """The parameter's settings and decrypted value."""
        (described,) = self.ssm.describe_parameters(
            ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [name]}]
        )["Parameters"]
        value = self.ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
        return {
            "Type": described["Type"],
            "KeyId": described.get("KeyId"),
            "Tier": described["Tier"],
            "Description": described.get("Description"),
            "Version": described["Version"],
            "Value": value,
        }

    def tags(self, name: str) -> dict[str, str]:
        tags = self.ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)
        return {tag["Key"]: tag["Value"] for tag in tags["TagList"]}


class LogCollector(logging.Handler):
    """Every record of every logger (the handler's own does not propagate to root)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        formatter = handler.JsonFormatter()
        return "\n".join(
            f"{record.getMessage()}\n{formatter.format(record)}\n{record.__dict__}"
            for record in self.records
        )


def leaks(text: str, spy: Spy) -> list[str]:
    """Values, fragments of generated values and parts of the presigned URL found in `text`."""
    found = sorted(value for value in spy.values if value in text)
    # Not even a fragment of a generated value: every 8-character window.
    fragments = {value[i : i + 8] for value in spy.generated for i in range(len(value) - 7)}
    found += sorted(fragment for fragment in fragments if fragment in text)
    found += [part for part in (QUERY, SIGNATURE, CREDENTIAL, "X-Amz-") if part in text]
    return found


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (*HANDLER_ENV, "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SSM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))


@pytest.fixture(autouse=True)
def handler_calls() -> Iterator[list[AwsCall]]:
    """Every test: each AWS call the handler makes is one parameters/calls.py declares."""
    with recording(handler) as calls:
        yield calls
    assert_declared(RUNTIME, calls, provider_calls)


@pytest.fixture(autouse=True)
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    spy = Spy()
    real_make_client = handler.make_client
    monkeypatch.setattr(
        handler, "make_client", lambda service: spy.attach(service, real_make_client(service))
    )
    return spy


@pytest.fixture(autouse=True)
def cloudformation(monkeypatch: pytest.MonkeyPatch) -> CloudFormation:
    cloudformation = CloudFormation()
    monkeypatch.setattr(urllib.request, "urlopen", cloudformation.urlopen)
    return cloudformation


@pytest.fixture(autouse=True)
def log_hygiene(spy: Spy) -> Iterator[LogCollector]:
    """Every test: whatever was logged holds no value and no part of the presigned URL."""
    collector = LogCollector()
    loggers = [logging.getLogger(), logging.getLogger(handler.LOGGER_NAME)]
    for logger in loggers:
        logger.addHandler(collector)
    try:
        yield collector
    finally:
        for logger in loggers:
            logger.removeHandler(collector)
    assert leaks(collector.text(), spy) == []


@pytest.fixture
def aws(spy: Spy) -> Iterator[Aws]:
    with mocked_aws():
        kms = boto3.client("kms", region_name=REGION)
        keys = [kms.create_key(Description=f"strongbox {n}")["KeyMetadata"]["Arn"] for n in "ab"]
        yield Aws(
            ssm=boto3.client("ssm", region_name=REGION),
            secretsmanager=boto3.client("secretsmanager", region_name=REGION),
            key_arn=keys[0],
            other_key_arn=keys[1],
            spy=spy,
        )


def created(aws: Aws, cloudformation: CloudFormation, **changes: Any) -> dict[str, Any]:
    """Creates the parameter (asserting success) and clears the spy's call log."""
    body = cloudformation.create(aws.properties(**changes))
    assert body["Status"] == "SUCCESS", body["Reason"]
    aws.spy.reset()
    return aws.parameter(body["PhysicalResourceId"])


# ---------------------------------------------------------------------------------------------
# Create
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("generate", "request_options", "alphabet"),
    [
        (
            {"Length": "48", "ExcludeCharacters": "abcdefXYZ0123", "ExcludePunctuation": "true"},
            {
                "PasswordLength": 48,
                "ExcludePunctuation": True,
                "ExcludeCharacters": "abcdefXYZ0123",
            },
            set(string.ascii_letters + string.digits) - set("abcdefXYZ0123"),
        ),
        (
            {},
            {"PasswordLength": 40, "ExcludePunctuation": True},
            set(string.ascii_letters + string.digits),
        ),
        (
            {"Length": "4096", "ExcludePunctuation": "false", "ExcludeCharacters": "\"'\\/@`"},
            {"PasswordLength": 4096, "ExcludePunctuation": False, "ExcludeCharacters": "\"'\\/@`"},
            set(string.ascii_letters + string.digits + string.punctuation) - set("\"'\\/@`"),
        ),
    ],
    ids=["excluded-characters", "defaults", "with-punctuation"],
)
def test_create_with_generate(
    aws: Aws,
    spy: Spy,
    cloudformation: CloudFormation,
    generate: dict[str, str],
    request_options: dict[str, Any],
    alphabet: set[str],
) -> None:
    properties = aws.properties(
        Generate=generate, Tier="Advanced", Description="Payments API token"
    )

    body = cloudformation.create(properties)

    data = {"ParameterName": NAME, "Version": "1"}
    assert body == response(body, "SUCCESS", f"Created parameter {NAME} (version 1)", NAME, data)
    parameter = aws.parameter(NAME)
    value = parameter.pop("Value")
    assert parameter == {
        "Type": "SecureString",
        "KeyId": aws.key_arn,
        "Tier": "Advanced",
        "Description": "Payments API token",
        "Version": 1,
    }
    assert len(value) == request_options["PasswordLength"]
    assert set(value) <= alphabet
    if request_options["ExcludePunctuation"]:
        assert not set(value) & set(string.punctuation)
    else:
        assert set(value) & set(string.punctuation)
    assert spy.params("GetRandomPassword") == [request_options]
    (put,) = spy.params("PutParameter")
    assert put == {
        "Name": NAME,
        "Value": value,
        "Type": "SecureString",
        "KeyId": aws.key_arn,
        "Tier": "Advanced",
        "Overwrite": False,
        "Description": "Payments API token",
        "Tags": [
            {"Key": handler.OWNER_STACK_TAG, "Value": STACK_ID},
            {"Key": handler.OWNER_LOGICAL_ID_TAG, "Value": LOGICAL_ID},
        ],
    }
    assert aws.tags(NAME) == {
        handler.OWNER_STACK_TAG: STACK_ID,
        handler.OWNER_LOGICAL_ID_TAG: LOGICAL_ID,
    }
    (sent,) = cloudformation.sent
    assert value not in sent.raw.decode()
    assert value[:8] not in sent.raw.decode()
    assert sent.method == "PUT"
    assert sent.headers == {"Content-type": "", "Content-length": str(len(sent.raw))}
    assert sent.timeout == handler.RESPONSE_TIMEOUT_SECONDS


def test_create_without_description_or_tier(
    aws: Aws, spy: Spy, cloudformation: CloudFormation
) -> None:
    body = cloudformation.create(aws.properties(Description=""))

    assert body["Status"] == "SUCCESS"
    parameter = aws.parameter(NAME)
    assert (parameter["Tier"], parameter["Description"], len(parameter["Value"])) == (
        "Standard",
        None,
        40,
    )
    (put,) = spy.params("PutParameter")
    assert "Description" not in put
    assert put["Tier"] == "Standard"


def test_create_with_a_service_timeout_ignores_it(aws: Aws, cloudformation: CloudFormation) -> None:
    """The construct sets ServiceTimeout, which CloudFormation may pass on (as a string) with the
    other properties; it is CloudFormation's setting, not the parameter's."""
    body = cloudformation.create(aws.properties(ServiceTimeout="1200"))

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert aws.names() == [NAME]


@pytest.mark.parametrize(
    ("secret", "field_name", "expected"),
    [(PLAIN_VALUE, None, PLAIN_VALUE), (JSON_SECRET, "api_key", FIELD_VALUE)],
    ids=["plain", "json-field"],
)
def test_create_with_copy_from(
    aws: Aws,
    spy: Spy,
    cloudformation: CloudFormation,
    secret: str,
    field_name: str | None,
    expected: str,
) -> None:
    arn = aws.secret("payments/prod/api", secret)
    # A rotation in progress: the pending value must not be the one copied.
    aws.secretsmanager.put_secret_value(
        SecretId=arn, SecretString="pending-value-not-current", VersionStages=["AWSPENDING"]
    )
    copy_from = {"SecretId": arn} | ({"Field": field_name} if field_name else {})

    body = cloudformation.create(aws.properties(Generate=None, CopyFrom=copy_from))

    data = {"ParameterName": NAME, "Version": "1"}
    assert body == response(body, "SUCCESS", f"Created parameter {NAME} (version 1)", NAME, data)
    assert aws.parameter(NAME)["Value"] == expected
    assert aws.parameter(NAME)["KeyId"] == aws.key_arn
    assert spy.params("GetSecretValue") == [{"SecretId": arn, "VersionStage": "AWSCURRENT"}]
    assert spy.operations() == ["GetSecretValue", "PutParameter"]
    assert expected not in cloudformation.sent[-1].raw.decode()


@pytest.mark.parametrize(
    ("make_secret", "field_name", "reason"),
    [
        (
            lambda aws: aws.secretsmanager.create_secret(
                Name="payments/prod/binary", SecretBinary=b"\x00binary-value"
            )["ARN"],
            None,
            "CopyFrom.SecretId has no SecretString (binary secrets cannot be copied)",
        ),
        (
            lambda aws: aws.secret("payments/prod/plain", PLAIN_VALUE),
            "api_key",
            "CopyFrom.Field is set but the SecretString of CopyFrom.SecretId is not a JSON object",
        ),
        (
            lambda aws: aws.secret("payments/prod/json", JSON_SECRET),
            "password",
            "The SecretString of CopyFrom.SecretId has no field 'password'",
        ),
        (
            lambda aws: aws.secret("payments/prod/json", JSON_SECRET),
            "port",
            "The value of CopyFrom.Field 'port' is not a string",
        ),
        (
            lambda aws: aws.secret("payments/prod/empty", json.dumps({"api_key": ""})),
            "api_key",
            "The value from CopyFrom.Field 'api_key' is empty",
        ),
        (
            lambda aws: aws.secret("payments/prod/big", "x" * 4097),
            None,
            "The value from CopyFrom.SecretId is larger than the 4096 bytes the Standard tier"
            ' allows; use Tier "Advanced"',
        ),
        (
            lambda aws: f"arn:aws:secretsmanager:{REGION}:{DEFAULT_ACCOUNT_ID}:secret:gone-AbCdEf",
            None,
            "GetSecretValue failed with ResourceNotFoundException",
        ),
    ],
    ids=["binary", "not-json", "no-field", "field-not-string", "empty", "too-big", "no-secret"],
)
def test_create_with_unusable_copy_from_fails(
    aws: Aws,
    cloudformation: CloudFormation,
    make_secret: Callable[[Aws], str],
    field_name: str | None,
    reason: str,
) -> None:
    copy_from = {"SecretId": make_secret(aws)} | ({"Field": field_name} if field_name else {})

    body = cloudformation.create(aws.properties(Generate=None, CopyFrom=copy_from))

    assert body == response(body, "FAILED", reason, failed_create_id(body))
    assert aws.names() == []


def test_advanced_tier_holds_up_to_8_kb(aws: Aws, cloudformation: CloudFormation) -> None:
    copy_from = {"SecretId": aws.secret("payments/prod/big", "b" * 8192)}
    body = cloudformation.create(aws.properties(Generate=None, CopyFrom=copy_from, Tier="Advanced"))
    assert body["Status"] == "SUCCESS"
    assert aws.parameter(NAME)["Value"] == "b" * 8192

    copy_from = {"SecretId": aws.secret("payments/prod/bigger", "c" * 8193)}
    properties = aws.properties(
        ParameterName=NEW_NAME, Generate=None, CopyFrom=copy_from, Tier="Advanced"
    )
    body = cloudformation.create(properties)
    reason = (
        "The value from CopyFrom.SecretId is larger than the 8192 bytes the Advanced tier allows"
    )
    assert body == response(body, "FAILED", reason, failed_create_id(body))
    assert aws.names() == [NAME]


# ---------------------------------------------------------------------------------------------
# Update
# ---------------------------------------------------------------------------------------------


def test_update_of_settings_keeps_the_value(
    aws: Aws, spy: Spy, cloudformation: CloudFormation
) -> None:
    old = aws.properties(Description="Payments API token")
    before = created(aws, cloudformation, Description="Payments API token")
    new = aws.properties(
        KeyId=aws.other_key_arn, Tier="Advanced", Description="Payments API token (v2 API)"
    )

    body = cloudformation.update(NAME, new, old)

    reason = f"Updated parameter {NAME}, value kept (version 2)"
    data = {"ParameterName": NAME, "Version": "2"}
    assert body == response(body, "SUCCESS", reason, NAME, data)
    assert aws.parameter(NAME) == {
        "Type": "SecureString",
        "KeyId": aws.other_key_arn,
        "Tier": "Advanced",
        "Description": "Payments API token (v2 API)",
        "Version": 2,
        "Value": before["Value"],
    }
    assert spy.operations() == ["GetParameter", "PutParameter"]
    assert spy.params("GetParameter") == [{"Name": NAME, "WithDecryption": True}]
    (put,) = spy.params("PutParameter")
    assert put["Overwrite"] is True
    assert "Tags" not in put
    assert spy.clients == ["ssm"]


def test_update_removing_the_description_clears_it(
    aws: Aws, cloudformation: CloudFormation
) -> None:
    old = aws.properties(Description="Payments API token")
    before = created(aws, cloudformation, Description="Payments API token")

    body = cloudformation.update(NAME, aws.properties(), old)

    assert body["Status"] == "SUCCESS"
    after = aws.parameter(NAME)
    assert (after["Description"], after["Value"], after["Version"]) == (None, before["Value"], 2)


def test_update_of_generate_length_writes_a_new_value(
    aws: Aws, spy: Spy, cloudformation: CloudFormation
) -> None:
    old = aws.properties()
    before = created(aws, cloudformation)

    body = cloudformation.update(NAME, aws.properties(Generate={"Length": "64"}), old)

    reason = f"Updated parameter {NAME} with a new value (version 2)"
    data = {"ParameterName": NAME, "Version": "2"}
    assert body == response(body, "SUCCESS", reason, NAME, data)
    after = aws.parameter(NAME)
    assert len(before["Value"]) == 40
    assert len(after["Value"]) == 64
    assert after["Value"] != before["Value"]
    assert (after["Version"], after["KeyId"], after["Tier"]) == (2, aws.key_arn, "Standard")
    assert spy.operations() == ["GetRandomPassword", "PutParameter"]
    assert spy.params("GetRandomPassword") == [{"PasswordLength": 64, "ExcludePunctuation": True}]
    (put,) = spy.params("PutParameter")
    assert put["Overwrite"] is True
    assert "Tags" not in put
    assert after["Value"] not in cloudformation.sent[-1].raw.decode()


SOURCE_CHANGES: dict[str, tuple[str, str, str]] = {
    # id: (old source, new source, expected value: "kept", "generated" or a literal)
    "same-meaning": ("generate-40", "generate-40-explicit", "kept"),
    "excluded-characters": ("generate-40", "generate-40-exclude", "generated"),
    "generate-to-copy": ("generate-40", "copy-plain", CHANGED_VALUE),
    "same-copy-after-secret-changed": ("copy-plain", "copy-plain", "kept"),
    "other-field": ("copy-username", "copy-api-key", FIELD_VALUE),
}


@pytest.mark.parametrize("change", SOURCE_CHANGES.values(), ids=SOURCE_CHANGES.keys())
def test_update_writes_a_new_value_only_when_the_source_changes(
    aws: Aws, cloudformation: CloudFormation, change: tuple[str, str, str]
) -> None:
    plain = aws.secret("payments/prod/plain", PLAIN_VALUE)
    structured = aws.secret("payments/prod/json", JSON_SECRET)
    sources: dict[str, dict[str, Any]] = {
        "generate-40": {"Generate": {"Length": "40"}},
        "generate-40-explicit": {"Generate": {"Length": "40", "ExcludePunctuation": "true"}},
        "generate-40-exclude": {"Generate": {"Length": "40", "ExcludeCharacters": "xyz"}},
        "copy-plain": {"Generate": None, "CopyFrom": {"SecretId": plain}},
        "copy-username": {
            "Generate": None,
            "CopyFrom": {"SecretId": structured, "Field": "username"},
        },
        "copy-api-key": {
            "Generate": None,
            "CopyFrom": {"SecretId": structured, "Field": "api_key"},
        },
    }
    old_source, new_source, expected = change
    before = created(aws, cloudformation, **sources[old_source])
    aws.secretsmanager.put_secret_value(SecretId=plain, SecretString=CHANGED_VALUE)
    aws.spy.values.add(CHANGED_VALUE)

    body = cloudformation.update(
        NAME, aws.properties(**sources[new_source]), aws.properties(**sources[old_source])
    )

    assert body["Status"] == "SUCCESS"
    value = aws.parameter(NAME)["Value"]
    if expected == "kept":
        assert value == before["Value"]
        assert body["Reason"] == f"Updated parameter {NAME}, value kept (version 2)"
    elif expected == "generated":
        assert value != before["Value"]
        assert len(value) == 40
        assert not set(value) & set("xyz")
        assert body["Reason"] == f"Updated parameter {NAME} with a new value (version 2)"
    else:
        assert value == expected
        assert body["Reason"] == f"Updated parameter {NAME} with a new value (version 2)"


def test_update_of_parameter_name_creates_a_new_parameter(
    aws: Aws, cloudformation: CloudFormation
) -> None:
    old = aws.properties()
    before = created(aws, cloudformation)

    body = cloudformation.update(NAME, aws.properties(ParameterName=NEW_NAME), old)

    data = {"ParameterName": NEW_NAME, "Version": "1"}
    assert body == response(
        body, "SUCCESS", f"Created parameter {NEW_NAME} (version 1)", NEW_NAME, data
    )
    new = aws.parameter(NEW_NAME)
    assert (len(new["Value"]), new["Version"], new["KeyId"]) == (40, 1, aws.key_arn)
    assert new["Value"] != before["Value"]
    # The old parameter is CloudFormation's to delete once the whole update has succeeded.
    assert aws.parameter(NAME) == before
    assert aws.names() == [NAME, NEW_NAME]

    body = cloudformation.delete(NAME, old)

    assert body == response(body, "SUCCESS", f"Deleted parameter {NAME}", NAME)
    assert aws.names() == [NEW_NAME]


def test_rollback_of_a_rename_takes_back_the_old_parameter(
    aws: Aws, cloudformation: CloudFormation
) -> None:
    old = aws.properties()
    before = created(aws, cloudformation)
    new = aws.properties(ParameterName=NEW_NAME)
    assert cloudformation.update(NAME, new, old)["Status"] == "SUCCESS"

    # Another resource failed: CloudFormation rolls the update back before deleting anything.
    body = cloudformation.update(NEW_NAME, old, new)

    assert body == response(
        body, "SUCCESS", took_over(NAME), NAME, {"ParameterName": NAME, "Version": "2"}
    )
    assert aws.parameter(NAME) | {"Version": 1} == before
    assert cloudformation.delete(NEW_NAME, new)["Status"] == "SUCCESS"
    assert aws.names() == [NAME]


def test_retried_create_keeps_the_value(aws: Aws, cloudformation: CloudFormation) -> None:
    event = cloudformation.event("Create", aws.properties())
    cloudformation.send(event)
    before = aws.parameter(NAME)

    body = cloudformation.send(event)  # Lambda retried the invocation

    assert body == response(
        body, "SUCCESS", took_over(NAME), NAME, {"ParameterName": NAME, "Version": "2"}
    )
    assert aws.parameter(NAME) | {"Version": 1} == before


@pytest.mark.parametrize(
    "tags",
    [
        None,
        {handler.OWNER_STACK_TAG: STACK_ID, handler.OWNER_LOGICAL_ID_TAG: "OtherParameter"},
        {handler.OWNER_STACK_TAG: STACK_ID.replace("5b6a1e90", "00000000")},
    ],
    ids=["untagged", "other-resource", "other-stack"],
)
@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_an_existing_parameter_of_someone_else_is_left_alone(
    aws: Aws, cloudformation: CloudFormation, tags: dict[str, str] | None, request_type: str
) -> None:
    aws.ssm.put_parameter(
        Name=NEW_NAME,
        Value="someone-elses-value-4Tg7Hk2P",
        Type="SecureString",
        **({"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]} if tags else {}),
    )
    aws.spy.values.add("someone-elses-value-4Tg7Hk2P")
    properties = aws.properties(ParameterName=NEW_NAME)
    if request_type == "Create":
        body = cloudformation.create(properties)
        physical_id = failed_create_id(body)
    else:
        created(aws, cloudformation)
        body = cloudformation.update(NAME, properties, aws.properties())
        physical_id = NAME

    reason = f"Parameter {NEW_NAME} already exists and was not created by this resource"
    assert body == response(body, "FAILED", reason, physical_id)
    foreign = aws.parameter(NEW_NAME)
    assert (foreign["Value"], foreign["Version"]) == ("someone-elses-value-4Tg7Hk2P", 1)


def test_update_from_advanced_to_standard_fails(
    aws: Aws, spy: Spy, cloudformation: CloudFormation
) -> None:
    old = aws.properties(Tier="Advanced", Description="Payments API token")
    before = created(aws, cloudformation, Tier="Advanced", Description="Payments API token")
    new = aws.properties(Tier="Standard", Description="Payments API token (v2 API)")

    body = cloudformation.update(NAME, new, old)

    reason = (
        "ResourceProperties.Tier cannot change from Advanced to Standard: Parameter Store"
        " cannot move a parameter back to the Standard tier (use a new ParameterName)"
    )
    assert body == response(body, "FAILED", reason, NAME)
    assert aws.parameter(NAME) == before
    assert spy.calls == []


def test_update_with_invalid_properties_fails_and_changes_nothing(
    aws: Aws, spy: Spy, cloudformation: CloudFormation
) -> None:
    old = aws.properties()
    before = created(aws, cloudformation)

    body = cloudformation.update(NAME, aws.properties(Generate={"Length": "8"}), old)

    reason = "ResourceProperties.Generate.Length must be an integer from 16 to 4096"
    assert body == response(body, "FAILED", reason, NAME)
    assert aws.parameter(NAME) == before
    assert spy.calls == []


# ---------------------------------------------------------------------------------------------
# Delete
# ---------------------------------------------------------------------------------------------


def test_delete(aws: Aws, spy: Spy, cloudformation: CloudFormation) -> None:
    created(aws, cloudformation)

    body = cloudformation.delete(NAME, aws.properties())

    assert body == response(body, "SUCCESS", f"Deleted parameter {NAME}", NAME)
    assert aws.names() == []
    assert spy.params("DeleteParameter") == [{"Name": NAME}]

    body = cloudformation.delete(NAME, aws.properties())

    assert body == response(body, "SUCCESS", f"Parameter {NAME} was already gone", NAME)
    assert aws.names() == []


def test_delete_after_a_failed_create_calls_nothing(
    aws: Aws, spy: Spy, cloudformation: CloudFormation
) -> None:
    properties = aws.properties(ParameterName="missing-slash")
    failed = cloudformation.create(properties)
    assert failed["Status"] == "FAILED"
    physical_id = failed["PhysicalResourceId"]
    assert physical_id == failed_create_id(failed)

    body = cloudformation.delete(physical_id, properties)

    assert body == response(body, "SUCCESS", "Nothing to delete", physical_id)
    assert spy.clients == []
    assert spy.calls == []


def test_delete_does_not_touch_a_parameter_named_after_the_failed_create(
    aws: Aws, spy: Spy, cloudformation: CloudFormation
) -> None:
    """The failed-create id is never a parameter name (those start with "/")."""
    created(aws, cloudformation)
    body = cloudformation.delete("failed-create-" + str(uuid.uuid4()), aws.properties())
    assert body["Status"] == "SUCCESS"
    assert aws.names() == [NAME]
    assert spy.calls == []


# ---------------------------------------------------------------------------------------------
# Invalid requests
# ---------------------------------------------------------------------------------------------

LENGTH_REASON = "ResourceProperties.Generate.Length must be an integer from 16 to 4096"
NAME_LEVELS_REASON = (
    'ResourceProperties.ParameterName must be up to 15 "/"-separated levels of letters,'
    ' digits, "_", "." and "-"'
)
SOURCE_REASON = "ResourceProperties must have exactly one of Generate and CopyFrom"
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{DEFAULT_ACCOUNT_ID}:secret:payments/prod/api-Ab12Cd"
INVALID_PROPERTIES: dict[str, tuple[dict[str, Any], str]] = {
    "no-name": ({"ParameterName": None}, "ResourceProperties.ParameterName is required"),
    "empty-name": ({"ParameterName": ""}, "ResourceProperties.ParameterName is required"),
    "name-not-string": (
        {"ParameterName": ["/a"]},
        "ResourceProperties.ParameterName must be a string",
    ),
    "no-leading-slash": (
        {"ParameterName": "payments/prod/api-token"},
        'ResourceProperties.ParameterName must start with "/"',
    ),
    "space-in-name": ({"ParameterName": "/payments/api token"}, NAME_LEVELS_REASON),
    "trailing-slash": ({"ParameterName": "/payments/"}, NAME_LEVELS_REASON),
    "16-levels": ({"ParameterName": "/a" * 16}, NAME_LEVELS_REASON),
    "both-sources": ({"CopyFrom": {"SecretId": SECRET_ARN}}, SOURCE_REASON),
    "no-source": ({"Generate": None}, SOURCE_REASON),
    "length-15": ({"Generate": {"Length": "15"}}, LENGTH_REASON),
    "length-4097": ({"Generate": {"Length": "4097"}}, LENGTH_REASON),
    "length-words": ({"Generate": {"Length": "forty"}}, LENGTH_REASON),
    "length-float": ({"Generate": {"Length": "40.0"}}, LENGTH_REASON),
    "length-padded": ({"Generate": {"Length": " 40"}}, LENGTH_REASON),
    "length-negative": ({"Generate": {"Length": "-40"}}, LENGTH_REASON),
    "length-bool": ({"Generate": {"Length": True}}, LENGTH_REASON),
    "punctuation-yes": (
        {"Generate": {"ExcludePunctuation": "yes"}},
        'ResourceProperties.Generate.ExcludePunctuation must be "true" or "false"',
    ),
    "exclude-not-string": (
        {"Generate": {"ExcludeCharacters": ["a"]}},
        "ResourceProperties.Generate.ExcludeCharacters must be a string",
    ),
    "generate-unknown": (
        {"Generate": {"Length": "40", "ExcludeNumbers": "true"}},
        "ResourceProperties.Generate has unknown properties: ExcludeNumbers",
    ),
    "generate-not-object": ({"Generate": "40"}, "ResourceProperties.Generate must be an object"),
    "no-secret-id": (
        {"Generate": None, "CopyFrom": {"Field": "api_key"}},
        "ResourceProperties.CopyFrom.SecretId is required",
    ),
    "secret-name": (
        {"Generate": None, "CopyFrom": {"SecretId": "payments/prod/api"}},
        "ResourceProperties.CopyFrom.SecretId must be the ARN of a Secrets Manager secret",
    ),
    "copy-unknown": (
        {"Generate": None, "CopyFrom": {"SecretId": SECRET_ARN, "VersionStage": "AWSPENDING"}},
        "ResourceProperties.CopyFrom has unknown properties: VersionStage",
    ),
    "no-key": ({"KeyId": None}, "ResourceProperties.KeyId is required"),
    "key-alias": ({"KeyId": "alias/aws/ssm"}, "ResourceProperties.KeyId must be a KMS key ARN"),
    "tier": (
        {"Tier": "Intelligent-Tiering"},
        'ResourceProperties.Tier must be "Standard" or "Advanced"',
    ),
    "long-description": (
        {"Description": "d" * 1025},
        "ResourceProperties.Description must be at most 1024 characters",
    ),
    "value-in-template": (
        {"Value": "plaintext-in-the-template-8Jd3"},
        "ResourceProperties has unknown properties: Value",
    ),
}


@pytest.mark.parametrize("case", INVALID_PROPERTIES.values(), ids=INVALID_PROPERTIES.keys())
def test_invalid_properties_fail_and_create_nothing(
    aws: Aws, spy: Spy, cloudformation: CloudFormation, case: tuple[dict[str, Any], str]
) -> None:
    changes, reason = case
    spy.values.add("plaintext-in-the-template-8Jd3")

    body = cloudformation.create(aws.properties(**changes))

    assert body == response(body, "FAILED", reason, failed_create_id(body))
    assert aws.names() == []
    assert spy.calls == []


def test_properties_that_are_not_an_object_fail(aws: Aws, cloudformation: CloudFormation) -> None:
    body = cloudformation.create("not an object")
    assert body == response(
        body, "FAILED", "ResourceProperties must be an object", failed_create_id(body)
    )


@pytest.mark.parametrize(
    ("request_type", "physical_id", "expected_id"),
    [("Replace", NAME, NAME), (None, None, "failed-create-")],
)
def test_unknown_request_type_fails(
    aws: Aws,
    spy: Spy,
    cloudformation: CloudFormation,
    request_type: str | None,
    physical_id: str | None,
    expected_id: str,
) -> None:
    event = cloudformation.event("Create", aws.properties(), physical_id=physical_id)
    event["RequestType"] = request_type
    if request_type is None:
        del event["RequestType"]
        expected_id += event["RequestId"]

    body = cloudformation.send(event)

    reason = "RequestType must be Create, Update or Delete"
    assert body == response(body, "FAILED", reason, expected_id)
    assert spy.clients == []


# ---------------------------------------------------------------------------------------------
# AWS errors
# ---------------------------------------------------------------------------------------------


def test_throttled_create_fails_without_the_value(
    aws: Aws, spy: Spy, cloudformation: CloudFormation
) -> None:
    spy.faults["PutParameter"] = client_error("ThrottlingException", "PutParameter")

    body = cloudformation.create(aws.properties(), SimpleNamespace(log_stream_name=LOG_STREAM))

    reason = (
        f"PutParameter failed with ThrottlingException (see CloudWatch Logs stream {LOG_STREAM})"
    )
    assert body == response(body, "FAILED", reason, failed_create_id(body))
    (value,) = spy.generated
    assert spy.params("PutParameter")[0]["Value"] == value
    assert value not in cloudformation.sent[-1].raw.decode()
    assert "Request failed for value" not in cloudformation.sent[-1].raw.decode()
    assert aws.names() == []


UPDATE_FAULTS: dict[str, tuple[dict[str, str], str, Callable[[dict[str, Any]], Exception], str]] = {
    # id: (Generate of the update, failing operation, fault, reason)
    "keep-value-get-denied": (
        {"Length": "40"},
        "GetParameter",
        client_error("AccessDeniedException", "GetParameter"),
        "GetParameter failed with AccessDeniedException",
    ),
    "keep-value-put-throttled": (
        {"Length": "40"},
        "PutParameter",
        client_error("ThrottlingException", "PutParameter"),
        "PutParameter failed with ThrottlingException",
    ),
    "new-value-no-connection": (
        {"Length": "48"},
        "GetRandomPassword",
        connection_error,
        "The function failed with EndpointConnectionError",
    ),
    "new-value-put-throttled": (
        {"Length": "48"},
        "PutParameter",
        client_error("ThrottlingException", "PutParameter"),
        "PutParameter failed with ThrottlingException",
    ),
}


@pytest.mark.parametrize("case", UPDATE_FAULTS.values(), ids=UPDATE_FAULTS.keys())
def test_failed_update_leaves_the_parameter_unchanged(
    aws: Aws,
    spy: Spy,
    cloudformation: CloudFormation,
    case: tuple[dict[str, str], str, Callable[[dict[str, Any]], Exception], str],
) -> None:
    generate, operation, fault, reason = case
    old = aws.properties()
    before = created(aws, cloudformation)
    spy.faults[operation] = fault
    new = aws.properties(Generate=generate, Description="Payments API token (v2 API)")

    body = cloudformation.update(NAME, new, old)

    assert body == response(body, "FAILED", reason, NAME)
    assert operation not in spy.faults  # the fault fired
    assert aws.parameter(NAME) == before
    assert before["Value"] not in cloudformation.sent[-1].raw.decode()
    assert "Request failed for value" not in cloudformation.sent[-1].raw.decode()


def test_failed_delete(aws: Aws, spy: Spy, cloudformation: CloudFormation) -> None:
    created(aws, cloudformation)
    spy.faults["DeleteParameter"] = client_error("AccessDeniedException", "DeleteParameter")

    body = cloudformation.delete(NAME, aws.properties())

    reason = "DeleteParameter failed with AccessDeniedException"
    assert body == response(body, "FAILED", reason, NAME)
    assert aws.names() == [NAME]


# ---------------------------------------------------------------------------------------------
# Answering CloudFormation
# ---------------------------------------------------------------------------------------------


def test_failed_response_put_is_logged_and_raised(
    aws: Aws, cloudformation: CloudFormation, log_hygiene: LogCollector
) -> None:
    event = cloudformation.event("Create", aws.properties())
    cloudformation.fail_with = urllib.error.HTTPError(
        event["ResponseURL"], 403, "Forbidden", Message(), None
    )

    with pytest.raises(urllib.error.HTTPError):
        handler.lambda_handler(event, None)

    assert len(cloudformation.sent) == 1
    failures = [
        json.loads(handler.JsonFormatter().format(record))
        for record in log_hygiene.records
        if record.getMessage() == "Sending the response to CloudFormation failed"
    ]
    assert [(f["response_host"], f["http_status"], f["error_type"]) for f in failures] == [
        (RESPONSE_HOST, 403, "HTTPError")
    ]
    # Lambda retries the invocation: the parameter it created is taken over, not replaced.
    before = aws.parameter(NAME)
    cloudformation.fail_with = None
    body = cloudformation.send(event)
    assert body["Status"] == "SUCCESS"
    assert aws.parameter(NAME)["Value"] == before["Value"]


@pytest.mark.parametrize(
    "url",
    [None, "", f"http://{RESPONSE_HOST}/path?{QUERY}", "https:///no-host"],
    ids=["missing", "empty", "http", "no-host"],
)
def test_event_without_an_https_response_url_raises_before_any_change(
    aws: Aws, spy: Spy, cloudformation: CloudFormation, url: str | None
) -> None:
    event = cloudformation.event("Create", aws.properties())
    if url is None:
        del event["ResponseURL"]
    else:
        event["ResponseURL"] = url

    with pytest.raises(ValueError, match="The event has no https:// ResponseURL"):
        handler.lambda_handler(event, None)

    assert cloudformation.sent == []
    assert spy.clients == []
    assert aws.names() == []


def test_send_response_refuses_other_schemes(cloudformation: CloudFormation) -> None:
    with pytest.raises(ValueError, match="ResponseURL must be an https:// URL"):
        handler.send_response("file:///etc/passwd", {"Status": "SUCCESS"})
    assert cloudformation.sent == []


# ---------------------------------------------------------------------------------------------
# Logging
# ---------------------------------------------------------------------------------------------


def test_logs_are_json_lines_without_values_or_the_presigned_query(
    aws: Aws,
    spy: Spy,
    cloudformation: CloudFormation,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    log_hygiene: LogCollector,
) -> None:
    # botocore at DEBUG would log request and response bodies: the handler keeps it at INFO.
    caplog.set_level(logging.DEBUG)
    plain = aws.secret("payments/prod/plain", PLAIN_VALUE)
    structured = aws.secret("payments/prod/json", JSON_SECRET)
    copy_plain = aws.properties(Generate=None, CopyFrom={"SecretId": plain})
    copy_field = aws.properties(
        ParameterName=NEW_NAME, Generate=None, CopyFrom={"SecretId": structured, "Field": "api_key"}
    )
    generate = aws.properties(Tier="Advanced")
    cloudformation.create(copy_plain)
    cloudformation.create(copy_field)
    cloudformation.update(NAME, generate, copy_plain)
    cloudformation.update(NAME, generate | {"Description": "kept"}, generate)
    cloudformation.update(NAME, generate | {"Tier": "Standard"}, generate)
    spy.faults["PutParameter"] = client_error("ThrottlingException", "PutParameter")
    cloudformation.update(
        NAME, aws.properties(Generate={"Length": "50"}, Tier="Advanced"), generate
    )
    cloudformation.create(aws.properties(ParameterName="/payments/prod/third"))
    cloudformation.create(aws.properties(Generate={"Length": "x"}))
    cloudformation.delete(NAME, generate)
    cloudformation.delete(NAME, generate)

    statuses = [sent.body["Status"] for sent in cloudformation.sent]
    assert statuses == [
        "SUCCESS",
        "SUCCESS",
        "SUCCESS",
        "SUCCESS",
        "FAILED",
        "FAILED",
        "SUCCESS",
        "FAILED",
        "SUCCESS",
        "SUCCESS",
    ]
    assert {PLAIN_VALUE, FIELD_VALUE, JSON_SECRET} <= spy.values
    assert len(spy.generated) == 3
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    own = [r for r in log_hygiene.records if r.name == handler.LOGGER_NAME]
    assert len(lines) == len(own) > 30
    everything = "\n".join([log_hygiene.text(), caplog.text, *map(json.dumps, lines)])
    assert leaks(everything, spy) == []
    # The check itself finds a leak.
    assert leaks(everything + next(iter(spy.generated))[5:15], spy) != []
    assert leaks(cloudformation.sent[0].url, spy) != []
    for entry in lines:
        assert set(entry) >= {
            "timestamp",
            "level",
            "logger",
            "message",
            "request_type",
            "logical_resource_id",
            "request_id",
            "parameter_name",
        }
        assert entry["request_type"] in ("Create", "Update", "Delete")
        assert entry["logical_resource_id"] == LOGICAL_ID
    sends = [entry for entry in lines if entry["message"] == "Sent the response to CloudFormation"]
    assert {(entry["response_host"], entry["http_status"]) for entry in sends} == {
        (RESPONSE_HOST, 200)
    }
    assert len(sends) == 10
    failures = [
        (entry["parameter_name"], entry["error_type"], entry.get("error_code"), entry.get("error"))
        for entry in lines
        if entry["message"] == "Request failed"
    ]
    assert failures == [
        (
            NAME,
            "RequestError",
            None,
            "ResourceProperties.Tier cannot change from Advanced to Standard: Parameter Store"
            " cannot move a parameter back to the Standard tier (use a new ParameterName)",
        ),
        (NAME, "ClientError", "ThrottlingException", None),
        (None, "RequestError", None, LENGTH_REASON),
    ]
    assert {entry["parameter_name"] for entry in lines} == {
        NAME,
        NEW_NAME,
        "/payments/prod/third",
        None,
    }


# ---------------------------------------------------------------------------------------------
# Clients and packaging
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ssm_endpoint", "secrets_manager_endpoint"),
    [
        (
            "https://vpce-0abc-1234.ssm.eu-west-1.vpce.amazonaws.com",
            "https://vpce-0def-5678.secretsmanager.eu-west-1.vpce.amazonaws.com",
        ),
        ("", None),
        (None, None),
    ],
    ids=["vpc-endpoints", "empty", "unset"],
)
def test_endpoints_are_the_clients_endpoint_urls(
    aws: Aws,
    cloudformation: CloudFormation,
    monkeypatch: pytest.MonkeyPatch,
    ssm_endpoint: str | None,
    secrets_manager_endpoint: str | None,
) -> None:
    for name, value in (
        ("SSM_ENDPOINT", ssm_endpoint),
        ("SECRETS_MANAGER_ENDPOINT", secrets_manager_endpoint),
    ):
        if value is not None:
            monkeypatch.setenv(name, value)
    made: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    real_client = boto3.client

    def client(*args: Any, **kwargs: Any) -> Any:
        made.append((args, kwargs))
        # moto intercepts the regional endpoints only: a VPC endpoint's name would not resolve.
        return real_client(*args)

    monkeypatch.setattr(handler, "boto3", SimpleNamespace(client=client))
    arn = aws.secret("payments/prod/plain", PLAIN_VALUE)

    body = cloudformation.create(aws.properties(Generate=None, CopyFrom={"SecretId": arn}))

    assert body["Status"] == "SUCCESS"
    assert aws.parameter(NAME)["Value"] == PLAIN_VALUE
    config = handler.CLIENT_CONFIG
    assert made == [
        (("secretsmanager",), {"endpoint_url": secrets_manager_endpoint or None, "config": config}),
        (("ssm",), {"endpoint_url": ssm_endpoint or None, "config": config}),
    ]
    assert (config.connect_timeout, config.read_timeout) == (3, 10)
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}


# ---------------------------------------------------------------------------------------------
# Declared calls (parameters/calls.py)
# ---------------------------------------------------------------------------------------------


def copy_retry_update_delete(aws: Aws, cloudformation: CloudFormation) -> str:
    """A copy created, its create retried (the parameter taken over), updated to a generated
    value, deleted: every request the provider serves. Returns the copied secret's ARN."""
    arn = aws.secret("payments/prod/api", PLAIN_VALUE)
    copy = aws.properties(Generate=None, CopyFrom={"SecretId": arn})
    event = cloudformation.event("Create", copy)
    for _ in range(2):  # Lambda retried the invocation
        assert cloudformation.send(event)["Status"] == "SUCCESS"
    assert cloudformation.update(NAME, aws.properties(), copy)["Status"] == "SUCCESS"
    assert cloudformation.delete(NAME, aws.properties())["Status"] == "SUCCESS"
    return arn


def test_the_provider_makes_every_declared_call_on_its_parameter_and_source(
    aws: Aws, cloudformation: CloudFormation, handler_calls: list[AwsCall]
) -> None:
    arn = copy_retry_update_delete(aws, cloudformation)

    # A declaration the handler no longer needs fails here, as a missing one fails every test.
    assert {call.action for call in handler_calls} == set(provider_calls.CALLS)
    named = {resource for call in handler_calls for resource in call.resources() or []}
    assert named == {("secret", arn), ("parameter", NAME)}


@pytest.mark.parametrize(
    ("action", "declared", "complaint"),
    [
        (
            "ssm:ListTagsForResource",
            None,
            f"(ResourceType=Parameter, ResourceId={NAME}) which {{calls}} does not declare",
        ),
        ("ssm:AddTagsToResource", None, f"(Name={NAME}) which {{calls}} does not declare"),
        (
            "secretsmanager:GetSecretValue",
            "parameter",
            "(SecretId={arn}) on no parameter, which {calls} does not declare ('parameter')",
        ),
    ],
    ids=["owner-check-left-out", "tags-on-create-left-out", "source-declared-as-parameter"],
)
def test_a_call_the_declarations_get_wrong_fails_naming_it(
    aws: Aws,
    cloudformation: CloudFormation,
    handler_calls: list[AwsCall],
    monkeypatch: pytest.MonkeyPatch,
    action: str,
    declared: str | None,
    complaint: str,
) -> None:
    arn = copy_retry_update_delete(aws, cloudformation)
    calls = "constructs/strongbox/parameters/calls.py"
    expected = f"{RUNTIME} called {action} {complaint.format(arn=arn, calls=calls)}"

    assert_declaration_change_fails(
        monkeypatch,
        RUNTIME,
        handler_calls,
        provider_calls,
        action=action,
        declared=declared,
        expected=expected,
    )


def test_handler_module_is_self_contained_and_imports_without_credentials() -> None:
    asset = Path(handler.__file__).parent
    script = (
        "import sys, handler\n"
        "assert not [m for m in sys.modules if m.startswith('strongbox')]\n"
        "print(handler.__name__, handler.REQUEST_TYPES, callable(handler.lambda_handler))\n"
    )
    result = run_in_isolation(asset, script)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "handler ('Create', 'Update', 'Delete') True\n"
