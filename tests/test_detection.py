"""Detection after deploy: the Config rules of staging and prod, reads watched in every region
(replicas included) and batch reads matched by their list, each event pattern evaluated against
sample events by moto's EventBridge pattern matcher (an implementation that is not ours)."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from moto.events.models import EventPattern

from stacks.config import ConfigError, parse_config
from strongbox.alerts import read_pattern
from strongbox.schedule import longest_gap_hours
from tests.conftest import Synthesized, SynthesizedStack, as_list, default_strongbox_config

ACCOUNT = "333333333333"
PRIMARY = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:prod/payments/"
REPLICA = f"arn:aws:secretsmanager:eu-central-1:{ACCOUNT}:secret:prod/payments/"
WORKLOAD_ROLE = f"arn:aws:iam::{ACCOUNT}:role/strongbox/payments/payments-prod-api-execution"
INTRUDER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/someone-else"
ROTATION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/Strongbox-Prod-Secrets-TokenRotationRole-ABC"
BY_NAME = "prod/payments/stripe-api-key"
OTHER_ENVIRONMENT = "staging/payments/stripe-api-key"

# Periodic rules (AWS Config developer guide, each rule's "Trigger type").
PERIODIC = {
    "SECRETSMANAGER_SECRET_UNUSED",
    "SECRETSMANAGER_SECRET_PERIODIC_ROTATION",
    "CMK_BACKING_KEY_ROTATION_ENABLED",
}
RULES = {
    "SECRETSMANAGER_ROTATION_ENABLED_CHECK": {"maximumAllowedRotationFrequency": 30},
    "SECRETSMANAGER_SCHEDULED_ROTATION_SUCCESS_CHECK": None,
    "SECRETSMANAGER_SECRET_UNUSED": {"unusedForDays": 90},
    # The longest gap, 30 days, and the day a late window may take.
    "SECRETSMANAGER_SECRET_PERIODIC_ROTATION": {"maxDaysSinceRotation": 31},
    "SECRETSMANAGER_USING_CMK": "the environment's key",
    "CMK_BACKING_KEY_ROTATION_ENABLED": None,
    "REQUIRED_TAGS": {
        "tag1Key": "Environment",
        "tag2Key": "Application",
        "tag3Key": "Component",
        "tag4Key": "Owner",
        "tag5Key": "SecretKind",
    },
}


def deployed(value: Any, tokens: dict[str, str]) -> Any:
    """`value` with each `{"Fn::GetAtt": [id, "Arn"]}` / `{"Ref": id}` replaced by what
    `tokens` says it resolves to: the pattern as EventBridge would receive it."""
    if isinstance(value, dict):
        if "Fn::GetAtt" in value:
            return tokens[value["Fn::GetAtt"][0]]
        if "Ref" in value:
            return tokens[value["Ref"]]
        return {key: deployed(item, tokens) for key, item in value.items()}
    if isinstance(value, list):
        return [deployed(item, tokens) for item in value]
    return value


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    return EventPattern(json.dumps(pattern), pattern).matches_event(event)  # type: ignore[arg-type]


def rule_pattern(stack: SynthesizedStack, description: str) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (logical_id, rule["Properties"])
        for logical_id, rule in stack.resources("AWS::Events::Rule").items()
        if rule["Properties"]["Description"] == description
    ]
    return found


def read_event(
    *,
    name: str = "GetSecretValue",
    region: str = "eu-west-1",
    caller: str | None = INTRUDER_ROLE,
    identity_type: str = "AssumedRole",
    **request: Any,
) -> dict[str, Any]:
    """A CloudTrail read of Secrets Manager as EventBridge delivers it."""
    identity: dict[str, Any] = {"type": identity_type, "accountId": ACCOUNT}
    if caller is not None:
        identity["sessionContext"] = {"sessionIssuer": {"type": "Role", "arn": caller}}
    return {
        "version": "0",
        "source": "aws.secretsmanager",
        "detail-type": "AWS API Call via CloudTrail",
        "account": ACCOUNT,
        "region": region,
        "detail": {
            "eventSource": "secretsmanager.amazonaws.com",
            "eventName": name,
            "awsRegion": region,
            "userIdentity": identity,
            "requestParameters": request,
        },
    }


@pytest.fixture(scope="module")
def unexpected_reads(synthesized: Synthesized) -> dict[str, Any]:
    """Prod's unexpected-read pattern as deployed, the rotation role at ROTATION_ROLE."""
    stack = synthesized.stack("Strongbox-Prod/Secrets")
    _, rule = rule_pattern(stack, "A secret under prod/payments/ was read by an unexpected role")
    (role_id,) = stack.resources("AWS::IAM::Role")
    pattern: dict[str, Any] = deployed(rule["EventPattern"], {role_id: ROTATION_ROLE})
    assert "Fn::" not in json.dumps(pattern)
    return pattern


