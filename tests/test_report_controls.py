"""`strongbox report`'s Security Hub control table: each control on the shipped assembly (prod and
dev), and each flipped by a copy of that assembly broken on purpose."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from strongbox.assembly.resolver import Resolver, read_assembly
from strongbox.report.analysis import analyse
from strongbox.report.controls import (
    ECS_SECRET_KEYS,
    NO_CONFIG_RULE,
    Control,
    _cron_longest_gap,
    _rotation_interval,
    controls,
)
from strongbox.report.cost import Assumptions, load_prices
from strongbox.report.inventory import environments
from strongbox.report.render import as_json, as_markdown
from tests.conftest import Synthesized, cdk_json_context

CONTROL_IDS = [
    "SecretsManager.1",
    "SecretsManager.2",
    "SecretsManager.3",
    "SecretsManager.4",
    "SecretsManager.5",
    "KMS.1",
    "KMS.2",
    "KMS.3",
    "KMS.4",
    "KMS.5",
    "ECS.8",
]
TAGS = "Tags Application, Component, Environment, Owner, SecretKind"
PROD_KEY = "Key SecretsKey0D2EC683 of Strongbox-Prod/Keys in eu-west-1"
PROD_REPLICA = (
    "ReplicaKey SecretsReplicaKeyE6B8B329 of Strongbox-Prod/ReplicaKeys-eu-central-1 "
    "in eu-central-1"
)
DEV_KEY = "Key SecretsKey0D2EC683 of Strongbox-Dev/Keys in eu-west-1"
SECRETS = {  # purpose -> logical id, as the shipped app names them
    "db-credentials": "DbCredentialsSecret73110601",
    "stripe-api-key": "StripeApiKeySecret943E17F7",
    "session-signing-key": "SessionSigningKeySecret94BF8D7B",
    "webhook-signing": "WebhookSigningSecretD08D55C5",
    "reporting-api-token": "ReportingApiTokenSecret03FC9D05",
}
SESSION_SCHEDULE = "SessionSigningKeyRotationScheduleBFD90DC9"


def _table(directory: Path, stage: str) -> dict[str, Control]:
    resolver = Resolver(read_assembly(directory))
    (environment,) = [e for e in environments(resolver) if e.name == f"Strongbox-{stage}"]
    return {control.control: control for control in controls(resolver, environment)}


@pytest.fixture(scope="module")
def shipped(synthesized: Synthesized) -> dict[str, dict[str, Control]]:
    return {stage: _table(synthesized.outdir, stage) for stage in ("Dev", "Prod")}


@pytest.fixture(scope="module")
def primary_keys(synthesized: Synthesized) -> dict[str, str]:
    """The ARN the resolver gives each stage's primary key (policies name it by that ARN)."""
    resolver = Resolver(read_assembly(synthesized.outdir))
    return {
        environment.name.removeprefix("Strongbox-"): key.arn
        for environment in environments(resolver)
        for key in environment.keys
        if key.replica_of is None
    }


@pytest.fixture
def broken(synthesized: Synthesized, tmp_path: Path) -> Path:
    """A copy of the shipped assembly (without assets, which the report never reads)."""
    copy = tmp_path / "cdk.out"
    shutil.copytree(synthesized.outdir, copy, ignore=shutil.ignore_patterns("asset.*"))
    return copy


def _edit(directory: Path, stage: str, stack: str, change: Callable[[dict[str, Any]], Any]) -> None:
    """Apply `change` to the resources of `stack` (e.g. "Keys") of the stage, in place."""
    (path,) = (directory / f"assembly-Strongbox-{stage}").glob(
        f"Strongbox{stage}{stack}[0-9A-F]*.template.json"
    )
    template = json.loads(path.read_text())
    change(template["Resources"])
    path.write_text(json.dumps(template))


def _reason(stage: str, purpose: str) -> str:
    environment = cdk_json_context()["strongbox"]["environments"][stage.lower()]
    (secret,) = [s for s in environment["secrets"] if s["purpose"] == purpose]
    reason: str = secret["rotation"]["disabled_reason"]
    return reason


