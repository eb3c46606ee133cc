"""The checks of `strongbox verify`: the live account against one stage's intent, read-only."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from strongbox.access.policy import PrincipalMatch, Request, evaluate
from strongbox.verify.intent import (
    MANDATORY_TAGS,
    IntendedRole,
    IntendedSecret,
    Intent,
)
from strongbox.verify.schedule import longest_gap, spoken, window

READ_ACTION = "secretsmanager:GetSecretValue"
AWS_MANAGED = "aws/secretsmanager (AWS managed key)"
# A version labelled AWSPENDING but not AWSCURRENT for longer than this is a rotation that did
# not finish: each of the four rotation steps runs at most 15 minutes (the Lambda maximum).
PENDING_GRACE = timedelta(hours=1)
DRIFT_POLL_SECONDS = 5.0

Status = Literal["pass", "fail"]


class VerifyError(Exception):
    """The live account cannot be compared (an AWS error, wrong account); one line."""


@dataclass(frozen=True)
class Finding:
    """One line of the verdict: which check, on what, pass or fail, and why."""

    check: str
    item: str
    status: Status
    reason: str


class Aws(Protocol):
    """Where the checks get their boto3 clients (one per service and region)."""

    def client(self, service: str, region: str) -> Any: ...


@dataclass(frozen=True)
class Clock:
    """Time as the checks see it (tests replace it)."""

    now: Callable[[], datetime]
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic


def run(
    intent: Intent, aws: Aws, *, partition: str, clock: Clock, drift_timeout: float
) -> list[Finding]:
    """Every check, in a stable order: per secret (existence, key, tags, resource policy,
    replicas, rotation), then each stack's drift, then the who-can-read matrix."""
    live = _Live(intent, aws, partition)
    live.load()
    findings: list[Finding] = []
    described: dict[str, Mapping[str, Any]] = {}
    policies: dict[str, list[Mapping[str, Any]]] = {}
    for secret in intent.secrets:
        description = live.describe_secret(secret)
        if description is None:
            findings.append(Finding("secret", secret.name, "fail", f"missing in {secret.region}"))
            continue
        findings.append(Finding("secret", secret.name, "pass", f"exists in {secret.region}"))
        described[secret.name] = description
        policies[secret.name] = live.resource_policy(secret, description)
        findings.append(_key(live, secret, description))
        findings.append(_tags(secret, description))
        findings.append(_policy(live, secret, policies[secret.name]))
        findings.extend(_replicas(live, secret, description))
        findings.extend(_rotation(live, secret, description, clock))
    findings.extend(_drift(live, clock, drift_timeout))
    findings.extend(_readers(live, intent, described, policies))
    return findings


class _Live:
    """The live account as the checks read it, with the stage's physical ids."""

    def __init__(self, intent: Intent, aws: Aws, partition: str) -> None:
        self.intent = intent
        self.aws = aws
        self.partition = partition
        self._physical: dict[tuple[str, str], dict[str, str] | None] = {}
        # Longest first: a key's "mrk-<stack>.<id>" contains the plain "<stack>.<id>".
        self._pattern = re.compile(
            "|".join(re.escape(text) for text in sorted(intent.placeholders, key=len, reverse=True))
        )

    def load(self) -> None:
        """Lists every stack's resources once, in the stage's stack order."""
        for stack in self.intent.stacks:
            client = self.aws.client("cloudformation", stack.region)
            found: dict[str, str] = {}
            try:
                for page in client.get_paginator("list_stack_resources").paginate(
                    StackName=stack.stack_name
                ):
                    for summary in page.get("StackResourceSummaries", []):
                        if "PhysicalResourceId" in summary:
                            found[summary["LogicalResourceId"]] = summary["PhysicalResourceId"]
            except client.exceptions.ClientError as error:
                if not _stack_absent(error):
                    raise
                self._physical[(stack.stack_name, stack.region)] = None
                continue
            self._physical[(stack.stack_name, stack.region)] = found

    def stack_resources(self, stack_name: str, region: str) -> dict[str, str] | None:
        """Logical id -> physical id of a deployed stack's resources; None: no such stack."""
        return self._physical.get((stack_name, region))

    def physical(self, text: str) -> str:
        """`text` with each placeholder replaced by the deployed physical id (unchanged where
        the stack or resource is not deployed) and ARNs in the live partition."""

        def replace(match: re.Match[str]) -> str:
            stack_name, region, logical_id = self.intent.placeholders[match.group(0)]
            resources = self.stack_resources(stack_name, region) or {}
            return resources.get(logical_id, match.group(0))

        replaced = self._pattern.sub(replace, text) if self.intent.placeholders else text
        return replaced.replace("arn:aws:", f"arn:{self.partition}:")

    def physical_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.physical(value)
        if isinstance(value, list):
            return [self.physical_value(item) for item in value]
        if isinstance(value, dict):
            return {key: self.physical_value(item) for key, item in value.items()}
        return value

    def describe_secret(self, secret: IntendedSecret) -> Mapping[str, Any] | None:
        client = self.aws.client("secretsmanager", secret.region)
        resources = self.stack_resources(secret.stack.stack_name, secret.region) or {}
        try:
            found: Mapping[str, Any] = client.describe_secret(
                SecretId=resources.get(secret.logical_id, secret.name)
            )
        except client.exceptions.ResourceNotFoundException:
            return None
        return None if found.get("DeletedDate") else found

    def resource_policy(
        self, secret: IntendedSecret, description: Mapping[str, Any]
    ) -> list[Mapping[str, Any]]:
        client = self.aws.client("secretsmanager", secret.region)
        text = client.get_resource_policy(SecretId=description["ARN"]).get("ResourcePolicy")
        return _statements(json.loads(text)) if text else []