@pytest.mark.parametrize(
    ("event", "alerts"),
    [
        (read_event(secretId=PRIMARY + "stripe-api-key-AbCdEf"), True),
        (read_event(secretId=BY_NAME), True),
        (read_event(secretId=PRIMARY + "stripe-api-key-AbCdEf", caller=WORKLOAD_ROLE), False),
        (read_event(secretId=PRIMARY + "stripe-api-key-AbCdEf", caller=ROTATION_ROLE), False),
        (read_event(secretId=OTHER_ENVIRONMENT), False),
        # A batch naming a watched secret among others alerts; one naming none does not.
        (
            read_event(
                name="BatchGetSecretValue",
                secretIdList=["other/thing", PRIMARY + "webhook-signing-XyZ123"],
            ),
            True,
        ),
        (
            read_event(
                name="BatchGetSecretValue",
                secretIdList=["prod/payments/db-credentials"],
                caller=WORKLOAD_ROLE,
            ),
            False,
        ),
        (read_event(name="BatchGetSecretValue", secretIdList=["other/a", "other/b"]), False),
        # A replica's read, forwarded from eu-central-1 with its region and ARN.
        (read_event(region="eu-central-1", secretId=REPLICA + "stripe-api-key-AbCdEf"), True),
        (
            read_event(
                region="eu-central-1",
                secretId=REPLICA + "stripe-api-key-AbCdEf",
                caller=WORKLOAD_ROLE,
            ),
            False,
        ),
        # People are never expected readers.
        (read_event(secretId=BY_NAME, caller=None, identity_type="IAMUser"), True),
        (read_event(secretId=BY_NAME, caller=None, identity_type="Root"), True),
    ],
    ids=[
        "by-arn",
        "by-name",
        "workload-role",
        "rotation-role",
        "other-environment",
        "batch-with-watched",
        "batch-by-workload",
        "batch-of-others",
        "replica",
        "replica-by-workload",
        "iam-user",
        "root",
    ],
)
def test_unexpected_read_pattern_judges_sample_events(
    unexpected_reads: dict[str, Any], event: dict[str, Any], alerts: bool
) -> None:
    assert matches(unexpected_reads, event) is alerts


def test_a_pattern_on_secret_id_alone_would_miss_the_batch_read() -> None:
    """Why the list is matched: a batch read names no `secretId` (Secrets Manager does log a
    GetSecretValue per secret returned, which the `secretId` branch catches)."""
    batch = read_event(name="BatchGetSecretValue", secretIdList=[PRIMARY + "webhook-signing-X"])
    pattern = read_pattern("prod/payments/", [PRIMARY])
    single_only = copy.deepcopy(pattern)
    single_only["detail"]["requestParameters"] = pattern["detail"]["requestParameters"]["$or"][0]

    assert matches(pattern, batch)
    assert not matches(single_only, batch)


def test_each_replica_region_forwards_its_reads_to_the_primary(
    synthesized: Synthesized, unexpected_reads: dict[str, Any]
) -> None:
    stack = synthesized.stack("Strongbox-Prod/ReplicaKeys-eu-central-1")
    _, rule = rule_pattern(stack, "Reads of replicas under prod/payments/, to eu-west-1")
    (role_id, role), = stack.resources("AWS::IAM::Role").items()  # fmt: skip
    (policy,) = stack.resources("AWS::IAM::ManagedPolicy").values()
    bus = f"arn:aws:events:eu-west-1:{ACCOUNT}:event-bus/default"

    # Read-only management events reach only rules that opt in.
    assert rule["State"] == "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
    assert rule["Targets"] == [
        {"Arn": bus, "Id": "Target0", "RoleArn": {"Fn::GetAtt": [role_id, "Arn"]}}
    ]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": ACCOUNT},
                # This rule alone (named, so the role can name it without a cycle).
                "ArnEquals": {
                    "aws:SourceArn": f"arn:aws:events:eu-central-1:{ACCOUNT}:rule/"
                    "prod-payments-replica-reads"
                },
            },
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
        }
    ]
    assert rule["Name"] == "prod-payments-replica-reads"
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {"Action": "events:PutEvents", "Effect": "Allow", "Resource": bus}
    ]
    # Every read of a replica is forwarded, whoever reads: the primary knows who is expected.
    replica_read = read_event(region="eu-central-1", secretId=REPLICA + "stripe-api-key-Ab12")
    by_workload = read_event(
        region="eu-central-1", secretId=REPLICA + "stripe-api-key-Ab12", caller=WORKLOAD_ROLE
    )
    batch = read_event(
        name="BatchGetSecretValue", region="eu-central-1", secretIdList=[REPLICA + "a-1"]
    )
    primary_read = read_event(secretId=PRIMARY + "stripe-api-key-Ab12")
    forwarding = rule["EventPattern"]
    assert [matches(forwarding, e) for e in (replica_read, by_workload, batch)] == [True] * 3
    assert not matches(forwarding, primary_read)  # the primary region's own rule has it
    assert matches(unexpected_reads, replica_read)
    assert not matches(unexpected_reads, by_workload)


