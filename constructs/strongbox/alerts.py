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


def read_pattern(secret_name_prefix: str, arn_prefixes: Sequence[str]) -> dict[str, Any]:
    """The event pattern of every read of a secret under `secret_name_prefix`, named by name or
    by an ARN under one of `arn_prefixes` (one per region the secrets live in).

    GetSecretValue names one secret (`secretId`); BatchGetSecretValue names a list
    (`secretIdList`), which matches when any item does. A batch that chooses its secrets by
    filters names none, but Secrets Manager also logs a GetSecretValue for each secret it
    returns (API reference, BatchGetSecretValue), and those match by `secretId`."""
    secrets = [{"prefix": prefix} for prefix in (secret_name_prefix, *arn_prefixes)]
    return {
        "source": ["aws.secretsmanager"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {
            "eventSource": ["secretsmanager.amazonaws.com"],
            "eventName": list(READ_EVENTS),
            "requestParameters": {"$or": [{"secretId": secrets}, {"secretIdList": secrets}]},
        },
    }


def unexpected_read_pattern(
    secret_name_prefix: str, arn_prefixes: Sequence[str], allowed_reader_arns: Sequence[str]
) -> dict[str, Any]:
    """The event pattern of reads (`read_pattern`) by a role outside `allowed_reader_arns`, an
    IAM user or the root user."""
    pattern = read_pattern(secret_name_prefix, arn_prefixes)
    # A role outside the list, or an IAM user or the root user (no session issuer).
    pattern["detail"]["$or"] = [
        {
            "userIdentity": {
                "sessionContext": {
                    "sessionIssuer": {"arn": [{"anything-but": list(allowed_reader_arns)}]}
                }
            }
        },
        {"userIdentity": {"type": ["IAMUser", "Root"]}},
    ]
    return pattern


def secret_arn_prefix(partition: str, region: str, account: str, secret_name_prefix: str) -> str:
    """The ARN every secret under `secret_name_prefix` in `region` starts with."""
    return f"arn:{partition}:secretsmanager:{region}:{account}:secret:{secret_name_prefix}"


def named_rule(secret_name_prefix: str, purpose: str) -> str:
    """The fixed name of an environment's EventBridge rule (`prod/payments/`, "replica-reads" ->
    `prod-payments-replica-reads`): a name lets a policy in another stack, or the rule's own
    role, name the rule's ARN without depending on it."""
    return secret_name_prefix.strip("/").replace("/", "-") + f"-{purpose}"


@shows_init_signature
class RotationAlerts(Construct):
    """EventBridge rules and alarms that notify an SNS topic encrypted with the key.

    - Rotation failed or was abandoned (Secrets Manager's CloudTrail service events).
    - A read of this environment's secrets (GetSecretValue, or BatchGetSecretValue naming one;
      replicas too, with `replica_regions`) by a role outside `allowed_reader_arns`, an IAM
      user or the root user (CloudTrail read events; the rule opts in to read-only management
      events, and the account needs a CloudTrail trail, which AWS Organizations or Control
      Tower usually provide).
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
        replica_regions: Sequence[str] = (),
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
            replica_regions: regions the secrets are replicated into. Reads there are judged
                here too: a `ReplicaReadWatch` in each forwards them to this region's default
                event bus.
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
        self._key = encryption_key
        self._target = target
        arn_prefix, *replica_prefixes = (
            secret_arn_prefix(stack.partition, region, stack.account, secret_name_prefix)
            for region in (stack.region, *replica_regions)
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
        pattern = unexpected_read_pattern(
            secret_name_prefix, [arn_prefix, *replica_prefixes], allowed_reader_arns
        )
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

    def publish_for(self, id_: str, rule_name: str) -> events.IRuleTarget:
        """The topic as the target of the EventBridge rule named `rule_name` in this account and
        region, which may live in another stack: the topic's policy allows that rule only
        (statement `<id_>Publish`), by an ARN built from its name, so the topic's stack does
        not depend on the rule's."""
        stack = cdk.Stack.of(self)
        rule_arn = f"arn:{stack.partition}:events:{stack.region}:{stack.account}:rule/{rule_name}"
        self._allow_publish(f"{id_}Publish", "events.amazonaws.com", [rule_arn])
        self._declare_publisher(
            f"EventBridge rule {rule_name}", "events.amazonaws.com", rule_arn, self._key
        )
        return self._target

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


@shows_init_signature
class ReplicaReadWatch(Construct):
    """In a replica region: every read of a replica under `secret_name_prefix`, forwarded to the
    primary region's default event bus, where `RotationAlerts` judges the reader.

    CloudTrail records a read of a replica in the replica's region, and EventBridge delivers it
    only to rules there. This rule matches every read (`read_pattern`, the replica's ARNs); who
    was expected is decided in the primary region, which knows the roles. Like the primary's
    rule, it opts in to read-only management events, and the account needs a trail that logs
    this region (a multi-region trail).

    Attributes:
        rule: the `events.Rule`; role: the role EventBridge assumes to put the events.
    """

    def __init__(
        self, scope: Construct, id_: str, *, secret_name_prefix: str, primary_region: str
    ) -> None:
        """
        Args:
            secret_name_prefix: e.g. "prod/payments/", as the primary's `RotationAlerts`.
            primary_region: where the secrets' primaries and their alerts are.
        """
        super().__init__(scope, id_)
        stack = cdk.Stack.of(self)
        bus_arn = f"arn:{stack.partition}:events:{primary_region}:{stack.account}:event-bus/default"
        # Named, so the role trusts this rule alone without a cycle (the rule names the role).
        rule_name = named_rule(secret_name_prefix, "replica-reads")
        rule_arn = f"arn:{stack.partition}:events:{stack.region}:{stack.account}:rule/{rule_name}"
        # The role's one permission as a managed policy: the target below adds no grant of its
        # own (`targets.EventBus` would, as an inline policy).
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "events.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnEquals": {"aws:SourceArn": rule_arn},
                },
            ),
            description=f"Forwards reads of replicas under {secret_name_prefix} to "
            f"{primary_region}",
            managed_policies=[
                iam.ManagedPolicy(
                    self,
                    "PutEvents",
                    description=f"Put events on the default event bus of {primary_region}",
                    statements=[
                        iam.PolicyStatement(actions=["events:PutEvents"], resources=[bus_arn])
                    ],
                )
            ],
        )
        pattern = read_pattern(
            secret_name_prefix,
            [secret_arn_prefix(stack.partition, stack.region, stack.account, secret_name_prefix)],
        )
        self.rule = events.Rule(
            self,
            "Reads",
            rule_name=rule_name,
            description=f"Reads of replicas under {secret_name_prefix}, to {primary_region}",
            event_pattern=events.EventPattern(
                source=pattern["source"],
                detail_type=pattern["detail-type"],
                detail=pattern["detail"],
            ),
            targets=[_BusTarget(bus_arn, self.role)],
        )
        rule = self.rule.node.default_child
        assert isinstance(rule, events.CfnRule)
        rule.add_property_override("State", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS")
        declare_runtime(
            self,
            Runtime(
                name=f"EventBridge rule {self.rule.node.path}",
                kind="role",
                principal=self.role.role_arn,
                calls=(Call("events:PutEvents", bus_arn, purpose="a replica's read, forwarded"),),
            ),
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


@jsii.implements(events.IRuleTarget)
class _BusTarget:
    """An event bus of another region as a rule target, put to with `role`, whose policy is the
    caller's to write."""

    def __init__(self, bus_arn: str, role: iam.IRole) -> None:
        self._bus_arn = bus_arn
        self._role = role

    def bind(self, rule: IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        del rule, id  # the same target for any rule
        return events.RuleTargetConfig(arn=self._bus_arn, role=self._role)
