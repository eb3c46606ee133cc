"""DetectionRules: AWS Config managed rules that watch an environment's secrets and keys after
deploy, their non-compliance sent to the environment's alerts."""

from __future__ import annotations

import math
from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_config as config
from aws_cdk import aws_events as events

from constructs import Construct
from strongbox.alerts import RotationAlerts, named_rule, secret_arn_prefix
from strongbox.schedule import longest_gap_hours
from strongbox.secrets import MANDATORY_TAGS
from strongbox.signature import shows_init_signature

# Security Hub's defaults for SecretsManager.3 (unused for 90 days) and SecretsManager.4 (not
# rotated for 90 days), used when no rotation schedule says otherwise.
UNUSED_DAYS = 90
DEFAULT_ROTATION_DAYS = 90
# REQUIRED_TAGS takes at most six keys (tag1Key ... tag6Key).
MAX_REQUIRED_TAGS = 6


@shows_init_signature
class DetectionRules(Construct):
    """The AWS Config managed rules behind Security Hub's Secrets Manager and KMS controls, for
    one environment, each change to NON_COMPLIANT of its resources sent to `alerts`' topic.

    | Rule (identifier) | Control | Scope |
    |---|---|---|
    | SECRETSMANAGER_ROTATION_ENABLED_CHECK | SecretsManager.1 | tag |
    | SECRETSMANAGER_SCHEDULED_ROTATION_SUCCESS_CHECK | SecretsManager.2 | tag |
    | SECRETSMANAGER_SECRET_UNUSED (periodic) | SecretsManager.3 | none |
    | SECRETSMANAGER_SECRET_PERIODIC_ROTATION (periodic) | SecretsManager.4 | none |
    | REQUIRED_TAGS (the mandatory tags) | SecretsManager.5 | every secret |
    | SECRETSMANAGER_USING_CMK (the environment's keys) | - | tag |
    | CMK_BACKING_KEY_ROTATION_ENABLED (periodic) | KMS.4 | none |

    "tag" is the environment's tag (`scope_tag`, e.g. Environment=prod): a scope decides which
    resources' changes trigger an evaluation. REQUIRED_TAGS is scoped to every secret of the
    region instead, since a tag scope would skip exactly the secrets that lack the tags: it is
    how a secret created outside Strongbox shows up, and its non-compliance alerts for any
    secret. The periodic rules take no scope (Config has been reported to refuse one) and
    evaluate every secret or key of the region. Every rule but REQUIRED_TAGS alerts only for
    the environment's own secrets (by ARN prefix) and keys (by key id).

    The alert rule is named `<secret_name_prefix with - for />-config-noncompliance` (e.g.
    `prod-payments-config-noncompliance`), so the topic's policy names it without depending on
    this construct's stack: the rules can live in a stack of their own, after the secrets.

    The region needs an AWS Config recorder that records `AWS::SecretsManager::Secret` and
    `AWS::KMS::Key` (Control Tower's does): Config refuses a rule while the region has none
    (NoAvailableConfigurationRecorderException), so the stack holding these rules fails.

    Attributes:
        rules: the `config.ManagedRule`s by identifier.
        alert_rule: the EventBridge rule that sends non-compliance to the topic.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        alerts: RotationAlerts,
        secret_name_prefix: str,
        scope_tag: tuple[str, str],
        key_arns: Sequence[str],
        key_ids: Sequence[str],
        rotation_schedules: Sequence[str] = (),
        required_tags: Sequence[str] = MANDATORY_TAGS,
    ) -> None:
        """
        Args:
            alerts: the environment's alerts; the topic hears of non-compliance.
            secret_name_prefix: e.g. "prod/payments/": the environment's secrets.
            scope_tag: the tag (key, value) every secret and key of the environment carries.
            key_arns: the environment's KMS keys in this region (SECRETSMANAGER_USING_CMK).
            key_ids: the same keys' ids, which Config reports key compliance by.
            rotation_schedules: the schedules of the rotated secrets: the longest gap between
                two rotations sets the rotation rules' limits (90 days when there is none).
            required_tags: at most six tag keys every secret must carry.
        """
        super().__init__(scope, id_)
        if not 1 <= len(required_tags) <= MAX_REQUIRED_TAGS:
            raise ValueError(
                f"required_tags: {len(required_tags)} keys; REQUIRED_TAGS takes 1 to "
                f"{MAX_REQUIRED_TAGS}"
            )
        stack = cdk.Stack.of(self)
        gap_hours = max(
            (longest_gap_hours(schedule) for schedule in rotation_schedules),
            default=DEFAULT_ROTATION_DAYS * 24,
        )
        # A rotation may run anywhere in its window, so the day after the longest gap is
        # still on time.
        max_days_since_rotation = math.ceil(gap_hours / 24) + 1
        tag = config.RuleScope.from_tag(*scope_tag)
        secrets = config.RuleScope.from_resources([config.ResourceType.SECRETS_MANAGER_SECRET])
        # A scope decides which configuration changes trigger an evaluation, and Config has
        # been reported to refuse one on a periodic rule (InvalidParameterValueException): the
        # three periodic rules evaluate every secret or key of the region; the alert keeps to
        # the environment's.
        periodic = None
        frequency: dict[str, object] = (
            {"maximumAllowedRotationFrequency": gap_hours // 24}
            if gap_hours % 24 == 0
            else {"maximumAllowedRotationFrequencyInHours": gap_hours}
        )
        ids = config.ManagedRuleIdentifiers
        wanted: list[tuple[str, str, config.RuleScope | None, dict[str, object]]] = [
            ("RotationEnabled", ids.SECRETSMANAGER_ROTATION_ENABLED_CHECK, tag, frequency),
            ("RotationSucceeds", ids.SECRETSMANAGER_SCHEDULED_ROTATION_SUCCESS_CHECK, tag, {}),
            ("Unused", ids.SECRETSMANAGER_SECRET_UNUSED, periodic, {"unusedForDays": UNUSED_DAYS}),
            (
                "PeriodicRotation",
                ids.SECRETSMANAGER_SECRET_PERIODIC_ROTATION,
                periodic,
                {"maxDaysSinceRotation": max_days_since_rotation},
            ),
            (
                "UsingKeys",
                ids.SECRETSMANAGER_USING_CMK,
                tag,
                {"kmsKeyArns": cdk.Fn.join(",", list(key_arns))},
            ),
            ("KeyRotation", ids.CMK_BACKING_KEY_ROTATION_ENABLED, periodic, {}),
        ]
        self.rules: dict[str, config.ManagedRule] = {
            identifier: config.ManagedRule(
                self,
                name,
                identifier=identifier,
                rule_scope=rule_scope,
                input_parameters=parameters or None,
                description=f"Strongbox {secret_name_prefix}: {identifier}",
            )
            for name, identifier, rule_scope, parameters in wanted
        }
        tags = config.ManagedRule(
            self,
            "Tagged",
            identifier=ids.REQUIRED_TAGS,
            rule_scope=secrets,
            input_parameters={
                f"tag{index}Key": key for index, key in enumerate(required_tags, start=1)
            },
            description=f"Strongbox {secret_name_prefix}: every secret carries "
            + ", ".join(required_tags),
        )
        self.rules[ids.REQUIRED_TAGS] = tags
        # Config names a secret by its ARN; the name prefix also matches, should it ever name
        # one by name.
        own = [
            {"prefix": secret_arn_prefix(stack.partition, stack.region, stack.account, prefix)}
            for prefix in (secret_name_prefix,)
        ] + [{"prefix": secret_name_prefix}]
        noncompliant = {"complianceType": ["NON_COMPLIANT"]}
        rule_name = named_rule(secret_name_prefix, "config-noncompliance")
        self.alert_rule = events.Rule(
            self,
            "NonCompliance",
            rule_name=rule_name,
            description=f"A Config rule found a secret or key of {secret_name_prefix} "
            "non-compliant",
            event_pattern=events.EventPattern(
                source=["aws.config"],
                detail_type=["Config Rules Compliance Change"],
                detail={
                    "messageType": ["ComplianceChangeNotification"],
                    "newEvaluationResult": noncompliant,
                    "$or": [
                        {"configRuleName": [tags.config_rule_name]},
                        {
                            "configRuleName": [
                                rule.config_rule_name
                                for identifier, rule in self.rules.items()
                                if identifier != ids.REQUIRED_TAGS
                            ],
                            "resourceId": [*own, *key_ids],
                        },
                    ],
                },
            ),
            targets=[alerts.publish_for("NonCompliance", rule_name)],
        )