def test_environments_without_replicas_have_no_forwarding_stack(synthesized: Synthesized) -> None:
    assert not [
        name for name in synthesized.stacks if re.match(r"Strongbox-(Dev|Staging)/Rep", name)
    ]


# --- Config rules ---------------------------------------------------------------------------


def config_rules(stack: SynthesizedStack) -> dict[str, tuple[str, dict[str, Any]]]:
    return {
        rule["Properties"]["Source"]["SourceIdentifier"]: (logical_id, rule["Properties"])
        for logical_id, rule in stack.resources("AWS::Config::ConfigRule").items()
    }


@pytest.mark.parametrize("environment", ["staging", "prod"])
def test_staging_and_prod_hold_the_rules_behind_the_security_hub_controls(
    synthesized: Synthesized, environment: str
) -> None:
    stage = environment.capitalize()
    rules = config_rules(synthesized.stack(f"Strongbox-{stage}/Detection"))

    assert set(rules) == set(RULES)
    for identifier, (_, rule) in rules.items():
        assert rule["Source"]["Owner"] == "AWS"
        if identifier == "REQUIRED_TAGS":
            # A tag scope would skip exactly the secrets without tags: every secret is judged.
            assert rule["Scope"] == {"ComplianceResourceTypes": ["AWS::SecretsManager::Secret"]}
        elif identifier in PERIODIC:
            assert "Scope" not in rule  # Config has been reported to refuse it
            assert rule["Source"]["SourceIdentifier"] == identifier
        else:
            assert rule["Scope"] == {"TagKey": "Environment", "TagValue": environment}
        expected = RULES[identifier]
        if identifier == "SECRETSMANAGER_USING_CMK":
            keys = synthesized.stack(f"Strongbox-{stage}/Keys")
            output = rule["InputParameters"]["kmsKeyArns"]["Fn::GetStackOutput"]
            assert output["StackName"] == keys.stack_name
            value = keys.template["Outputs"][output["OutputName"]]["Value"]
            (key_id,) = keys.resources("AWS::KMS::Key")
            assert value == {"Fn::GetAtt": [key_id, "Arn"]}
        else:
            assert rule.get("InputParameters") == expected


def test_dev_has_no_config_rules_by_default(synthesized: Synthesized) -> None:
    dev = [s for name, s in synthesized.stacks.items() if name.startswith("Strongbox-Dev/")]
    assert dev
    assert not [s.name for s in dev if s.resources("AWS::Config::ConfigRule")]


def compliance_event(rule: str, resource: str, compliance: str = "NON_COMPLIANT") -> dict[str, Any]:
    return {
        "source": "aws.config",
        "detail-type": "Config Rules Compliance Change",
        "account": ACCOUNT,
        "region": "eu-west-1",
        "detail": {
            "messageType": "ComplianceChangeNotification",
            "configRuleName": rule,
            "resourceType": "AWS::SecretsManager::Secret",
            "resourceId": resource,
            "newEvaluationResult": {"complianceType": compliance},
        },
    }