def _stack_absent(error: Any) -> bool:
    details = error.response.get("Error", {})
    return details.get("Code") == "ValidationError" and "does not exist" in str(
        details.get("Message", "")
    )


def _statements(document: Any) -> list[Mapping[str, Any]]:
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    listed = [statements] if isinstance(statements, dict) else statements
    return [statement for statement in listed if isinstance(statement, dict)]


def _accepted_keys(live: _Live, key: str | None, aliases: Iterable[str]) -> tuple[str, set[str]]:
    """(the intended key, every way Secrets Manager may name it): the key's ARN (its stack's
    physical key id) or id, or an alias the assembly gives it, by name or by ARN; the AWS managed
    key when the template names none."""
    if key is None:
        return AWS_MANAGED, {AWS_MANAGED, "alias/aws/secretsmanager"}
    intended = live.physical(key)
    prefix = intended.split(":key/")[0] if ":key/" in intended else ""
    accepted = {intended, intended.rsplit("/", 1)[-1]}
    for alias in aliases:
        accepted |= {alias, f"{prefix}:{alias}" if prefix else alias}
    return intended, accepted


def _key(live: _Live, secret: IntendedSecret, description: Mapping[str, Any]) -> Finding:
    """The secret's KMS key: the key ARN the template names (its Keys stack's physical key id),
    the key id alone, or an alias the assembly gives that key, by name or ARN."""
    actual = description.get("KmsKeyId") or AWS_MANAGED
    intended, accepted = _accepted_keys(live, secret.key, secret.key_aliases)
    if actual in accepted:
        return Finding("kms-key", secret.name, "pass", f"encrypted with {actual}")
    return Finding("kms-key", secret.name, "fail", f"encrypted with {actual}, intended {intended}")


def _tags(secret: IntendedSecret, description: Mapping[str, Any]) -> Finding:
    """Every tag the template sets, with its value, and the mandatory tags; tags added outside
    the template (aws:cloudformation:*, account-wide cost tags) are not a mismatch."""
    actual = {tag["Key"]: tag.get("Value", "") for tag in description.get("Tags", [])}
    problems = []
    for key in sorted(set(secret.tags) | set(MANDATORY_TAGS)):
        if key not in secret.tags:
            problems.append(f"{key} is mandatory and the assembly does not set it")
        elif key not in actual:
            problems.append(f"{key} missing (intended {secret.tags[key]!r})")
        elif actual[key] != secret.tags[key]:
            problems.append(f"{key} is {actual[key]!r}, intended {secret.tags[key]!r}")
    if problems:
        return Finding("tags", secret.name, "fail", "; ".join(problems))
    return Finding("tags", secret.name, "pass", f"{len(secret.tags)} intended tags present")