def _label(stage: str, purpose: str) -> str:
    return f"`{stage.lower()}/payments/{purpose}` ({SECRETS[purpose]})"


def _rotation_lines(stage: str, purposes: list[str], rotating: dict[str, str]) -> list[str]:
    """What SecretsManager.1 says of each secret: its schedule, or why it has none."""
    return [
        f"{_label(stage, purpose)}: {rotating[purpose]}"
        if purpose in rotating
        else f"{_label(stage, purpose)}: no RotationSchedule; rotation off on purpose: "
        f"{_reason(stage, purpose)}"
        for purpose in purposes
    ]


def _schedules(stage: str) -> dict[str, str]:
    return {
        "db-credentials": f"RotationSchedule DbCredentialsRotation of Strongbox-{stage}/Database: "
        "ScheduleExpression rate(30 days), HostedRotationLambda PostgreSQLSingleUser",
        "session-signing-key": f"RotationSchedule {SESSION_SCHEDULE} of Strongbox-{stage}/Secrets:"
        " ScheduleExpression rate(30 days), RotationLambdaARN",
    }


def _within(stage: str) -> dict[str, str]:
    return {
        "db-credentials": "ScheduleExpression rate(30 days): within 90 days (RotationSchedule "
        f"DbCredentialsRotation of Strongbox-{stage}/Database)",
        "session-signing-key": "ScheduleExpression rate(30 days): within 90 days (RotationSchedule "
        f"{SESSION_SCHEDULE} of Strongbox-{stage}/Secrets)",
    }


PURPOSES = {
    "Dev": ["db-credentials", "stripe-api-key", "session-signing-key", "webhook-signing"],
    "Prod": list(SECRETS),
}


def _config_rules(synthesized: Synthesized, stage: str, identifier: str) -> list[str]:
    """The logical ids of the stage's Config rules with that SourceIdentifier, read straight from
    the templates (the lead adds them to staging and prod; dev has none)."""
    return [
        logical_id
        for stack in synthesized.stacks.values()
        if stack.name.startswith(f"Strongbox-{stage}/")
        for logical_id, rule in stack.resources("AWS::Config::ConfigRule").items()
        if rule["Properties"]["Source"].get("SourceIdentifier") == identifier
    ]


# The shipped assembly, control by control.


def test_every_control_is_decided_in_order(shipped: dict[str, dict[str, Control]]) -> None:
    for table in shipped.values():
        assert list(table) == CONTROL_IDS


@pytest.mark.parametrize("stage", ["Prod", "Dev"])
def test_rotation_enabled_fails_on_the_secrets_rotation_is_off_for(
    shipped: dict[str, dict[str, Control]], stage: str
) -> None:
    """A reason to leave rotation off does not pass the control: it is the evidence."""
    control = shipped[stage]["SecretsManager.1"]
    assert control.status == "fail"
    assert list(control.evidence) == _rotation_lines(stage, PURPOSES[stage], _schedules(stage))


@pytest.mark.parametrize("stage", ["Prod", "Dev"])
def test_rotated_within_90_days_fails_on_the_same_secrets(
    shipped: dict[str, dict[str, Control]], stage: str
) -> None:
    control = shipped[stage]["SecretsManager.4"]
    assert control.status == "fail"
    assert list(control.evidence) == _rotation_lines(stage, PURPOSES[stage], _within(stage))


