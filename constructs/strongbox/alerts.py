"""RotationAlerts: rotation failures and unexpected secret reads, to an encrypted SNS topic."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk.interfaces.aws_events import IRuleRef

from constructs import Construct
from strongbox.access.calls import Call, Runtime
from strongbox.access.declare import declare_runtime
from strongbox.keys import KeyLike, as_key, key_reference
from strongbox.naming import pascal_case
from strongbox.rotation_function import RotationFunction
from strongbox.signature import shows_init_signature

ROTATION_FAILURE_EVENTS = ("RotationFailed", "RotationAbandoned")
READ_EVENTS = ("GetSecretValue", "BatchGetSecretValue")
# EventBridge's default limit on an event pattern (characters; adjustable by a quota request).
EVENT_PATTERN_LIMIT = 2048


def unexpected_read_pattern(
    secret_name_prefix: str, arn_prefix: str, allowed_reader_arns: Sequence[str]
) -> dict[str, Any]:
    """The event pattern of reads of secrets under `secret_name_prefix` (by name or by ARN,
    `arn_prefix`) by a role outside `allowed_reader_arns`, an IAM user or the root user."""
    return {
        "source": ["aws.secretsmanager"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {
            "eventSource": ["secretsmanager.amazonaws.com"],
            "eventName": list(READ_EVENTS),
            "requestParameters": {
                "secretId": [{"prefix": secret_name_prefix}, {"prefix": arn_prefix}]
            },
            # A role outside the list, or an IAM user or the root user (no session issuer).
            "$or": [
                {
                    "userIdentity": {
                        "sessionContext": {
                            "sessionIssuer": {"arn": [{"anything-but": list(allowed_reader_arns)}]}
                        }
                    }
                },
                {"userIdentity": {"type": ["IAMUser", "Root"]}},
            ],
        },
    }


@shows_init_signature
class RotationAlerts(Construct):
    """EventBridge rules and alarms that notify an SNS topic encrypted with the key.

    - Rotation failed or was abandoned (Secrets Manager's CloudTrail service events).
    - GetSecretValue on this environment's secrets by a role outside `allowed_reader_arns`, an
      IAM user or the root user
      (CloudTrail read events; the rule opts in to read-only management events, and the account
      needs a CloudTrail trail, which AWS Organizations or Control Tower usually provide).
    - Any error of a rotation function (CloudWatch alarm).

    The topic's policy lets EventBridge and CloudWatch publish only for these rules and alarms
    (`aws:SourceArn`). A topic policy replaces SNS's default one, so without the CloudWatch
    statement the alarms could not publish at all.

    Attributes:
        topic: the `sns.Topic` (TLS-only policy, encrypted with `encryption_key`).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        encryption_key: KeyLike,
        secret_name_prefix: str,
        allowed_reader_arns: Sequence[str],
        rotation_functions: Sequence[RotationFunction] = (),
        emails: Sequence[str] = (),
    ) -> None:
        """
        Args:
            encryption_key: encrypts the topic; its policy must let EventBridge and CloudWatch
                use it (`KeyAccess(encrypts_alerts=True)`).
            secret_name_prefix: e.g. "prod/payments/": reads of secrets under it are watched.
            allowed_reader_arns: role ARNs expected to read secrets (workloads, rotation
                functions, administrators); reads by any other role alert.
            rotation_functions: functions whose errors alarm.
            emails: addresses subscribed to the topic (each confirms by email).
        """
        super().__init__(scope, id_)
        stack = cdk.Stack.of(self)
        encryption_key = as_key(encryption_key)
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name=f"Strongbox alerts for {secret_name_prefix}",
            master_key=key_reference(self, "TopicKey", encryption_key),
            enforce_ssl=True,
        )
        for email in emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        target = _TopicTarget(self.topic)
        arn_prefix = (
            f"arn:{stack.partition}:secretsmanager:{stack.region}:{stack.account}:secret:"
            f"{secret_name_prefix}"
        )

        failures = events.Rule(
            self,
            "RotationFailures",
            description=f"Rotation failed or abandoned for a secret under {secret_name_prefix}",
            event_pattern=events.EventPattern(
                source=["aws.secretsmanager"],
                detail_type=["AWS Service Event via CloudTrail"],
                detail={
                    "eventSource": ["secretsmanager.amazonaws.com"],
                    "eventName": list(ROTATION_FAILURE_EVENTS),
                    "additionalEventData": {"SecretId": [{"prefix": arn_prefix}]},
                },
            ),
            targets=[target],
        )
        pattern = unexpected_read_pattern(secret_name_prefix, arn_prefix, allowed_reader_arns)
        reads = events.Rule(
            self,
            "UnexpectedReads",
            description=f"A secret under {secret_name_prefix} was read by an unexpected role",
            event_pattern=events.EventPattern(
                source=pattern["source"],
                detail_type=pattern["detail-type"],
                detail=pattern["detail"],
            ),
            targets=[target],
        )
        # GetSecretValue is a read-only management event, which EventBridge delivers only to
        # rules in this state.
        rule = reads.node.default_child
        assert isinstance(rule, events.CfnRule)
        rule.add_property_override("State", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS")
        self._allow_publish(
            "RulesPublish", "events.amazonaws.com", [failures.rule_arn, reads.rule_arn]
        )
        for rule in (failures, reads):
            self._declare_publisher(
                f"EventBridge rule {rule.node.id}",
                "events.amazonaws.com",
                rule.rule_arn,
                encryption_key,
            )

        alarms: list[str] = []
        for rotation in rotation_functions:
            home = cdk.Stack.of(rotation)
            # Functions of other stacks may share an id (one per generation in each stack).
            prefix = "" if home is stack else pascal_case(home.node.id)
            alarm = cloudwatch.Alarm(
                self,
                f"{prefix}{rotation.node.id}Errors",
                alarm_description=f"A Strongbox rotation function failed ({rotation.node.path})",
                metric=rotation.function.metric_errors(period=cdk.Duration.minutes(5)),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.topic))
            alarms.append(alarm.alarm_arn)
            self._declare_publisher(
                f"CloudWatch alarm {alarm.node.id}",
                "cloudwatch.amazonaws.com",
                alarm.alarm_arn,
                encryption_key,
            )
        if alarms:
            self._allow_publish("AlarmsPublish", "cloudwatch.amazonaws.com", alarms)

    def _declare_publisher(
        self, name: str, service: str, source_arn: str, encryption_key: kms.IKey
    ) -> None:
        """A publisher's calls: sns:Publish on the topic, and the data key SNS asks KMS for on
        the publisher's behalf to encrypt the message (SNS developer guide, "Enable
        compatibility between event sources from AWS services and encrypted topics")."""
        topic = self.topic.topic_arn
        context = {"kms:EncryptionContext:aws:sns:topicArn": topic}
        declare_runtime(
            self,
            Runtime(
                name=name,
                kind="service",
                principal=service,
                calls=(
                    Call("sns:Publish", topic, purpose="an alert"),
                    Call(
                        "kms:GenerateDataKey",
                        encryption_key.key_arn,
                        via="sns",
                        context=context,
                        purpose="an alert, encrypted",
                    ),
                    Call(
                        "kms:Decrypt",
                        encryption_key.key_arn,
                        via="sns",
                        context=context,
                        purpose="an alert, encrypted",
                    ),
                ),
                source={
                    "aws:SourceArn": source_arn,
                    "aws:SourceAccount": cdk.Stack.of(self).account,
                },
            ),
        )

    def _allow_publish(self, sid: str, service: str, source_arns: Sequence[str]) -> None:
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid=sid,
                principals=[iam.ServicePrincipal(service)],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={"ArnEquals": {"aws:SourceArn": list(source_arns)}},
            )
        )


@jsii.implements(events.IRuleTarget)
class _TopicTarget:
    """The topic as a rule target, without `targets.SnsTopic`'s grant, which would let every
    EventBridge rule of any account publish; `RotationAlerts` grants its own rules only."""

    def __init__(self, topic: sns.ITopic) -> None:
        self._topic = topic

    def bind(self, rule: IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        del rule, id  # the same target for any rule
        return events.RuleTargetConfig(arn=self._topic.topic_arn)