def _policy(live: _Live, secret: IntendedSecret, actual: Sequence[Mapping[str, Any]]) -> Finding:
    """Statements compared by meaning: Sid and Version ignored, lists as sets, action names and
    condition keys without case, an account id principal as that account's root ARN."""
    intended = [live.physical_value(statement) for statement in secret.policy]
    wanted = Counter(_canonical(statement, live.partition) for statement in intended)
    found = Counter(_canonical(statement, live.partition) for statement in actual)
    if wanted == found:
        return Finding(
            "resource-policy", secret.name, "pass", f"{len(intended)} statements as intended"
        )
    missing = [
        _label(statement, index)
        for index, statement in enumerate(intended)
        if _canonical(statement, live.partition) in wanted - found
    ]
    extra = [
        _label(statement, index)
        for index, statement in enumerate(actual)
        if _canonical(statement, live.partition) in found - wanted
    ]
    parts = [f"missing or changed: {', '.join(missing)}"] if missing else []
    parts += [f"not in the assembly: {', '.join(extra)}"] if extra else []
    return Finding("resource-policy", secret.name, "fail", "; ".join(parts))


def _label(statement: Mapping[str, Any], index: int) -> str:
    return str(statement.get("Sid") or f"statement {index + 1}")


def _canonical(statement: Mapping[str, Any], partition: str) -> str:
    def texts(value: Any) -> list[str]:
        listed = value if isinstance(value, list) else [value]
        return sorted({_scalar(item) for item in listed})

    shape: dict[str, Any] = {"Effect": statement.get("Effect")}
    for name in ("Action", "NotAction"):
        if name in statement:
            shape[name] = sorted({action.lower() for action in texts(statement[name])})
    for name in ("Resource", "NotResource"):
        if name in statement:
            shape[name] = texts(statement[name])
    for name in ("Principal", "NotPrincipal"):
        principal = statement.get(name)
        if principal is None:
            continue
        if not isinstance(principal, dict):
            shape[name] = texts(principal)
            continue
        shape[name] = {
            kind: sorted(
                {
                    f"arn:{partition}:iam::{value}:root"
                    if kind == "AWS" and value.isdigit()
                    else value
                    for value in texts(values)
                }
            )
            for kind, values in principal.items()
        }
    conditions = statement.get("Condition")
    if isinstance(conditions, dict):
        shape["Condition"] = {
            operator: {str(key).lower(): texts(values) for key, values in pairs.items()}
            if isinstance(pairs, dict)
            else texts(pairs)
            for operator, pairs in conditions.items()
        }
    return json.dumps(shape, sort_keys=True)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _replicas(
    live: _Live, secret: IntendedSecret, description: Mapping[str, Any]
) -> Iterator[Finding]:
    """Each replica region of the template: listed in ReplicationStatus, InSync, and encrypted
    with the intended replica key (by ARN, key id, or an alias of the key)."""
    statuses = {status.get("Region"): status for status in description.get("ReplicationStatus", [])}
    for replica in secret.replicas:
        item = f"{secret.name} in {replica.region}"
        status = statuses.get(replica.region)
        if status is None:
            yield Finding("replica", item, "fail", "not in ReplicationStatus (not replicated)")
            continue
        if status.get("Status") != "InSync":
            message = status.get("StatusMessage")
            yield Finding(
                "replica",
                item,
                "fail",
                f"status {status.get('Status')}" + (f": {message}" if message else ""),
            )
            continue
        actual = status.get("KmsKeyId") or AWS_MANAGED
        intended, accepted = _accepted_keys(live, replica.key, secret.key_aliases)
        if actual not in accepted:
            yield Finding(
                "replica", item, "fail", f"InSync, encrypted with {actual}, intended {intended}"
            )
            continue
        yield Finding("replica", item, "pass", "InSync")