@pytest.mark.parametrize("stage", ["Prod", "Dev"])
def test_rotation_success_and_unused_secrets_are_not_decidable_at_synth(
    shipped: dict[str, dict[str, Control]], synthesized: Synthesized, stage: str
) -> None:
    succeeds, unused = shipped[stage]["SecretsManager.2"], shipped[stage]["SecretsManager.3"]
    assert (succeeds.status, unused.status) == ("not decidable at synth",) * 2
    assert list(succeeds.evidence) == [
        f"{_label(stage, purpose)}: whether its scheduled rotation succeeds is known only once "
        "it runs"
        for purpose in ("db-credentials", "session-signing-key")
    ]
    assert list(unused.evidence) == [
        f"whether each of the {len(PURPOSES[stage])} secrets is read at least once in 90 days "
        "(unusedForDays) is known only at run time"
    ]
    for control, identifier in (
        (succeeds, "SECRETSMANAGER_SCHEDULED_ROTATION_SUCCESS_CHECK"),
        (unused, "SECRETSMANAGER_SECRET_UNUSED"),
    ):
        rules = _config_rules(synthesized, stage, identifier)
        assert len(control.watched_by) == len(rules)
        assert all(f"({identifier}) of Strongbox-{stage}/" in w for w in control.watched_by)
    if stage == "Dev":  # Config rules are off by default in dev
        assert (succeeds.watched_by, unused.watched_by) == ((), ())


@pytest.mark.parametrize("stage", ["Prod", "Dev"])
def test_every_secret_is_tagged(shipped: dict[str, dict[str, Control]], stage: str) -> None:
    control = shipped[stage]["SecretsManager.5"]
    assert control.status == "pass"
    assert list(control.evidence) == [
        f"{_label(stage, purpose)}: {TAGS}" for purpose in PURPOSES[stage]
    ]


@pytest.mark.parametrize("stage", ["Prod", "Dev"])
def test_no_policy_allows_decrypt_on_every_key(
    shipped: dict[str, dict[str, Control]], primary_keys: dict[str, str], stage: str
) -> None:
    managed, inline = shipped[stage]["KMS.1"], shipped[stage]["KMS.2"]
    assert (managed.status, inline.status) == ("pass", "pass")
    account = {"Prod": "333333333333", "Dev": "111111111111"}[stage]
    key = primary_keys[stage]
    secrets, workload = f"of Strongbox-{stage}/Secrets", f"of Strongbox-{stage}/Workload"
    parameters = f"ManagedPolicy ParametersSecureStringProviderPolicy297EB1E3 of Strongbox-{stage}"
    token_keys = f"{key}, {key.replace('eu-west-1', 'eu-central-1')}" if stage == "Prod" else key
    assert list(managed.evidence) == [
        f"ManagedPolicy TokenRotationDC3293D6Policy8D15396C {secrets}: statement 5 allows "
        f"kms:Decrypt on {token_keys} only",
        f"{parameters}/Parameters: statement 4 allows kms:Decrypt on {key} only",
        # Every key of the account in one region is not every key (KMS.1's remediation).
        f"{parameters}/Parameters: statement 5 allows kms:Decrypt on "
        f"arn:aws:kms:eu-west-1:{account}:key/* only",
        f"ManagedPolicy SecretsPolicy513607F8 {workload}: statement 3 allows kms:Decrypt on "
        f"{key} only",
        f"ManagedPolicy SecretsPolicy513607F8 {workload}: statement 4 allows kms:Decrypt on "
        f"{key} only",
        f"ManagedPolicy ReconcilerSecretsPolicyEA154ADE {workload}: statement 3 allows "
        f"kms:Decrypt on {key} only",
        f"ManagedPolicy BatchSecretsPolicyF2F365DC {workload}: statement 3 allows kms:Decrypt "
        f"on {key} only",
    ]
    assert list(inline.evidence) == [
        "policy Inline of Role CustomVpcRestrictDefaultSGCustomResourceProviderRole26592FE0 of "
        f"Strongbox-{stage}/Network: allows neither kms:Decrypt nor kms:ReEncryptFrom"
    ]


def test_prod_keys_are_retained_rotated_and_not_public(
    shipped: dict[str, dict[str, Control]],
) -> None:
    prod = shipped["Prod"]
    assert [prod[c].status for c in ("KMS.3", "KMS.4", "KMS.5")] == ["pass"] * 3
    retained = (
        ": DeletionPolicy Retain, UpdateReplacePolicy Retain: deleting the stack or replacing "
        "the key never schedules its deletion (PendingWindowInDays 30 if someone does)"
    )
    assert prod["KMS.3"].evidence == (PROD_KEY + retained, PROD_REPLICA + retained)
    rotation = "EnableKeyRotation true (RotationPeriodInDays 365)"
    assert prod["KMS.4"].evidence == (
        f"{PROD_KEY}: {rotation}",
        f"{PROD_REPLICA}: rotates with {PROD_KEY}: {rotation}",
    )
    fixed = (
        ": KeyPolicy names only fixed principals (accounts 333333333333, 444444444444; "
        "services cloudwatch.amazonaws.com, events.amazonaws.com, "
        "logs.eu-central-1.amazonaws.com, logs.eu-west-1.amazonaws.com)"
    )
    assert prod["KMS.5"].evidence == (PROD_KEY + fixed, PROD_REPLICA + fixed)


