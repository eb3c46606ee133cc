"""`strongbox verify`: credentials, the checks, and the table or JSON they print."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from strongbox.verify.checks import Aws, Clock, Finding, VerifyError, run
from strongbox.verify.intent import read_intent

DESCRIPTION = """\
Compare the live AWS account with the cloud assembly for one environment (the stage
Strongbox-<Env>), read-only, with the caller's credentials (or, with --role-arn, those of
sts:AssumeRole of that role). One line per check, pass or fail with the reason:

  secret            each secret of the environment exists (DescribeSecret)
  kms-key           encrypted with the intended key: the key the template names, i.e. the
                    physical key of the Keys stack (its id or ARN), or an alias of it
  tags              every tag the template sets, with its value, and the mandatory
                    Environment, Application, Component, Owner, SecretKind
  resource-policy   the live resource policy (GetResourcePolicy) equals the template's,
                    statement by statement, by meaning (Sid, order and list order ignored)
  replica           each replica region of the template is in ReplicationStatus, InSync,
                    encrypted with the intended replica key
  rotation-enabled  rotation on, with the template's interval (rotated secrets), or off
  rotation-age      last rotated within the schedule's longest gap plus its window
  rotation-state    no unfinished rotation: AWSPENDING on a version other than AWSCURRENT
                    for more than an hour (ListSecretVersionIds) is a failed rotation
  drift             each stack of the stage: DetectStackDrift, polled up to --drift-timeout;
                    IN_SYNC passes, DRIFTED fails naming the drifted resources
  who-can-read      every role of the stage x every secret: iam:SimulatePrincipalPolicy
                    (the role's side) with the live resource policy (the secret's side) must
                    agree with the assembly's who-can-read matrix (allowed only where intended)

Exit status: 0 when everything matches, 1 on any mismatch, 2 (one line on stderr) on bad
input or an AWS error.
"""

EPILOG = """\
permissions: a read-only policy, in strongbox/verify/verify-policy.json (placeholders) or from
strongbox.verify.permissions.verify_policy(...): secretsmanager:DescribeSecret,
GetResourcePolicy, ListSecretVersionIds on secret:<env>/<application>/* (never
GetSecretValue); cloudformation:DetectStackDrift, DetectStackResourceDrift,
DescribeStackDriftDetectionStatus, DescribeStackResourceDrifts, ListStackResources,
DescribeStackResources, DescribeStacks on the stage's stacks; iam:SimulatePrincipalPolicy on
the stage's roles; and, because drift detection reads every resource of a stack with the
caller's permissions, the Describe/Get/List reads of the resource types the stage deploys.
With --role-arn, the caller also needs sts:AssumeRole on that role.
Needs boto3: pip install 'cdk-strongbox[verify]'.
"""


class _Session:
    """boto3 clients of one session, one per service and region."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self._clients: dict[tuple[str, str], Any] = {}

    def client(self, service: str, region: str) -> Any:
        if (service, region) not in self._clients:
            self._clients[(service, region)] = self._session.client(service, region_name=region)
        return self._clients[(service, region)]


def open_session(role_arn: str | None, region: str) -> Aws:
    """The caller's credentials, or those of `role_arn` assumed with them."""
    try:
        import boto3  # type: ignore[import-untyped]
    except ImportError:
        raise VerifyError(
            "needs boto3, which is not installed: pip install 'cdk-strongbox[verify]'"
        ) from None
    session = boto3.Session(region_name=region)
    if role_arn is not None:
        assumed = session.client("sts", region_name=region).assume_role(
            RoleArn=role_arn, RoleSessionName="strongbox-verify"
        )["Credentials"]
        session = boto3.Session(
            aws_access_key_id=assumed["AccessKeyId"],
            aws_secret_access_key=assumed["SecretAccessKey"],
            aws_session_token=assumed["SessionToken"],
            region_name=region,
        )
    return _Session(session)


def verify(
    *,
    environment: str,
    assembly: Path,
    output_format: str,
    role_arn: str | None,
    drift_timeout: float,
    session: Callable[[str | None, str], Aws] | None = None,
    clock: Clock | None = None,
) -> tuple[int, str]:
    """(exit status 0 or 1, the text to print). AssemblyError or VerifyError (one line) when the
    comparison cannot be made."""
    intent = read_intent(assembly, environment)
    try:
        aws = (session or open_session)(role_arn, intent.primary_region)
        identity = aws.client("sts", intent.primary_region).get_caller_identity()
        account = str(identity["Account"])
        partition = str(identity["Arn"]).split(":")[1]
        if account != intent.account:
            raise VerifyError(
                f"the credentials are for account {account}; {intent.stage} deploys to "
                f"{intent.account}"
            )
        findings = run(
            intent,
            aws,
            partition=partition,
            clock=clock or Clock(now=now),
            drift_timeout=drift_timeout,
        )
    except VerifyError:
        raise
    except Exception as error:
        if _is_aws_error(error):
            raise VerifyError(f"AWS error: {_one_line(error)}") from None
        raise
    ok = all(finding.status == "pass" for finding in findings)
    text = (
        as_json(environment, intent.stage, account, findings)
        if output_format == "json"
        else as_table(findings)
    )
    return (0 if ok else 1), text


def now() -> datetime:
    """The current time (UTC)."""
    return datetime.now(UTC)


def _is_aws_error(error: Exception) -> bool:
    """botocore's errors (a ClientError from the service, or no credentials, no endpoint),
    recognised without importing botocore before boto3 is known to be there."""
    return any(
        cls.__module__.startswith("botocore.") and cls.__name__ in ("ClientError", "BotoCoreError")
        for cls in type(error).__mro__
    )


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


def as_table(findings: Sequence[Finding]) -> str:
    """One line per finding: `FAIL    kms-key           <item>: <reason>`, then the counts."""
    lines = [f"{'RESULT':<6}  {'CHECK':<16}  ITEM: REASON"]
    lines += [
        f"{finding.status.upper():<6}  {finding.check:<16}  {finding.item}: {finding.reason}"
        for finding in findings
    ]
    failed = sum(finding.status == "fail" for finding in findings)
    lines.append(f"{len(findings)} checks: {len(findings) - failed} passed, {failed} failed")
    return "\n".join(lines) + "\n"


def as_json(environment: str, stage: str, account: str, findings: Sequence[Finding]) -> str:
    """The findings as one JSON object with stable keys."""
    failed = sum(finding.status == "fail" for finding in findings)
    document = {
        "environment": environment,
        "stage": stage,
        "account": account,
        "ok": failed == 0,
        "summary": {"checks": len(findings), "passed": len(findings) - failed, "failed": failed},
        "findings": [asdict(finding) for finding in findings],
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