def _rotation(
    live: _Live, secret: IntendedSecret, description: Mapping[str, Any], clock: Clock
) -> Iterator[Finding]:
    """Rotation as the template sets it: enabled with the same interval, last rotated within it
    (plus the rotation window), and no rotation left unfinished (AWSPENDING on a version that is
    not AWSCURRENT, longer than an hour)."""
    enabled = bool(description.get("RotationEnabled"))
    if secret.rotation is None:
        if enabled:
            yield Finding(
                "rotation-enabled",
                secret.name,
                "fail",
                "rotation is on; the assembly does not rotate this secret",
            )
        return
    intended = secret.rotation
    if not enabled:
        yield Finding(
            "rotation-enabled",
            secret.name,
            "fail",
            f"rotation is off, intended {intended.schedule}",
        )
        return
    gap = longest_gap(intended.schedule)
    rules = description.get("RotationRules", {})
    if rules.get("ScheduleExpression"):
        live_gap = longest_gap(str(rules["ScheduleExpression"]))
        live_schedule = str(rules["ScheduleExpression"])
    elif rules.get("AutomaticallyAfterDays"):
        live_gap = timedelta(days=int(rules["AutomaticallyAfterDays"]))
        live_schedule = f"every {rules['AutomaticallyAfterDays']} days"
    else:
        live_gap, live_schedule = timedelta(0), "no schedule"
    if live_gap != gap:
        yield Finding(
            "rotation-enabled",
            secret.name,
            "fail",
            f"rotates {live_schedule}, intended {intended.schedule}",
        )
    else:
        yield Finding("rotation-enabled", secret.name, "pass", f"on, {intended.schedule}")
    allowed = gap + window(intended.window)
    now = clock.now()
    last = description.get("LastRotatedDate")
    if last is not None:
        age = now - last
        verdict: Status = "pass" if age <= allowed else "fail"
        yield Finding(
            "rotation-age",
            secret.name,
            verdict,
            f"last rotated {spoken(_whole_hours(age))} ago, "
            f"{intended.schedule} allows {spoken(allowed)}",
        )
    else:
        age = now - description["CreatedDate"]
        verdict = "pass" if age <= allowed else "fail"
        yield Finding(
            "rotation-age",
            secret.name,
            verdict,
            f"never rotated, created {spoken(_whole_hours(age))} ago, "
            f"{intended.schedule} allows {spoken(allowed)}",
        )
    yield _pending(live, secret, description, now)