def test_the_dev_key_is_deleted_with_its_stack(shipped: dict[str, dict[str, Control]]) -> None:
    """Dev destroys its key on purpose; Security Hub would still fail KMS.3 once it is
    scheduled, so the report says so."""
    dev = shipped["Dev"]
    assert [dev[c].status for c in ("KMS.3", "KMS.4", "KMS.5")] == ["fail", "pass", "pass"]
    assert dev["KMS.3"].evidence == (
        f"{DEV_KEY}: DeletionPolicy Delete, UpdateReplacePolicy Delete: deleting the stack or "
        "replacing the key schedules its deletion (PendingWindowInDays 7)",
    )
    assert dev["KMS.4"].evidence == (
        f"{DEV_KEY}: EnableKeyRotation true (RotationPeriodInDays 365)",
    )
    assert dev["KMS.5"].evidence == (
        f"{DEV_KEY}: KeyPolicy names only fixed principals (accounts 111111111111; services "
        "cloudwatch.amazonaws.com, events.amazonaws.com, logs.eu-west-1.amazonaws.com)",
    )
    assert all(dev[c].watched_by == () for c in CONTROL_IDS)


@pytest.mark.parametrize(("stage", "count"), [("Prod", 14), ("Dev", 13)])
def test_containers_get_secrets_through_secrets_not_environment(
    shipped: dict[str, dict[str, Control]], stage: str, count: int
) -> None:
    control = shipped[stage]["ECS.8"]
    assert control.status == "pass"
    assert control.evidence == (
        f"TaskDefinition Task79114B6B of Strongbox-{stage}/Workload, container api: no "
        f"Environment entry; {count} values come through Secrets",
    )


def test_markdown_and_json_carry_the_table(synthesized: Synthesized) -> None:
    report = analyse(synthesized.outdir, Assumptions(), load_prices())
    text = as_markdown(report)
    dev = text[text.index("## Strongbox-Dev") : text.index("## Strongbox-Staging")]
    section = dev[dev.index("### Security Hub controls") : dev.index("### Findings")]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    assert rows[0] == "| control | status | evidence | watched by |"
    assert [row.split(":", 1)[0].removeprefix("| ") for row in rows[1:]] == CONTROL_IDS
    assert "| KMS.3: AWS KMS keys should not be deleted unintentionally | **fail** |" in section
    assert all(row.endswith(f"| {NO_CONFIG_RULE} |") for row in rows[1:])
    # Key ARNs the templates cannot tell are written as their labels, as elsewhere.
    assert "`<key alias/payments/dev/secrets in eu-west-1>`" in section
    document = json.loads(as_json(report), parse_float=Decimal)
    (prod,) = [e for e in document["environments"] if e["environment"]["name"] == "Strongbox-Prod"]
    assert [c["control"] for c in prod["controls"]] == CONTROL_IDS
    assert set(prod["controls"][0]) == {"control", "title", "status", "evidence", "watched_by"}


# Broken copies: each control flips.


def test_a_secret_without_schedule_or_reason_fails_rotation(broken: Path) -> None:
    _edit(broken, "Prod", "Secrets", lambda r: r.pop(SESSION_SCHEDULE))
    table = _table(broken, "Prod")
    unreasoned = f"{_label('Prod', 'session-signing-key')}: no RotationSchedule"
    assert f"{unreasoned} and no reason recorded" in table["SecretsManager.1"].evidence
    assert f"{unreasoned} and no reason recorded" in table["SecretsManager.4"].evidence
    # Only the database's hosted rotation is left for SecretsManager.2 to watch.
    assert len(table["SecretsManager.2"].evidence) == 1