def test_non_compliance_of_the_environments_resources_reaches_the_topic(
    synthesized: Synthesized,
) -> None:
    secrets = synthesized.stack("Strongbox-Prod/Secrets")
    stack = synthesized.stack("Strongbox-Prod/Detection")
    rules = config_rules(stack)
    names = {logical_id: f"rule-{identifier}" for identifier, (logical_id, _) in rules.items()}
    keys = synthesized.stack("Strongbox-Prod/Keys")
    _, rule = rule_pattern(
        stack, "A Config rule found a secret or key of prod/payments/ non-compliant"
    )
    key_ref = rule["EventPattern"]["detail"]["$or"][1]["resourceId"][-1]
    (key_logical_id,) = keys.resources("AWS::KMS::Key")
    output = keys.template["Outputs"][key_ref["Fn::GetStackOutput"]["OutputName"]]
    assert output["Value"] == {"Ref": key_logical_id}
    pattern = deployed(rule["EventPattern"], names)
    pattern["detail"]["$or"][1]["resourceId"][-1] = "key-id-1234"
    (topic_id,) = secrets.resources("AWS::SNS::Topic")
    (topic_policy,) = secrets.resources("AWS::SNS::TopicPolicy").values()
    allowed = {
        s["Sid"]: s for s in topic_policy["Properties"]["PolicyDocument"]["Statement"] if "Sid" in s
    }
    own_secret = PRIMARY + "stripe-api-key-AbCdEf"
    other_secret = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:other/app-1"

    (target,) = rule["Targets"]
    topic_output = target["Arn"]["Fn::GetStackOutput"]
    assert topic_output["StackName"] == secrets.stack_name
    assert secrets.template["Outputs"][topic_output["OutputName"]]["Value"] == {"Ref": topic_id}
    # The topic names the rule by its ARN: the Secrets stack does not depend on Detection.
    assert rule["Name"] == "prod-payments-config-noncompliance"
    assert allowed["NonCompliancePublish"]["Condition"] == {
        "ArnEquals": {
            "aws:SourceArn": [
                f"arn:aws:events:eu-west-1:{ACCOUNT}:rule/prod-payments-config-noncompliance"
            ]
        }
    }
    assert "Detection" not in json.dumps(secrets.template)
    assert matches(pattern, compliance_event(names[rules["REQUIRED_TAGS"][0]], own_secret))
    for identifier, (logical_id, _) in rules.items():
        name = names[logical_id]
        assert matches(pattern, compliance_event(name, own_secret)), identifier
        assert not matches(pattern, compliance_event(name, own_secret, "COMPLIANT")), identifier
    # Another application's secret alerts only for the missing tags (a secret made outside
    # Strongbox); the environment's key for its rotation rule.
    assert matches(pattern, compliance_event(names[rules["REQUIRED_TAGS"][0]], other_secret))
    rotation_enabled = names[rules["SECRETSMANAGER_ROTATION_ENABLED_CHECK"][0]]
    key_rotation = names[rules["CMK_BACKING_KEY_ROTATION_ENABLED"][0]]
    assert not matches(pattern, compliance_event(rotation_enabled, other_secret))
    assert matches(pattern, compliance_event(key_rotation, "key-id-1234"))
    assert not matches(pattern, compliance_event(key_rotation, "another-key-id"))
    assert not matches(pattern, compliance_event("someone-elses-rule", own_secret))


def with_detection(environment: str, detection: dict[str, Any]) -> dict[str, Any]:
    config = default_strongbox_config()
    config["environments"][environment]["detection"] = detection
    return config


@pytest.mark.parametrize(
    ("environment", "detection", "on"),
    [
        ("dev", {}, False),
        ("staging", {}, True),
        ("prod", {}, True),
        ("dev", {"config_rules": True}, True),
        ("prod", {"config_rules": False}, False),
    ],
)
def test_config_rules_are_on_outside_dev_unless_the_config_says(
    environment: str, detection: dict[str, Any], on: bool
) -> None:
    config = parse_config(with_detection(environment, detection))
    assert config.environment(environment).config_rules is on


def test_a_recorder_without_rules_is_refused() -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config(with_detection("dev", {"create_recorder": True}))
    assert str(refused.value) == (
        "environments.dev.detection.create_recorder: the recorder is created for the Config "
        "rules, which are off here; set detection.config_rules true, or leave create_recorder "
        "false"
    )


@pytest.mark.parametrize(
    ("schedule", "hours"),
    [
        ("rate(30 days)", 720),
        ("rate(4 hours)", 4),
        ("rate(1 day)", 24),
        # The 15th to the 1st of a 31-day month.
        ("cron(0 16 1,15 * ? *)", 17 * 24),
        # Friday to Monday.
        ("cron(0 8 ? * MON-FRI *)", 72),
        ("cron(0 */6 * * ? *)", 6),
        # The last day of a month to the last of the next: 31 days at most.
        ("cron(0 0 L * ? *)", 31 * 24),
        # Five weeks between the first Sundays of some months.
        ("cron(0 2 ? * SUN#1 *)", 35 * 24),
        ("cron(0 2 ? * 6L *)", 35 * 24),
        # July 1st to January 1st.
        ("cron(0 0 1 JAN,JUL ? *)", 184 * 24),
    ],
)
def test_longest_gap_between_rotations(schedule: str, hours: int) -> None:
    assert longest_gap_hours(schedule) == hours