def _whole_hours(span: timedelta) -> timedelta:
    return timedelta(hours=max(0, int(span.total_seconds() // 3600)))


def _pending(
    live: _Live, secret: IntendedSecret, description: Mapping[str, Any], now: datetime
) -> Finding:
    client = live.aws.client("secretsmanager", secret.region)
    versions: list[Mapping[str, Any]] = []
    token: dict[str, str] = {}
    while True:  # botocore has no paginator for ListSecretVersionIds
        page = client.list_secret_version_ids(SecretId=description["ARN"], **token)
        versions.extend(page.get("Versions", []))
        if not page.get("NextToken"):
            break
        token = {"NextToken": page["NextToken"]}
    for version in versions:
        stages = version.get("VersionStages", [])
        if "AWSPENDING" in stages and "AWSCURRENT" not in stages:
            created = version.get("CreatedDate")
            if created is not None and now - created <= PENDING_GRACE:
                return Finding(
                    "rotation-state",
                    secret.name,
                    "pass",
                    f"rotation in progress (AWSPENDING on version {version['VersionId']})",
                )
            return Finding(
                "rotation-state",
                secret.name,
                "fail",
                f"AWSPENDING on version {version['VersionId']}, not AWSCURRENT, for more than "
                f"{spoken(PENDING_GRACE)}: the last rotation failed",
            )
    return Finding("rotation-state", secret.name, "pass", "no unfinished rotation")


def _drift(live: _Live, clock: Clock, timeout: float) -> Iterator[Finding]:
    """Drift detection started on every stack at once, then polled until all finish or
    `timeout` seconds pass."""
    started: dict[str, tuple[Any, str]] = {}
    for stack in live.intent.stacks:
        if live.stack_resources(stack.stack_name, stack.region) is None:
            continue
        client = live.aws.client("cloudformation", stack.region)
        detection = client.detect_stack_drift(StackName=stack.stack_name)["StackDriftDetectionId"]
        started[stack.stack_name] = (client, detection)
    deadline = clock.monotonic() + timeout
    results: dict[str, Mapping[str, Any]] = {}
    while True:
        for name, (client, detection) in started.items():
            if name in results:
                continue
            status = client.describe_stack_drift_detection_status(StackDriftDetectionId=detection)
            if status.get("DetectionStatus") != "DETECTION_IN_PROGRESS":
                results[name] = status
        if len(results) == len(started) or clock.monotonic() >= deadline:
            break
        clock.sleep(DRIFT_POLL_SECONDS)
    for stack in live.intent.stacks:
        name = stack.stack_name
        if name not in started:
            yield Finding("drift", name, "fail", f"stack not deployed in {stack.region}")
        elif name not in results:
            yield Finding(
                "drift", name, "fail", f"drift detection did not finish within {timeout:g} s"
            )
        else:
            yield _drift_result(name, started[name][0], results[name])


def _drift_result(name: str, client: Any, status: Mapping[str, Any]) -> Finding:
    if status.get("DetectionStatus") == "DETECTION_FAILED":
        return Finding(
            "drift",
            name,
            "fail",
            f"detection failed: {status.get('DetectionStatusReason', 'no reason given')}",
        )
    drift = status.get("StackDriftStatus")
    if drift == "IN_SYNC":
        return Finding("drift", name, "pass", "IN_SYNC")
    if drift != "DRIFTED":
        return Finding("drift", name, "fail", f"drift status {drift}")
    drifted = []
    token: dict[str, str] = {}
    while True:  # botocore has no paginator for DescribeStackResourceDrifts
        page = client.describe_stack_resource_drifts(
            StackName=name, StackResourceDriftStatusFilters=["MODIFIED", "DELETED"], **token
        )
        drifted += [
            f"{resource['LogicalResourceId']} ({resource.get('ResourceType')}) "
            f"{resource.get('StackResourceDriftStatus')}"
            for resource in page.get("StackResourceDrifts", [])
        ]
        if not page.get("NextToken"):
            break
        token = {"NextToken": page["NextToken"]}
    return Finding("drift", name, "fail", "DRIFTED: " + ", ".join(sorted(drifted)))


def _readers(
    live: _Live,
    intent: Intent,
    described: Mapping[str, Mapping[str, Any]],
    policies: Mapping[str, Sequence[Mapping[str, Any]]],
) -> Iterator[Finding]:
    """For every role of the stage x every secret that exists: IAM's policy simulator decides
    the role's side (identity policies, permissions boundary, SCPs) and the live resource policy
    the secret's side; the two together must agree with the matrix."""
    roles = []
    for role in intent.roles:
        arn = _role_arn(live, role)
        if arn is None:
            yield Finding(
                "who-can-read", role.arn, "fail", f"role not deployed ({role.logical_id})"
            )
        else:
            roles.append((role, arn))
    iam = live.aws.client("iam", intent.primary_region)
    for secret in intent.secrets:
        if secret.name not in described:
            continue
        secret_arn = str(described[secret.name]["ARN"])
        for role, arn in roles:
            item = f"{arn} reads {secret.name}"
            intended = role.arn in secret.readers
            decision, why = _decide(iam, arn, secret.account, secret_arn, policies[secret.name])
            word = "allowed" if decision else "denied"
            wanted = "allowed" if intended else "denied"
            yield Finding(
                "who-can-read",
                item,
                "pass" if decision == intended else "fail",
                f"{word} ({why}), intended {wanted}",
            )


def _role_arn(live: _Live, role: IntendedRole) -> str | None:
    resources = live.stack_resources(role.stack.stack_name, role.stack.region) or {}
    if role.logical_id not in resources:
        return None
    return live.physical(role.arn)


def _decide(
    iam: Any,
    role_arn: str,
    account: str,
    secret_arn: str,
    policy: Sequence[Mapping[str, Any]],
) -> tuple[bool, str]:
    """Same-account access: no explicit deny on either side, and an allow on either side (the
    identity policy, or a resource policy statement that names the role)."""
    results = iam.simulate_principal_policy(
        PolicySourceArn=role_arn, ActionNames=[READ_ACTION], ResourceArns=[secret_arn]
    )["EvaluationResults"]
    simulated = str(results[0]["EvalDecision"]) if results else "implicitDeny"
    request = Request(
        caller_arn=role_arn,
        caller_account=account,
        action=READ_ACTION,
        resource=secret_arn,
        context={"aws:PrincipalArn": role_arn, "aws:PrincipalAccount": account},
    )
    outcome = evaluate(policy, request, resource_based=True)
    if simulated == "explicitDeny":
        return False, "simulator: explicitDeny"
    if outcome.effect == "deny":
        return False, f"resource policy denies: {', '.join(outcome.sids)}"
    if simulated == "allowed":
        return True, "simulator: allowed"
    if outcome.effect == "allow" and outcome.principal_match in (
        PrincipalMatch.PRINCIPAL,
        PrincipalMatch.ANYONE,
    ):
        return True, f"resource policy allows: {', '.join(outcome.sids)}"
    return False, f"simulator: {simulated}, resource policy: no allow"