def _schedule_everything(resources: dict[str, Any], every: str) -> None:
    """A rotation schedule for each secret of the Secrets stack, all on `every`."""
    for logical_id in [k for k, r in resources.items() if r["Type"].endswith("::Secret")]:
        resources.pop(f"{logical_id}Rotation", None)
        schedule = json.loads(json.dumps(resources.get(SESSION_SCHEDULE)))
        schedule["Properties"]["SecretId"] = {"Ref": logical_id}
        schedule["Properties"]["RotationRules"]["ScheduleExpression"] = every
        resources[f"{logical_id}Rotation"] = schedule


def test_rotation_passes_when_every_secret_rotates_within_90_days(broken: Path) -> None:
    _edit(broken, "Prod", "Secrets", lambda r: _schedule_everything(r, "rate(90 days)"))
    table = _table(broken, "Prod")
    assert table["SecretsManager.1"].status == "pass"
    assert table["SecretsManager.4"].status == "pass"


def test_a_schedule_longer_than_90_days_fails_rotated_within(broken: Path) -> None:
    def slower(resources: dict[str, Any]) -> None:
        rules = resources[SESSION_SCHEDULE]["Properties"]["RotationRules"]
        rules["ScheduleExpression"] = "rate(91 days)"

    _edit(broken, "Prod", "Secrets", slower)
    table = _table(broken, "Prod")
    assert table["SecretsManager.4"].status == "fail"
    assert (
        f"{_label('Prod', 'session-signing-key')}: ScheduleExpression rate(91 days): more than "
        f"90 days between rotations (RotationSchedule {SESSION_SCHEDULE} of Strongbox-Prod/Secrets)"
    ) in table["SecretsManager.4"].evidence
    # Rotation is still on: SecretsManager.1 shows the new schedule and passes that secret.
    assert (
        f"{_label('Prod', 'session-signing-key')}: RotationSchedule {SESSION_SCHEDULE} of "
        "Strongbox-Prod/Secrets: ScheduleExpression rate(91 days), RotationLambdaARN"
    ) in table["SecretsManager.1"].evidence


@pytest.mark.parametrize(
    ("rules", "status", "why"),
    [
        ({"AutomaticallyAfterDays": 90}, "pass", "AutomaticallyAfterDays 90: within 90 days"),
        (
            {"AutomaticallyAfterDays": 120},
            "fail",
            "AutomaticallyAfterDays 120: more than 90 days between rotations",
        ),
        (
            {"ScheduleExpression": "rate(23 hours)"},
            "pass",
            "ScheduleExpression rate(23 hours): within 90 days",
        ),
        (
            {"ScheduleExpression": "cron(0 4 ? * MON *)"},
            "pass",
            "ScheduleExpression cron(0 4 ? * MON *) (at most 7 days apart): within 90 days",
        ),
        (
            {"ScheduleExpression": "cron(0 4 L * ? *)"},
            "pass",
            "ScheduleExpression cron(0 4 L * ? *) (at most 31 days apart): within 90 days",
        ),
        (
            {"ScheduleExpression": "cron(0 4 1 1,7 ? *)"},
            "fail",
            "ScheduleExpression cron(0 4 1 1,7 ? *) (at most 184 days apart): more than 90 "
            "days between rotations",
        ),
        (
            {"ScheduleExpression": "cron(0 4 15W * ? *)"},
            "not decidable at synth",
            "ScheduleExpression cron(0 4 15W * ? *): not evaluated here",
        ),
        ({}, "fail", "RotationRules has no schedule: it rotates on demand only"),
    ],
)
def test_schedules_are_measured_against_90_days(
    rules: dict[str, Any], status: str, why: str
) -> None:
    assert _rotation_interval(rules) == (status, why)


