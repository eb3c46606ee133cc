"""The integration tests' probe: asks Secrets Manager what a test needs to know, as its own role,
and answers with facts (outcomes, error codes, version ids, booleans), never a value.

Events:
- {"action": "read", "secret_id": ARN}: GetSecretValue as this role -> {"outcome": "ALLOWED"} or
  {"outcome": "DENIED", "code": <the error code>}.
- {"action": "rotated", "secret_id": ARN, "version": <RotateSecret's VersionId>} -> whether that
  version is now AWSCURRENT, whether the version before it is AWSPREVIOUS, whether their values
  differ, and whether an AWSPENDING label is left on any other version.
"""

from __future__ import annotations

import hmac
from typing import Any

import boto3  # type: ignore[import-untyped]
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

CLIENT = boto3.client("secretsmanager")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event["action"] == "read":
        try:
            CLIENT.get_secret_value(SecretId=event["secret_id"])
        except ClientError as error:
            return {"outcome": "DENIED", "code": error.response["Error"]["Code"]}
        return {"outcome": "ALLOWED"}
    if event["action"] == "rotated":
        return rotated(event["secret_id"], event["version"])
    raise ValueError(f"unknown action {event['action']!r}")


def rotated(secret_id: str, version: str) -> dict[str, Any]:
    stages = CLIENT.describe_secret(SecretId=secret_id)["VersionIdsToStages"]
    current = [v for v, labels in stages.items() if "AWSCURRENT" in labels]
    previous = [v for v, labels in stages.items() if "AWSPREVIOUS" in labels]
    values = {
        stage: CLIENT.get_secret_value(SecretId=secret_id, VersionStage=stage).get("SecretString")
        for stage in ("AWSCURRENT", "AWSPREVIOUS")
        if previous or stage == "AWSCURRENT"
    }
    return {
        "current_is_rotated_version": current == [version],
        "previous_is_older_version": bool(previous) and previous != [version],
        "value_changed": len(values) == 2
        and not hmac.compare_digest(values["AWSCURRENT"] or "", values["AWSPREVIOUS"] or ""),
        "pending_left": any(
            "AWSPENDING" in labels and v != version for v, labels in stages.items()
        ),
    }
