"""`strongbox verify`: a live account built from the synthesized prod stage, then broken one way
at a time. Secrets Manager is moto's (describe, tags, resource policy, rotation, replicas,
versions); CloudFormation (stack resources, drift) and IAM's policy simulator, which moto does
not implement, are botocore Stubbers fed in the order verify calls them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from botocore.stub import Stubber  # type: ignore[import-untyped]
from moto.secretsmanager.models import secretsmanager_backends

from strongbox import cli
from strongbox.verify import command
from strongbox.verify.checks import Clock
from strongbox.verify.intent import Intent, read_intent
from strongbox.verify.permissions import (
    DRIFT_READ_STATEMENTS,
    POLICY_FILE,
    template_text,
    verify_policy,
)
from strongbox.verify.schedule import longest_gap
from tests.conftest import Synthesized, mocked_aws

ACCOUNT = "333333333333"
PRIMARY = "eu-west-1"
REPLICA = "eu-central-1"
READ = "secretsmanager:GetSecretValue"
STAMP = datetime(2026, 12, 1, tzinfo=UTC)
DB = "prod/payments/db-credentials"
STRIPE = "prod/payments/stripe-api-key"
SESSION = "prod/payments/session-signing-key"
REPORTING = "prod/payments/reporting-api-token"
EXECUTION_ROLE = "arn:aws:iam::333333333333:role/strongbox/payments/payments-prod-api-execution"
NAMES = "prod/payments/"  # the prod secrets' name prefix
BATCH_ROLE = "arn:aws:iam::333333333333:role/strongbox/payments/payments-prod-batch-instance"


@pytest.fixture(scope="module")
def intent(synthesized: Synthesized) -> Intent:
    return read_intent(synthesized.outdir, "prod")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", PRIMARY)
    monkeypatch.setenv("MOTO_ACCOUNT_ID", ACCOUNT)
    with mocked_aws():
        yield


@dataclass
class Account:
    """The prod stage deployed as the assembly intends; tests break it before `verify`."""

    intent: Intent
    physical: dict[tuple[str, str], str] = field(default_factory=dict)
    # What the stubbed services answer (the defaults match the assembly).
    drifted: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)
    simulator: dict[tuple[str, str], str] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)
    detecting: set[str] = field(default_factory=set)  # stacks whose detection never finishes
    undeployed: set[str] = field(default_factory=set)  # stacks CloudFormation does not know
    list_error: str | None = None
    stubbers: list[Stubber] = field(default_factory=list)

    def deploy(self) -> None:
        key_id = f"mrk-{uuid.uuid4().hex}"
        for stack in self.intent.stacks:
            for logical_id, resource in stack.resources.items():
                kind = resource.get("Type")
                properties = resource.get("Properties", {})
                if kind in ("AWS::KMS::Key", "AWS::KMS::ReplicaKey"):
                    physical = key_id  # a multi-region key and its replica share the id
                elif kind == "AWS::IAM::Role":
                    physical = properties.get("RoleName", f"{stack.stack_name}-{logical_id}-A1B2")
                else:
                    physical = f"{logical_id}-physical"
                self.physical[(stack.stack_name, logical_id)] = physical
        for secret in self.intent.secrets:
            client = boto3.client("secretsmanager", region_name=secret.region)
            replicas = [
                {"Region": replica.region, "KmsKeyId": self.key_arn(replica.region)}
                for replica in secret.replicas
            ]
            created = client.create_secret(
                Name=secret.name,
                SecretString=uuid.uuid4().hex,
                KmsKeyId=self.key_arn(secret.region),
                Tags=[{"Key": key, "Value": value} for key, value in secret.tags.items()],
                **({"AddReplicaRegions": replicas} if replicas else {}),
            )
            self.physical[(secret.stack.stack_name, secret.logical_id)] = created["ARN"]
            for replica in self.backend_secret(secret.name).replicas:
                replica.config["KmsKeyId"] = self.key_arn(replica.region)  # moto keeps its own
            assert "<" not in json.dumps(secret.policy)  # prod's policies name no generated ids
            client.put_resource_policy(
                SecretId=secret.name,
                ResourcePolicy=json.dumps({"Version": "2012-10-17", "Statement": secret.policy}),
            )
            if secret.rotation is not None:
                days = int(secret.rotation.schedule.removeprefix("rate(").split()[0])
                client.rotate_secret(
                    SecretId=secret.name, RotationRules={"AutomaticallyAfterDays": days}
                )

    def key_arn(self, region: str) -> str:
        key_id = next(v for (_, lid), v in self.physical.items() if lid.startswith("SecretsKey"))
        return f"arn:aws:kms:{region}:{ACCOUNT}:key/{key_id}"

    @staticmethod
    def backend_secret(name: str, region: str = PRIMARY) -> Any:
        secrets = secretsmanager_backends[ACCOUNT][region].secrets
        return next(secret for secret in secrets.values() if secret.name == name)

    def session(self, role_arn: str | None, region: str) -> _Clients:
        """The clients verify gets: moto's, with Stubbers for CloudFormation and IAM."""
        clients = _Clients()
        stubs: dict[str, Stubber] = {}
        for stack in self.intent.stacks:
            stub = self._stub(clients, stubs, "cloudformation", stack.region)
            if self.list_error is not None:
                stub.add_client_error("list_stack_resources", "AccessDenied", self.list_error, 403)
                return clients
            if stack.stack_name in self.undeployed:
                stub.add_client_error(
                    "list_stack_resources",
                    "ValidationError",
                    f"Stack with id {stack.stack_name} does not exist",
                    400,
                    expected_params={"StackName": stack.stack_name},
                )
                continue
            summaries = [
                {
                    "LogicalResourceId": logical_id,
                    "PhysicalResourceId": self.physical[(stack.stack_name, logical_id)],
                    "ResourceType": resource["Type"],
                    "LastUpdatedTimestamp": STAMP,
                    "ResourceStatus": "CREATE_COMPLETE",
                }
                for logical_id, resource in stack.resources.items()
            ]
            stub.add_response(
                "list_stack_resources",
                {"StackResourceSummaries": summaries},
                {"StackName": stack.stack_name},
            )
        deployed = [
            stack for stack in self.intent.stacks if stack.stack_name not in self.undeployed
        ]
        for stack in deployed:
            stubs[f"cloudformation/{stack.region}"].add_response(
                "detect_stack_drift",
                {"StackDriftDetectionId": f"detect-{stack.stack_name}"},
                {"StackName": stack.stack_name},
            )
        polls = [deployed, [stack for stack in deployed if stack.stack_name in self.detecting]]
        for stack in [stack for stacks in polls for stack in stacks]:
            detecting = stack.stack_name in self.detecting
            stubs[f"cloudformation/{stack.region}"].add_response(
                "describe_stack_drift_detection_status",
                {
                    "StackId": f"arn:aws:cloudformation:{stack.region}:{ACCOUNT}:stack/x/y",
                    "StackDriftDetectionId": f"detect-{stack.stack_name}",
                    "StackDriftStatus": "DRIFTED"
                    if stack.stack_name in self.drifted
                    else "IN_SYNC",
                    "DetectionStatus": "DETECTION_IN_PROGRESS"
                    if detecting
                    else "DETECTION_COMPLETE",
                    "Timestamp": STAMP,
                },
                {"StackDriftDetectionId": f"detect-{stack.stack_name}"},
            )
        for stack in self.intent.stacks:
            if stack.stack_name not in self.drifted:
                continue
            stubs[f"cloudformation/{stack.region}"].add_response(
                "describe_stack_resource_drifts",
                {
                    "StackResourceDrifts": [
                        {
                            "StackId": "x",
                            "LogicalResourceId": logical_id,
                            "ResourceType": kind,
                            "StackResourceDriftStatus": status,
                            "Timestamp": STAMP,
                        }
                        for logical_id, kind, status in self.drifted[stack.stack_name]
                    ]
                },
                {
                    "StackName": stack.stack_name,
                    "StackResourceDriftStatusFilters": ["MODIFIED", "DELETED"],
                },
            )
        iam = self._stub(clients, stubs, "iam", PRIMARY)
        for secret in self.intent.secrets:
            if secret.name in self.missing:
                continue
            live = boto3.client("secretsmanager", region_name=secret.region)
            arn = live.describe_secret(SecretId=secret.name)["ARN"]
            for role in self.intent.roles:
                if role.stack.stack_name in self.undeployed:
                    continue
                role_arn = role.arn.replace(
                    f"{role.stack.stack_name}-{role.logical_id}-<generated>",
                    self.physical[(role.stack.stack_name, role.logical_id)],
                )
                decision = self.simulator.get(
                    (role.arn, secret.name),
                    "allowed" if role.arn in secret.readers else "implicitDeny",
                )
                iam.add_response(
                    "simulate_principal_policy",
                    {
                        "EvaluationResults": [
                            {
                                "EvalActionName": READ,
                                "EvalResourceName": arn,
                                "EvalDecision": decision,
                            }
                        ],
                        "IsTruncated": False,
                    },
                    {"PolicySourceArn": role_arn, "ActionNames": [READ], "ResourceArns": [arn]},
                )
        return clients

    def _stub(
        self, clients: _Clients, stubs: dict[str, Stubber], service: str, region: str
    ) -> Stubber:
        name = f"{service}/{region}"
        if name not in stubs:
            client = clients.client(service, region)
            stubs[name] = Stubber(client)
            stubs[name].activate()
            self.stubbers.append(stubs[name])
        return stubs[name]