def test_cron_gaps_count_days_between_runs() -> None:
    assert _cron_longest_gap(["0", "4", "1", "*/3", "?", "*"]) == 92  # Oct 1 -> Jan 1
    assert _cron_longest_gap(["0", "4", "?", "*", "2#1", "*"]) is None  # '#' is not evaluated
    assert _cron_longest_gap(["0", "4", "?", "*", "MON-FRI", "*"]) == 3


def test_a_config_rule_is_named_by_its_source_identifier(broken: Path) -> None:
    """Keyed on Source.SourceIdentifier: the logical id says nothing, a custom rule is not the
    managed one."""

    def add_rules(resources: dict[str, Any]) -> None:
        resources["SecretUnusedLooking"] = {
            "Type": "AWS::Config::ConfigRule",
            "Properties": {
                "ConfigRuleName": "dev-rotation-enabled",
                "Source": {
                    "Owner": "AWS",
                    "SourceIdentifier": "SECRETSMANAGER_ROTATION_ENABLED_CHECK",
                },
            },
        }
        resources["Unused"] = {
            "Type": "AWS::Config::ConfigRule",
            "Properties": {
                "Source": {"Owner": "AWS", "SourceIdentifier": "SECRETSMANAGER_SECRET_UNUSED"},
                "InputParameters": {"unusedForDays": 30},
            },
        }
        resources["Custom"] = {
            "Type": "AWS::Config::ConfigRule",
            "Properties": {
                "Source": {
                    "Owner": "CUSTOM_LAMBDA",
                    "SourceIdentifier": "SECRETSMANAGER_SCHEDULED_ROTATION_SUCCESS_CHECK",
                },
            },
        }

    _edit(broken, "Dev", "Secrets", add_rules)
    table = _table(broken, "Dev")
    assert table["SecretsManager.1"].watched_by == (
        "dev-rotation-enabled (SECRETSMANAGER_ROTATION_ENABLED_CHECK) of Strongbox-Dev/Secrets",
    )
    assert table["SecretsManager.3"].watched_by == (
        "Unused (SECRETSMANAGER_SECRET_UNUSED) of Strongbox-Dev/Secrets with unusedForDays 30",
    )
    assert table["SecretsManager.2"].watched_by == ()


def test_without_schedules_rotation_success_does_not_apply(broken: Path) -> None:
    _edit(broken, "Dev", "Secrets", lambda r: r.pop(SESSION_SCHEDULE))
    _edit(broken, "Dev", "Database", lambda r: r.pop("DbCredentialsRotation"))
    control = _table(broken, "Dev")["SecretsManager.2"]
    assert (control.status, control.evidence) == (
        "not applicable",
        ("no secret of this environment has a RotationSchedule",),
    )


def test_a_secret_nothing_reads_is_named_as_likely_unused(broken: Path) -> None:
    def orphan(resources: dict[str, Any]) -> None:
        secret = json.loads(json.dumps(resources[SECRETS["webhook-signing"]]))
        secret["Properties"]["Name"] = "dev/payments/orphan"
        resources["OrphanSecret"] = secret

    _edit(broken, "Dev", "Secrets", orphan)
    control = _table(broken, "Dev")["SecretsManager.3"]
    assert control.status == "not decidable at synth"
    assert control.evidence[-1] == "`dev/payments/orphan`: nothing in the assembly can read it"


@pytest.mark.parametrize(
    "tags", [[], [{"Key": "aws:cloudformation:stack-name", "Value": "x"}]], ids=["none", "aws:"]
)
def test_an_untagged_secret_fails_tagging(broken: Path, tags: list[dict[str, str]]) -> None:
    def untag(resources: dict[str, Any]) -> None:
        resources[SECRETS["stripe-api-key"]]["Properties"]["Tags"] = tags

    _edit(broken, "Prod", "Secrets", untag)
    control = _table(broken, "Prod")["SecretsManager.5"]
    assert control.status == "fail"
    assert control.evidence[1] == (
        f"{_label('Prod', 'stripe-api-key')}: no Tags (aws: tags do not count)"
    )


def _decrypt_everything(action: Any = "kms:Decrypt", **element: Any) -> dict[str, Any]:
    return {"Sid": "DecryptAnything", "Effect": "Allow", "Action": action, **element}