def test_a_schedule_it_cannot_read_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"'every day' is not a rate\(\.\.\.\) or cron"):
        longest_gap_hours("every day")


# --- the recorder staging creates (detection.create_recorder) -------------------------------


def test_staging_creates_a_recorder_of_secrets_and_keys_only_and_prod_none(
    synthesized: Synthesized,
) -> None:
    staging = synthesized.stack("Strongbox-Staging/Detection")
    ((recorder_id, recorder),) = staging.resources("AWS::Config::ConfigurationRecorder").items()
    (channel,) = staging.resources("AWS::Config::DeliveryChannel").values()
    buckets = staging.resources("AWS::S3::Bucket")
    (history_id,) = [i for i in buckets if "History" in i]
    (key_id,) = staging.resources("AWS::KMS::Key")
    (alias,) = staging.resources("AWS::KMS::Alias").values()
    assert alias["Properties"]["AliasName"] == "alias/payments/staging/config-history"
    role_id = recorder["Properties"]["RoleARN"]["Fn::GetAtt"][0]
    role = staging.template["Resources"][role_id]
    policies = {
        logical_id: policy["Properties"]["PolicyDocument"]["Statement"]
        for logical_id, policy in staging.resources("AWS::IAM::ManagedPolicy").items()
        if {"Ref": role_id} in policy["Properties"].get("Roles", [])
    }
    statements = [s for document in policies.values() for s in document]

    assert recorder["Properties"]["RecordingGroup"] == {
        "AllSupported": False,
        "IncludeGlobalResourceTypes": False,
        "RecordingStrategy": {"UseOnly": "INCLUSION_BY_RESOURCE_TYPES"},
        "ResourceTypes": ["AWS::SecretsManager::Secret", "AWS::KMS::Key"],
    }
    assert channel["Properties"] == {
        "S3BucketName": {"Ref": history_id},
        "S3KmsKeyArn": {"Fn::GetAtt": [key_id, "Arn"]},
    }
    assert recorder_id in as_list(channel.get("DependsOn", []))
    # The recorder waits for its role's policies; the rules for the started recorder (its
    # channel) and those policies: Config refuses a rule while the region has no recorder.
    policy_ids = set(policies)
    assert policy_ids <= set(as_list(recorder["DependsOn"]))
    channel_id = next(iter(staging.resources("AWS::Config::DeliveryChannel")))
    for rule in staging.resources("AWS::Config::ConfigRule").values():
        assert {recorder_id, channel_id} | policy_ids <= set(as_list(rule["DependsOn"]))
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": "222222222222"}},
            "Effect": "Allow",
            "Principal": {"Service": "config.amazonaws.com"},
        }
    ]
    assert "ManagedPolicyArns" not in role["Properties"]  # no AWS managed policy
    actions = {a for s in statements for a in as_list(s["Action"])}
    assert actions == {
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetResourcePolicy",
        "secretsmanager:ListSecretVersionIds",
        "secretsmanager:ListSecrets",
        "kms:DescribeKey",
        "kms:GetKeyPolicy",
        "kms:GetKeyRotationStatus",
        "kms:ListResourceTags",
        "kms:ListKeys",
        "kms:ListAliases",
        "s3:GetBucketAcl",
        "s3:PutObject",
        "kms:GenerateDataKey",
        "kms:Decrypt",
        # Config's own, as AWS_ConfigRole grants them: managed rules put evaluations with it.
        "config:BatchGet*",
        "config:Describe*",
        "config:Get*",
        "config:List*",
        "config:Put*",
        "config:Select*",
    }
    (put,) = [s for s in statements if s["Action"] == "s3:PutObject"]
    assert put["Resource"] == {
        "Fn::Join": ["", [{"Fn::GetAtt": [history_id, "Arn"]}, "/AWSLogs/222222222222/*"]]
    }
    assert buckets[history_id]["Properties"]["BucketEncryption"][
        "ServerSideEncryptionConfiguration"
    ][0]["ServerSideEncryptionByDefault"] == {
        "KMSMasterKeyID": {"Fn::GetAtt": [key_id, "Arn"]},
        "SSEAlgorithm": "aws:kms",
    }
    for name, stack in synthesized.stacks.items():
        if not name.startswith("Strongbox-Staging/"):
            assert not stack.resources("AWS::Config::ConfigurationRecorder"), name