class _Clients:
    def __init__(self) -> None:
        self._clients: dict[tuple[str, str], Any] = {}

    def client(self, service: str, region: str) -> Any:
        if (service, region) not in self._clients:
            self._clients[(service, region)] = boto3.client(service, region_name=region)
        return self._clients[(service, region)]


@pytest.fixture
def account(intent: Intent, aws: None, monkeypatch: pytest.MonkeyPatch) -> Account:
    deployed = Account(intent)
    deployed.deploy()
    monkeypatch.setattr(command, "open_session", deployed.session)
    return deployed


def run(
    synthesized: Synthesized, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, list[str], str]:
    status = cli.main(["verify", "--env", "prod", "--assembly", str(synthesized.outdir), *extra])
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err


def fail(check: str, item: str, reason: str) -> str:
    return f"FAIL    {check:<16}  {item}: {reason}"


def failures(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("FAIL")]


# --- a matching account ---------------------------------------------------------------------


def test_a_matching_account_passes_every_check(
    synthesized: Synthesized, account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    status, lines, err = run(synthesized, capsys)

    assert (status, failures(lines), err) == (0, [], "")
    secrets, roles = len(account.intent.secrets), len(account.intent.roles)
    stacks = len(account.intent.stacks)
    assert stacks == 8  # Keys, ReplicaKeys, Network, Secrets, Parameters, Detection, Database...
    replicas = sum(len(secret.replicas) for secret in account.intent.secrets)
    rotated = sum(secret.rotation is not None for secret in account.intent.secrets)
    checks = secrets * 4 + replicas + rotated * 3 + stacks + secrets * roles
    assert lines[-1] == f"{checks} checks: {checks} passed, 0 failed"
    assert f"PASS    kms-key           {DB}: encrypted with {account.key_arn(PRIMARY)}" in lines
    assert f"PASS    replica           {STRIPE} in {REPLICA}: InSync" in lines
    assert "PASS    drift             Strongbox-Prod-Secrets: IN_SYNC" in lines
    assert (
        f"PASS    who-can-read      {EXECUTION_ROLE} reads {DB}: allowed (simulator: allowed), "
        "intended allowed"
    ) in lines
    for stubber in account.stubbers:
        stubber.assert_no_pending_responses()


def test_json_output_has_stable_keys_and_the_same_verdict(
    synthesized: Synthesized, account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    status, lines, _ = run(synthesized, capsys, "--format", "json")

    document = json.loads("\n".join(lines))
    assert status == 0
    assert sorted(document) == ["account", "environment", "findings", "ok", "stage", "summary"]
    assert (document["ok"], document["stage"], document["account"]) == (
        True,
        "Strongbox-Prod",
        ACCOUNT,
    )
    assert sorted(document["findings"][0]) == ["check", "item", "reason", "status"]
    assert document["summary"]["failed"] == 0


# --- one test per kind of mismatch ----------------------------------------------------------


def test_a_missing_secret_fails(
    synthesized: Synthesized, account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    boto3.client("secretsmanager").delete_secret(SecretId=DB, ForceDeleteWithoutRecovery=True)
    account.missing.add(DB)

    status, lines, _ = run(synthesized, capsys)

    assert status == 1
    assert failures(lines) == [fail("secret", DB, f"missing in {PRIMARY}")]


def test_a_secret_under_another_key_fails(
    synthesized: Synthesized, account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    other = f"arn:aws:kms:{PRIMARY}:{ACCOUNT}:key/0000aaaa-1111-2222-3333-444455556666"
    boto3.client("secretsmanager").update_secret(SecretId=STRIPE, KmsKeyId=other)

    status, lines, _ = run(synthesized, capsys)

    assert status == 1
    assert failures(lines) == [
        fail("kms-key", STRIPE, f"encrypted with {other}, intended {account.key_arn(PRIMARY)}")
    ]


def test_a_secret_under_the_keys_alias_passes(
    synthesized: Synthesized, account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    boto3.client("secretsmanager").update_secret(
        SecretId=STRIPE, KmsKeyId="alias/payments/prod/secrets"
    )

    status, lines, _ = run(synthesized, capsys)

    assert (status, failures(lines)) == (0, [])


def test_a_missing_or_changed_tag_fails(
    synthesized: Synthesized, account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    client = boto3.client("secretsmanager")
    client.untag_resource(SecretId=SESSION, TagKeys=["Owner"])
    client.tag_resource(SecretId=SESSION, Tags=[{"Key": "Environment", "Value": "staging"}])

    status, lines, _ = run(synthesized, capsys)

    assert status == 1
    assert failures(lines) == [
        fail(
            "tags",
            SESSION,
            "Environment is 'staging', intended 'prod'; Owner missing (intended 'team-payments')",
        )
    ]


def test_a_changed_resource_policy_fails_and_a_reordered_one_passes(
    synthesized: Synthesized, account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    client = boto3.client("secretsmanager")
    (reporting,) = (s for s in account.intent.secrets if s.name == REPORTING)
    deny, cross_account = reporting.policy
    # Same meaning, other form: statements swapped, lists reordered, the account id alone.
    reordered = {
        **cross_account,
        "Action": list(reversed(cross_account["Action"])),
        "Principal": {"AWS": "444444444444"},
    }
    client.put_resource_policy(
        SecretId=REPORTING, ResourcePolicy=json.dumps({"Statement": [reordered, deny]})
    )
    assert run(synthesized, capsys)[0] == 0

    widened = {**cross_account, "Action": ["secretsmanager:*"]}
    client.put_resource_policy(
        SecretId=REPORTING, ResourcePolicy=json.dumps({"Statement": [deny, widened]})
    )
    status, lines, _ = run(synthesized, capsys)

    assert status == 1
    assert failures(lines) == [
        fail(
            "resource-policy",
            REPORTING,
            "missing or changed: CrossAccountRead444444444444; "
            "not in the assembly: CrossAccountRead444444444444",
        )
    ]


def test_a_replica_not_in_sync_fails(
    synthesized: Synthesized,
    intent: Intent,
    aws: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A secret of the same name already in the replica region: moto, like Secrets Manager,
    # fails that replication.
    boto3.client("secretsmanager", region_name=REPLICA).create_secret(
        Name=STRIPE, SecretString=uuid.uuid4().hex
    )
    deployed = Account(intent)
    deployed.deploy()
    monkeypatch.setattr(command, "open_session", deployed.session)

    status, lines, _ = run(synthesized, capsys)

    assert status == 1
    assert failures(lines) == [
        fail(
            "replica",
            f"{STRIPE} in {REPLICA}",
            f"status Failed: Replication failed: Secret name simple already exists in region "
            f"{REPLICA}.",
        )
    ]


def test_a_replica_region_removed_or_under_another_key_fails(
    synthesized: Synthesized, account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    boto3.client("secretsmanager").remove_regions_from_replication(
        SecretId=STRIPE, RemoveReplicaRegions=[REPLICA]
    )
    (replica,) = account.backend_secret(SESSION).replicas
    replica.config["KmsKeyId"] = "alias/aws/secretsmanager"

    status, lines, _ = run(synthesized, capsys)

    assert status == 1
    assert failures(lines) == [
        fail("replica", f"{STRIPE} in {REPLICA}", "not in ReplicationStatus (not replicated)"),
        fail(
            "replica",
            f"{SESSION} in {REPLICA}",
            f"InSync, encrypted with alias/aws/secretsmanager, intended {account.key_arn(REPLICA)}",
        ),
    ]


def test_rotation_on_a_secret_the_assembly_does_not_rotate_fails(
    synthesized: Synthesized, account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    boto3.client("secretsmanager").rotate_secret(
        SecretId=STRIPE, RotationRules={"AutomaticallyAfterDays": 7}
    )

    status, lines, _ = run(synthesized, capsys)

    assert status == 1
    assert failures(lines) == [
        fail("rotation-enabled", STRIPE, "rotation is on; the assembly does not rotate this secret")
    ]


def test_rotation_turned_off_fails(
    synthesized: Synthesized, account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    # CancelRotateSecret in moto wants a rotation function; the state it leaves is this.
    account.backend_secret(SESSION).rotation_enabled = False

    status, lines, _ = run(synthesized, capsys)

    assert status == 1
    assert failures(lines) == [
        fail("rotation-enabled", SESSION, "rotation is off, intended rate(30 days)")
    ]


def test_a_rotation_older_than_the_schedule_fails(
    synthesized: Synthesized, account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    # moto sets LastRotatedDate when it rotates: move it 40 days back.
    stale = datetime.now(UTC) - timedelta(days=40)
    account.backend_secret(DB).last_rotation_date = int(stale.timestamp())

    status, lines, _ = run(synthesized, capsys)

    assert status == 1
    assert failures(lines) == [
        fail("rotation-age", DB, "last rotated 40 days ago, rate(30 days) allows 30 days 4 hours")
    ]


def test_a_failed_rotation_fails(
    synthesized: Synthesized,
    account: Account,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A rotation that stopped after createSecret: AWSPENDING on a version of its own.
    pending = str(uuid.uuid4())
    boto3.client("secretsmanager").put_secret_value(
        SecretId=SESSION,
        SecretString=uuid.uuid4().hex,
        ClientRequestToken=pending,
        VersionStages=["AWSPENDING"],
    )
    just_now = run(synthesized, capsys)
    assert just_now[0] == 0  # within the hour a rotation takes, it is one in progress
    assert (
        f"PASS    rotation-state    {SESSION}: rotation in progress (AWSPENDING on version "
        f"{pending})"
    ) in just_now[1]

    later = datetime.now(UTC) + timedelta(hours=2)
    monkeypatch.setattr(command, "now", lambda: later)
    status, lines, _ = run(synthesized, capsys)

    assert status == 1
    assert failures(lines) == [
        fail(
            "rotation-state",
            SESSION,
            f"AWSPENDING on version {pending}, not AWSCURRENT, for more than 1 hour: "
            "the last rotation failed",
        )
    ]


def test_a_drifted_stack_fails_naming_the_resource(
    synthesized: Synthesized, account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    account.drifted["Strongbox-Prod-Keys"] = [("SecretsKey0D2EC683", "AWS::KMS::Key", "MODIFIED")]

    status, lines, err = run(synthesized, capsys)

    assert (status, err) == (1, "")
    assert failures(lines) == [
        fail("drift", "Strongbox-Prod-Keys", "DRIFTED: SecretsKey0D2EC683 (AWS::KMS::Key) MODIFIED")
    ]


def test_a_drift_detection_that_does_not_finish_in_time_fails(
    synthesized: Synthesized, account: Account
) -> None:
    account.detecting.add("Strongbox-Prod-Network")
    elapsed = [0.0]

    def sleep(seconds: float) -> None:
        elapsed[0] += seconds

    status, text = command.verify(
        environment="prod",
        assembly=synthesized.outdir,
        output_format="table",
        role_arn=None,
        drift_timeout=3,
        clock=Clock(now=command.now, sleep=sleep, monotonic=lambda: elapsed[0]),
    )

    assert status == 1
    assert elapsed == [5.0]  # one poll interval, then the deadline has passed
    assert failures(text.splitlines()) == [
        fail("drift", "Strongbox-Prod-Network", "drift detection did not finish within 3 s")
    ]
    for stubber in account.stubbers:
        stubber.assert_no_pending_responses()


def test_a_stack_that_is_not_deployed_fails_its_drift_and_its_roles(
    synthesized: Synthesized, account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    account.undeployed.add("Strongbox-Prod-Database")

    status, lines, _ = run(synthesized, capsys)

    assert status == 1
    monitoring = "arn:aws:iam::333333333333:role/Strongbox-Prod-Database-MonitoringRole90457BF9"
    assert failures(lines) == [
        fail("drift", "Strongbox-Prod-Database", f"stack not deployed in {PRIMARY}"),
        fail(
            "who-can-read",
            f"{monitoring}-<generated>",
            "role not deployed (MonitoringRole90457BF9)",
        ),
    ]


def test_the_simulator_allowing_a_role_the_matrix_denies_fails(
    synthesized: Synthesized, account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    assert BATCH_ROLE not in next(s for s in account.intent.secrets if s.name == DB).readers
    account.simulator[(BATCH_ROLE, DB)] = "allowed"

    status, lines, _ = run(synthesized, capsys)

    assert status == 1
    assert failures(lines) == [
        fail(
            "who-can-read",
            f"{BATCH_ROLE} reads {DB}",
            "allowed (simulator: allowed), intended denied",
        )
    ]


def test_the_simulator_denying_a_role_the_matrix_allows_fails(
    synthesized: Synthesized, account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    account.simulator[(EXECUTION_ROLE, DB)] = "implicitDeny"

    status, lines, _ = run(synthesized, capsys)

    assert status == 1
    assert failures(lines) == [
        fail(
            "who-can-read",
            f"{EXECUTION_ROLE} reads {DB}",
            "denied (simulator: implicitDeny, resource policy: no allow), intended allowed",
        )
    ]


def test_a_resource_policy_deny_makes_the_intended_reader_denied(
    synthesized: Synthesized, account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    # The simulator, for a role, cannot take the resource policy (AWS evaluates a ResourcePolicy
    # only for IAM users); verify reads the live policy itself.
    (db,) = (s for s in account.intent.secrets if s.name == DB)
    deny_reads = {
        "Sid": "NoReads",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": READ,
        "Resource": "*",
    }
    boto3.client("secretsmanager").put_resource_policy(
        SecretId=DB, ResourcePolicy=json.dumps({"Statement": [*db.policy, deny_reads]})
    )

    status, lines, _ = run(synthesized, capsys)

    assert status == 1
    assert failures(lines) == [
        fail("resource-policy", DB, "not in the assembly: NoReads"),
        fail(
            "who-can-read",
            f"{EXECUTION_ROLE} reads {DB}",
            "denied (resource policy denies: NoReads), intended allowed",
        ),
    ]


# --- input and AWS errors -------------------------------------------------------------------


def test_an_unknown_environment_is_one_line_and_exit_2(
    synthesized: Synthesized, capsys: pytest.CaptureFixture[str]
) -> None:
    status = cli.main(["verify", "--env", "qa", "--assembly", str(synthesized.outdir)])

    err = capsys.readouterr().err
    assert status == 2
    assert err.splitlines() == [
        f"strongbox verify: --env qa: the assembly {synthesized.outdir} has no stage "
        "Strongbox-Qa (stages: Strongbox-Dev, Strongbox-Prod, Strongbox-Staging)"
    ]


def test_an_aws_error_is_one_line_and_exit_2(
    synthesized: Synthesized, account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    account.list_error = "not authorized to perform cloudformation:ListStackResources"

    status, lines, err = run(synthesized, capsys)

    assert (status, lines) == (2, [])
    assert err.splitlines() == [
        "strongbox verify: AWS error: An error occurred (AccessDenied) when calling the "
        "ListStackResources operation: not authorized to perform "
        "cloudformation:ListStackResources"
    ]


def test_credentials_of_another_account_are_refused(
    synthesized: Synthesized,
    account: Account,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def elsewhere(role_arn: str | None, region: str) -> _Clients:
        clients = account.session(role_arn, region)
        sts = Stubber(clients.client("sts", region))
        sts.add_response(
            "get_caller_identity",
            {"Account": "999999999999", "Arn": "arn:aws:iam::999999999999:user/someone"},
        )
        sts.activate()
        return clients

    monkeypatch.setattr(command, "open_session", elsewhere)

    status, _, err = run(synthesized, capsys)

    assert status == 2
    assert err.splitlines() == [
        "strongbox verify: the credentials are for account 999999999999; Strongbox-Prod "
        f"deploys to {ACCOUNT}"
    ]


def test_a_role_arn_verifies_with_the_assumed_roles_credentials(aws: None) -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/strongbox-verify"

    clients = command.open_session(role, PRIMARY)

    identity = clients.client("sts", PRIMARY).get_caller_identity()
    assert identity["Arn"] == (
        f"arn:aws:sts::{ACCOUNT}:assumed-role/strongbox-verify/strongbox-verify"
    )


def test_help_names_each_check_and_the_permissions(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["verify", "--help"])

    text = " ".join(capsys.readouterr().out.split())
    assert exited.value.code == 0
    for check in (
        "secret",
        "kms-key",
        "tags",
        "resource-policy",
        "replica",
        "rotation-enabled",
        "rotation-age",
        "rotation-state",
        "drift",
        "who-can-read",
    ):
        assert f" {check} " in text
    for permission in (
        "secretsmanager:DescribeSecret",
        "GetResourcePolicy",
        "ListSecretVersionIds",
        "cloudformation:DetectStackDrift",
        "DescribeStackDriftDetectionStatus",
        "DescribeStackResourceDrifts",
        "ListStackResources",
        "iam:SimulatePrincipalPolicy",
        "sts:AssumeRole",
        "verify-policy.json",
    ):
        assert permission in text


# --- the shipped policy -----------------------------------------------------------------------


def test_the_shipped_policy_file_is_generated_from_the_function() -> None:
    assert POLICY_FILE.read_text(encoding="utf-8") == template_text()


def test_the_policy_scopes_secrets_stacks_and_roles_to_the_environment() -> None:
    statements = {
        statement["Sid"]: statement
        for statement in verify_policy(
            partition="aws",
            account=ACCOUNT,
            regions=[PRIMARY, REPLICA],
            secret_prefix=NAMES,
            stack_prefix="Strongbox-Prod-",
        )
    }

    assert statements["DescribeTheEnvironmentsSecrets"]["Resource"] == [
        f"arn:aws:secretsmanager:{PRIMARY}:{ACCOUNT}:secret:prod/payments/*",
        f"arn:aws:secretsmanager:{REPLICA}:{ACCOUNT}:secret:prod/payments/*",
    ]
    assert statements["SimulateTheStagesRoles"]["Resource"] == [
        f"arn:aws:iam::{ACCOUNT}:role/Strongbox-Prod-*",
        f"arn:aws:iam::{ACCOUNT}:role/strongbox/payments/*",
    ]
    assert statements["DriftReadsOfTheEnvironmentsKeys"]["Condition"] == {
        "ForAnyValue:StringLike": {"kms:ResourceAliases": "alias/payments/prod/*"}
    }
    actions = [a for statement in statements.values() for a in statement["Action"]]
    assert not [a for a in actions if a.endswith("GetSecretValue") or a.startswith("kms:Decrypt")]
    assert all(
        statement["Resource"] == "*"
        for statement in statements.values()
        if statement["Sid"] in ("PollDriftDetection", "DriftReadsWithoutResourceLevelPermissions")
    )


def test_drift_detection_can_read_every_resource_type_the_stages_deploy(
    synthesized: Synthesized,
) -> None:
    """DetectStackDrift reads each resource with the caller's permissions: a type the policy
    has no read for fails the detection (and the pipeline's verify step) in the account."""
    deployed = {
        resource["Type"]
        for stack in synthesized.stacks.values()
        for resource in stack.template["Resources"].values()
    }
    statements = {
        s["Sid"] for s in verify_policy(
            partition="aws", account=ACCOUNT, regions=["eu-west-1"], secret_prefix=NAMES,
            stack_prefix="Strongbox-Staging-",
        )
    }  # fmt: skip

    assert sorted(deployed - set(DRIFT_READ_STATEMENTS)) == []
    assert {sid for sid in DRIFT_READ_STATEMENTS.values() if sid} <= statements
    assert "AWS::Config::ConfigRule" in deployed  # the Secrets stacks' rules are read too


def test_the_policy_fits_a_managed_policy_with_six_regions() -> None:
    regions = ["eu-west-1", "eu-central-1", "eu-north-1", "us-east-1", "us-west-2", "ap-south-1"]
    statements = verify_policy(
        partition="aws-us-gov",
        account=ACCOUNT,
        regions=regions,
        secret_prefix=NAMES,
        stack_prefix="Strongbox-Prod-",
    )

    document = {"Version": "2012-10-17", "Statement": statements}
    assert len(json.dumps(document, separators=(",", ":"))) <= 6144
    (reads,) = (s for s in statements if s["Sid"] == "DriftReadsOfTheStagesResources")
    assert reads["Condition"] == {"StringEquals": {"aws:RequestedRegion": regions}}
    assert "arn:aws-us-gov:lambda:*:333333333333:function:Strongbox-Prod-*" in reads["Resource"]


def test_the_policy_refuses_a_prefix_that_is_not_env_and_application() -> None:
    with pytest.raises(ValueError, match="expected '<env>/<application>/'"):
        verify_policy(
            partition="aws",
            account=ACCOUNT,
            regions=[PRIMARY],
            secret_prefix=NAMES.removesuffix("payments/"),
            stack_prefix="Strongbox-Prod-",
        )


# --- schedules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "gap"),
    [
        ("rate(30 days)", timedelta(days=30)),
        ("rate(1 day)", timedelta(days=1)),
        ("rate(6 hours)", timedelta(hours=6)),
        ("cron(0 8 1 1,7 ? *)", timedelta(days=184)),  # July 1st to January 1st
        ("cron(0 8 ? * 2#1 *)", timedelta(days=35)),  # first Monday of the month
        ("cron(0 8 ? * 6L *)", timedelta(days=35)),  # last Friday of the month
        ("cron(0 8 15 * ? *)", timedelta(days=31)),
        ("cron(0 8 ? * MON *)", timedelta(days=7)),
        ("cron(0 8 * * ? *)", timedelta(days=1)),
        ("cron(0 * * * ? *)", timedelta(hours=1)),
    ],
)
def test_a_schedules_longest_gap(schedule: str, gap: timedelta) -> None:
    assert longest_gap(schedule) == gap


def test_a_schedule_of_another_form_is_refused() -> None:
    with pytest.raises(ValueError, match="neither rate"):
        longest_gap("every month")