@pytest.mark.parametrize(
    ("statement", "shown"),
    [
        (_decrypt_everything(Resource="*"), "kms:Decrypt on every key (Resource *)"),
        (
            _decrypt_everything("kms:*", Resource="arn:aws:kms:*:*:key/*"),
            "kms:Decrypt, kms:ReEncryptFrom on every key (Resource arn:aws:kms:*:*:key/*)",
        ),
        (
            _decrypt_everything("*", NotResource="arn:aws:s3:::bucket"),
            "kms:Decrypt, kms:ReEncryptFrom on every key (NotResource arn:aws:s3:::bucket)",
        ),
        (
            _decrypt_everything("kms:ReEncrypt*", Resource=["*"]),
            "kms:ReEncryptFrom on every key (Resource *)",
        ),
    ],
    ids=["decrypt", "kms-wildcard", "not-resource", "re-encrypt"],
)
def test_a_managed_policy_decrypting_every_key_fails(
    broken: Path, statement: dict[str, Any], shown: str
) -> None:
    def widen(resources: dict[str, Any]) -> None:
        resources["BatchSecretsPolicyF2F365DC"]["Properties"]["PolicyDocument"]["Statement"].append(
            {**statement, "Condition": {"StringEquals": {"kms:ViaService": "x"}}}
        )

    _edit(broken, "Prod", "Workload", widen)
    table = _table(broken, "Prod")
    assert table["KMS.1"].status == "fail"
    # Conditions do not count, as they do not for Security Hub.
    assert (
        "ManagedPolicy BatchSecretsPolicyF2F365DC of Strongbox-Prod/Workload: DecryptAnything "
        f"allows {shown}"
    ) in table["KMS.1"].evidence
    assert table["KMS.2"].status == "pass"  # a managed policy is not inline


def test_a_policy_used_only_as_a_permissions_boundary_is_not_checked(broken: Path) -> None:
    def boundary(resources: dict[str, Any]) -> None:
        resources["Boundary"] = {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {"PolicyDocument": {"Statement": [_decrypt_everything(Resource="*")]}},
        }
        resources["BatchRoleC28B5511"]["Properties"]["PermissionsBoundary"] = {"Ref": "Boundary"}

    _edit(broken, "Prod", "Workload", boundary)
    assert _table(broken, "Prod")["KMS.1"].status == "pass"


def test_an_inline_policy_decrypting_every_key_fails(broken: Path) -> None:
    def inline(resources: dict[str, Any]) -> None:
        resources["WideOpen"] = {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyName": "wide-open",
                "PolicyDocument": {"Statement": [_decrypt_everything(Resource="*")]},
                "Roles": [{"Ref": "BatchRoleC28B5511"}],
            },
        }
        resources["TaskRole30FC0FBB"]["Properties"]["Policies"] = [
            {
                "PolicyName": "reencrypt",
                "PolicyDocument": {
                    "Statement": [_decrypt_everything("kms:ReEncryptFrom", Resource="*")]
                },
            }
        ]

    _edit(broken, "Prod", "Workload", inline)
    table = _table(broken, "Prod")
    assert table["KMS.2"].status == "fail"
    assert {line for line in table["KMS.2"].evidence if "every key" in line} == {
        "Policy wide-open WideOpen of Strongbox-Prod/Workload: DecryptAnything allows "
        "kms:Decrypt on every key (Resource *)",
        "policy reencrypt of Role TaskRole30FC0FBB of Strongbox-Prod/Workload: DecryptAnything "
        "allows kms:ReEncryptFrom on every key (Resource *)",
    }
    assert table["KMS.1"].status == "pass"


def test_a_key_deleted_with_its_stack_fails(broken: Path) -> None:
    def delete(resources: dict[str, Any]) -> None:
        resources["SecretsKey0D2EC683"]["DeletionPolicy"] = "Delete"

    _edit(broken, "Prod", "Keys", delete)
    control = _table(broken, "Prod")["KMS.3"]
    assert control.status == "fail"
    assert control.evidence[0] == (
        f"{PROD_KEY}: DeletionPolicy Delete, UpdateReplacePolicy Retain: deleting the stack or "
        "replacing the key schedules its deletion (PendingWindowInDays 30)"
    )


def test_a_key_without_rotation_fails_and_so_does_its_replica(broken: Path) -> None:
    _edit(
        broken,
        "Prod",
        "Keys",
        lambda r: r["SecretsKey0D2EC683"]["Properties"].pop("EnableKeyRotation"),
    )
    control = _table(broken, "Prod")["KMS.4"]
    assert control.status == "fail"
    assert control.evidence == (
        f"{PROD_KEY}: EnableKeyRotation absent",
        f"{PROD_REPLICA}: rotates with {PROD_KEY}: EnableKeyRotation absent",
    )


@pytest.mark.parametrize(
    ("principal", "condition", "status"),
    [
        ("*", None, "fail"),
        ({"AWS": "*"}, {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}, "fail"),
        ({"AWS": "*"}, {"StringLike": {"aws:PrincipalAccount": "3333*"}}, "fail"),
        ({"AWS": "*"}, {"StringEqualsIfExists": {"aws:PrincipalAccount": "333333333333"}}, "fail"),
        ({"AWS": "*"}, {"StringEquals": {"kms:CallerAccount": "333333333333"}}, "pass"),
        ("*", {"StringEquals": {"aws:PrincipalOrgID": "o-abcdef1234"}}, "pass"),
    ],
    ids=["bare", "other-key", "wildcard-value", "if-exists", "caller-account", "org"],
)
def test_a_key_policy_open_to_everyone_fails(
    broken: Path, principal: Any, condition: Any, status: str
) -> None:
    statement = {
        "Sid": "Everyone",
        "Effect": "Allow",
        "Principal": principal,
        "Action": "kms:Decrypt",
        "Resource": "*",
        **({"Condition": condition} if condition else {}),
    }
    _edit(
        broken,
        "Prod",
        "Keys",
        lambda r: r["SecretsKey0D2EC683"]["Properties"]["KeyPolicy"]["Statement"].append(statement),
    )
    control = _table(broken, "Prod")["KMS.5"]
    assert control.status == status
    if status == "fail":
        assert control.evidence[0] == (
            f"{PROD_KEY}: KeyPolicy Everyone allows Principal * with no condition fixing the "
            "account, organization, source or caller"
        )


@pytest.mark.parametrize("name", ECS_SECRET_KEYS)
def test_a_container_environment_named_like_an_aws_credential_fails(
    broken: Path, name: str
) -> None:
    def leak(resources: dict[str, Any]) -> None:
        (container,) = resources["Task79114B6B"]["Properties"]["ContainerDefinitions"]
        container["Environment"] = [
            {"Name": "LOG_FORMAT", "Value": "json"},
            {"Name": name, "Value": "x"},
        ]

    _edit(broken, "Prod", "Workload", leak)
    control = _table(broken, "Prod")["ECS.8"]
    assert (control.status, control.evidence) == (
        "fail",
        (
            f"TaskDefinition Task79114B6B of Strongbox-Prod/Workload, container api: Environment "
            f"names {name}",
        ),
    )


def test_a_container_environment_resolving_a_secret_fails(broken: Path) -> None:
    """Beyond Security Hub's three names: a dynamic reference writes the plaintext into the task
    definition."""

    def leak(resources: dict[str, Any]) -> None:
        (container,) = resources["Task79114B6B"]["Properties"]["ContainerDefinitions"]
        container["Environment"] = [
            {"Name": "STRIPE", "Value": "{{resolve:secretsmanager:prod/payments/stripe-api-key}}"}
        ]

    _edit(broken, "Prod", "Workload", leak)
    control = _table(broken, "Prod")["ECS.8"]
    assert control.status == "fail"
    assert control.evidence[0].startswith(
        "TaskDefinition Task79114B6B of Strongbox-Prod/Workload, container api: Environment "
        "STRIPE holds a secret's value through a {{resolve:...}} dynamic reference"
    )
