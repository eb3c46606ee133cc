"""SecretsKey and SecretsReplicaKey: customer-managed KMS keys with a policy built from roles."""

from __future__ import annotations

import fnmatch
import json
import re
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import region_info

from constructs import Construct
from strongbox.errors import StrongboxError
from strongbox.naming import claim_name, pascal_case
from strongbox.signature import shows_init_signature

MIN_ROTATION_DAYS, MAX_ROTATION_DAYS = 90, 2560
MIN_PENDING_DAYS, MAX_PENDING_DAYS = 7, 30

# Management without cryptographic use. CreateGrant is left out on purpose: a grant would let an
# administrator give itself Decrypt without changing the key policy, where changes are audited.
KEY_ADMINISTRATION_ACTIONS = (
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListAliases",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListKeyRotations",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:ReplicateKey",
    "kms:RevokeGrant",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
    "kms:UpdatePrimaryRegion",
)
KEY_USE_ACTIONS = ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*")
CONSUMER_ACTIONS = ("kms:Decrypt", "kms:DescribeKey")
LOGS_ACTIONS = (
    "kms:Decrypt*",
    "kms:Describe*",
    "kms:Encrypt*",
    "kms:GenerateDataKey*",
    "kms:ReEncrypt*",
)
RDS_ACTIONS = (
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey*",
    "kms:ListGrants",
    "kms:ReEncrypt*",
)
# Services allowed to use the key on a caller's behalf: secrets, and SecureString parameters.
KEY_USING_SERVICES = ("secretsmanager", "ssm")

# \Z, not $ (which also matches before a final newline), and ASCII classes (\d and \w would
# take other scripts' digits and letters): the same strictness as the config loader.
_ACCOUNT = re.compile(r"^[0-9]{12}\Z", re.ASCII)
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::([0-9]{12}):role/[\w+=,.@/-]+\Z", re.ASCII)


@dataclass(frozen=True)
class KeyAccess:
    """Who may do what with a key; the policy of a primary key and its replicas is built from it.

    Attributes:
        account: the key's account. Its root principal always administers the key, so IAM
            administrators (and CloudFormation's execution role) can never be locked out.
        regions: the primary region and every replica region; use of the key through Secrets
            Manager and SSM is allowed in each of them.
        administrators: role ARNs in `account` that manage the key (never use it).
        cross_account_consumers: 12-digit accounts or role ARNs in other accounts that may
            decrypt through Secrets Manager.
        encrypts_log_groups: let CloudWatch Logs use the key for this account's log groups in
            these regions (flow logs, Lambda logs).
        encrypts_alerts: let EventBridge and CloudWatch alarms publish to SNS topics encrypted
            with the key (CloudWatch: for this account's alarms in these regions only).
        encrypts_databases: let RDS use the key, in the primary region, for this account's
            databases (storage encryption; RDS holds the key through grants it creates).
        additional_statements: extra statements; none may deny key administration or allow a
            wildcard principal without a condition.
    """

    account: str
    regions: tuple[str, ...]
    administrators: tuple[str, ...] = ()
    cross_account_consumers: tuple[str, ...] = ()
    encrypts_log_groups: bool = False
    encrypts_alerts: bool = False
    encrypts_databases: bool = False
    additional_statements: tuple[iam.PolicyStatement, ...] = ()

    def __post_init__(self) -> None:
        if not _ACCOUNT.match(self.account):
            raise ValueError(f"account must be a 12-digit AWS account id, got {self.account!r}")
        if not self.regions:
            raise ValueError("regions must name at least the primary region")
        for administrator in self.administrators:
            match = _ROLE_ARN.match(administrator)
            if not match or match.group(1) != self.account:
                raise ValueError(
                    f"administrators: {administrator!r} is not an IAM role ARN in {self.account}"
                )
        for consumer in self.cross_account_consumers:
            if consumer_account(consumer) == self.account:
                raise ValueError(
                    f"cross_account_consumers: {consumer!r} is in the key's own account; "
                    "same-account readers get access through IAM (grant_read)"
                )
        for statement in self.additional_statements:
            _refuse_unsafe_statement(statement)

    def policy_document(self) -> iam.PolicyDocument:
        """The key policy: administration, service-scoped use, cross-account decrypt, extras."""
        root = iam.AccountPrincipal(self.account)
        statements = [
            iam.PolicyStatement(
                sid="KeyAdministration",
                principals=[root, *(iam.ArnPrincipal(arn) for arn in self.administrators)],
                actions=list(KEY_ADMINISTRATION_ACTIONS),
                resources=["*"],
            ),
            # The account root here delegates to IAM: a principal also needs an identity policy
            # allowing the action (grant_read adds one), and only through the listed services.
            iam.PolicyStatement(
                sid="UseThroughSecretsManagerAndSsm",
                principals=[root],
                actions=list(KEY_USE_ACTIONS),
                resources=["*"],
                conditions={
                    "StringEquals": {
                        "kms:CallerAccount": self.account,
                        "kms:ViaService": via_services(self.regions, KEY_USING_SERVICES),
                    }
                },
            ),
        ]
        for consumer in self.cross_account_consumers:
            principal, name = consumer_principal(consumer)
            statements.append(
                iam.PolicyStatement(
                    sid=f"CrossAccountDecrypt{name}",
                    principals=[principal],
                    actions=list(CONSUMER_ACTIONS),
                    resources=["*"],
                    conditions={
                        "StringEquals": {
                            "kms:CallerAccount": consumer_account(consumer),
                            "kms:ViaService": via_services(self.regions, ("secretsmanager",)),
                        }
                    },
                )
            )
        if self.encrypts_log_groups:
            statements.append(
                iam.PolicyStatement(
                    sid="CloudWatchLogsEncryptLogGroups",
                    principals=[
                        iam.ServicePrincipal(f"logs.{region}.amazonaws.com")
                        for region in self.regions
                    ],
                    actions=list(LOGS_ACTIONS),
                    resources=["*"],
                    conditions={
                        "ArnLike": {
                            "kms:EncryptionContext:aws:logs:arn": [
                                f"arn:{_partition(region)}:logs:{region}:{self.account}:log-group:*"
                                for region in self.regions
                            ]
                        }
                    },
                )
            )
        if self.encrypts_alerts:
            # EventBridge rules and CloudWatch alarms publish to the encrypted alert topic: AWS's
            # documented statements for event sources of encrypted SNS topics (SNS developer
            # guide, "Enable compatibility between event sources from AWS services and encrypted
            # topics"). That page asks for aws:SourceAccount and aws:SourceArn against confused
            # deputies, but says they are not supported in a key policy for EventBridge to
            # encrypted topics: EventBridge's statement has no condition (the topic policy names
            # the rules that may publish), CloudWatch's names this account's alarms. Alarm names
            # are generated in other stacks, after the key: any alarm of the account and regions.
            alert_actions = ["kms:Decrypt", "kms:GenerateDataKey*"]
            statements.append(
                iam.PolicyStatement(
                    sid="EventBridgeUsesEncryptedTopics",
                    principals=[iam.ServicePrincipal("events.amazonaws.com")],
                    actions=alert_actions,
                    resources=["*"],
                )
            )
            statements.append(
                iam.PolicyStatement(
                    sid="CloudWatchAlarmsUseEncryptedTopics",
                    principals=[
                        iam.ServicePrincipal(
                            "cloudwatch.amazonaws.com",
                            conditions={
                                "StringEquals": {"aws:SourceAccount": self.account},
                                "ArnLike": {
                                    "aws:SourceArn": [
                                        f"arn:{_partition(region)}:cloudwatch:{region}:"
                                        f"{self.account}:alarm:*"
                                        for region in self.regions
                                    ]
                                },
                            },
                        )
                    ],
                    actions=alert_actions,
                    resources=["*"],
                )
            )
        if self.encrypts_databases:
            # What AWS's own aws/rds key allows, for the account's principals through RDS only.
            statements.append(
                iam.PolicyStatement(
                    sid="UseThroughRds",
                    principals=[root],
                    actions=list(RDS_ACTIONS),
                    resources=["*"],
                    conditions={
                        "StringEquals": {
                            "kms:CallerAccount": self.account,
                            "kms:ViaService": f"rds.{self.regions[0]}.amazonaws.com",
                        }
                    },
                )
            )
        statements.extend(self.additional_statements)
        return iam.PolicyDocument(statements=statements)


def _partition(region: str) -> str:
    return str(region_info.RegionInfo.get(region).partition or "aws")


def key_reference(scope: Construct, id_: str, key: kms.IKey) -> kms.IKey:
    """`key` by ARN, for CDK L2s that would otherwise append their own statements to its policy
    (Secret, LogGroup and Topic do when given the key object). The policy stays exactly what
    `KeyAccess` builds."""
    return kms.Key.from_key_arn(scope, id_, arn_of(key))


def arn_of(key: kms.IKey) -> str:
    """`key.key_arn`, read from jsii once per key object (the same token every time): one key
    serves every secret of a stack, and each read is a round trip."""
    arn = _KEY_ARNS.get(key)
    if arn is None:
        arn = _KEY_ARNS[key] = key.key_arn
    return arn


_KEY_ARNS: weakref.WeakKeyDictionary[kms.IKey, str] = weakref.WeakKeyDictionary()


def via_services(regions: Sequence[str], services: Sequence[str]) -> list[str]:
    return [f"{service}.{region}.amazonaws.com" for region in regions for service in services]


def consumer_account(consumer: str) -> str:
    """The account of a 12-digit account id or an IAM role ARN."""
    if _ACCOUNT.match(consumer):
        return consumer
    match = _ROLE_ARN.match(consumer)
    if not match:
        raise ValueError(f"{consumer!r} is neither a 12-digit account id nor an IAM role ARN")
    return match.group(1)


def in_another_account(scope: Construct, account: str | None, *, own: str | None = None) -> bool:
    """Whether `account` (a principal's) is known and is not the account of `scope`'s stack
    (`own`, if the caller has read it already)."""
    if own is None:
        own = cdk.Stack.of(scope).account
    return bool(
        account
        and not cdk.Token.is_unresolved(account)
        and not cdk.Token.is_unresolved(own)
        and account != own
    )


def consumer_principal(consumer: str) -> tuple[iam.IPrincipal, str]:
    """The principal of an account id or role ARN, and a unique alphanumeric name for its Sid.

    `444444444444` -> (account root, "444444444444");
    `arn:aws:iam::444444444444:role/team/reporting-reader` -> (role, "444444444444ReportingReader").
    """
    account = consumer_account(consumer)
    if consumer == account:
        return iam.AccountPrincipal(account), _consumer_name(consumer)
    return iam.ArnPrincipal(consumer), _consumer_name(consumer)


def _consumer_name(consumer: str) -> str:
    account = consumer_account(consumer)
    return account if consumer == account else account + pascal_case(consumer.split("/")[-1])


# KMS's limit on a key policy (bytes).
KEY_POLICY_LIMIT = 32768
# What every statement but the cross-account ones takes as deployed, with every option on:
# measured 2,013 bytes plus 212 per region, without administrators; rounded up.
_KEY_POLICY_BASE, _KEY_POLICY_PER_REGION = 2100, 230


def key_policy_size(
    *,
    partition: str,
    regions: Sequence[str],
    administrators: Sequence[str],
    cross_account_consumers: Sequence[str],
) -> int:
    """An upper bound of the size, in bytes of compact JSON, of the key policy `KeyAccess` writes
    for these inputs (every option on), for refusing one over `KEY_POLICY_LIMIT` before synth.
    Each cross-account statement is rendered exactly; the rest is bounded by measurement
    (tests/test_keys.py holds the bound to the real policy)."""
    size = _KEY_POLICY_BASE + _KEY_POLICY_PER_REGION * len(regions)
    size += sum(len(administrator) + 3 for administrator in administrators)
    services = via_services(regions, ("secretsmanager",))
    for consumer in cross_account_consumers:
        account = consumer_account(consumer)
        statement = {
            "Action": list(CONSUMER_ACTIONS),
            "Condition": {
                "StringEquals": {
                    "kms:CallerAccount": account,
                    "kms:ViaService": services,
                }
            },
            "Effect": "Allow",
            "Principal": {
                "AWS": f"arn:{partition}:iam::{account}:root" if consumer == account else consumer
            },
            "Resource": "*",
            "Sid": f"CrossAccountDecrypt{_consumer_name(consumer)}",
        }
        size += len(json.dumps(statement, separators=(",", ":"))) + 1
    return size


def _refuse_unsafe_statement(statement: iam.PolicyStatement) -> None:
    rendered = statement.to_statement_json()
    principal = rendered.get("Principal")
    if principal in ("*", {"AWS": "*"}, {"AWS": ["*"]}) and not rendered.get("Condition"):
        raise ValueError(
            "additional_statements: a statement with Principal '*' must have a Condition"
        )
    if rendered.get("Effect") != "Deny":
        return
    actions = rendered.get("Action", [])
    not_actions = rendered.get("NotAction", [])
    actions = [actions] if isinstance(actions, str) else actions
    not_actions = [not_actions] if isinstance(not_actions, str) else not_actions
    covers_put_key_policy = any(
        fnmatch.fnmatchcase("kms:putkeypolicy", action.lower()) for action in actions
    ) or (
        "NotAction" in rendered
        and not any(fnmatch.fnmatchcase("kms:putkeypolicy", a.lower()) for a in not_actions)
    )
    if covers_put_key_policy:
        raise ValueError(
            "additional_statements: a Deny that covers kms:PutKeyPolicy could lock the "
            "administrators out of the key"
        )


@shows_init_signature
class SecretsKey(Construct):
    """A symmetric CMK with rotation on, alias `alias/<application>/<environment>/<purpose>`, and a
    key policy built from `KeyAccess`. Multi-region when `access.regions` names replica regions.

    Pass it wherever a Strongbox construct takes a key (`encryption_key=`); constructs that
    name things (`ManagedSecret`, `ParameterTree`) then take the application and environment
    from it.

    Attributes:
        key: the `kms.Key`.
        alias_name: the alias, the same in the primary and every replica region.
        access: the `KeyAccess` the policy was built from (replica keys reuse it).
        application, environment_name: as given.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        application: str,
        environment_name: str,
        access: KeyAccess,
        purpose: str = "secrets",
        rotation_period: cdk.Duration | None = None,
        pending_window: cdk.Duration | None = None,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
        multi_region: bool = True,
    ) -> None:
        """
        Args:
            application: application name, the alias's first segment.
            environment_name: environment name (dev, staging, prod, ...).
            access: administrators, regions, cross-account consumers and extra statements.
            purpose: what the key protects. Default: "secrets".
            rotation_period: automatic rotation period, 90-2560 days. Default: 365 days.
            pending_window: deletion waiting period, 7-30 days. Default: 30 days.
            removal_policy: what happens on stack deletion. Default: RETAIN.
            multi_region: make the key multi-region. Default: True, even without replica
                regions, because KMS cannot make an existing key multi-region: adding the
                first replica region later would otherwise replace the key.
        """
        super().__init__(scope, id_)
        if not multi_region and len(access.regions) > 1:
            raise ValueError(
                "multi_region=False cannot have replica regions: access.regions lists "
                f"{', '.join(access.regions)}"
            )
        rotation_period = rotation_period or cdk.Duration.days(365)
        pending_window = pending_window or cdk.Duration.days(MAX_PENDING_DAYS)
        _require_days("rotation_period", rotation_period, MIN_ROTATION_DAYS, MAX_ROTATION_DAYS)
        _require_days("pending_window", pending_window, MIN_PENDING_DAYS, MAX_PENDING_DAYS)

        region = cdk.Stack.of(self).region
        if not cdk.Token.is_unresolved(region) and region != access.regions[0]:
            raise ValueError(
                f"access.regions must start with the key's own region {region}, "
                f"got {', '.join(access.regions)}"
            )
        self.access = access
        self.application = application
        self.environment_name = environment_name
        self.alias_name = f"alias/{application}/{environment_name}/{purpose}"
        claim_name(self, "KMS alias", self.alias_name, account=access.account, region=region)
        self.description = f"Encrypts {application} {environment_name} {purpose} (Strongbox)"
        self.pending_window = pending_window
        self.key = kms.Key(
            self,
            "Key",
            description=self.description,
            enable_key_rotation=True,
            rotation_period=rotation_period,
            pending_window=pending_window,
            multi_region=multi_region,
            alias=self.alias_name,
            policy=access.policy_document(),
            removal_policy=removal_policy,
        )

    @property
    def primary_region(self) -> str:
        return self.access.regions[0]

    @property
    def replica_regions(self) -> tuple[str, ...]:
        return self.access.regions[1:]

    def key_arn_in(self, scope: Construct, region: str) -> str:
        """This key's ARN in `region` (primary or replica), computed in `scope`'s stack.

        A multi-region replica has the primary's key id, so the ARN needs only a same-region
        reference to the key id, never a cross-region one.
        """
        if region not in self.access.regions:
            raise ValueError(
                f"{region} is not a region of this key ({', '.join(self.access.regions)})"
            )
        return cdk.Stack.of(scope).format_arn(
            service="kms",
            region=region,
            account=self.access.account,
            resource="key",
            resource_name=self.key.key_id,
            arn_format=cdk.ArnFormat.SLASH_RESOURCE_NAME,
        )


@shows_init_signature
class SecretsReplicaKey(Construct):
    """The replica of a multi-region `SecretsKey` in another region, with the same policy model.

    Attributes:
        replica: the `kms.CfnReplicaKey`.
        key: the replica as a `kms.IKey`.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        primary: SecretsKey,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        """
        Args:
            primary: the multi-region key to replicate; this construct's stack must be in one of
                its replica regions.
            removal_policy: what happens on stack deletion. Default: RETAIN.
        """
        super().__init__(scope, id_)
        region = cdk.Stack.of(self).region
        if region not in primary.replica_regions:
            raise ValueError(
                f"a replica key in {region} needs {region} among the primary key's replica "
                f"regions ({', '.join(primary.replica_regions) or 'none'})"
            )
        self.replica = kms.CfnReplicaKey(
            self,
            "Key",
            primary_key_arn=primary.key.key_arn,
            key_policy=primary.access.policy_document(),
            description=primary.description,
            pending_window_in_days=int(primary.pending_window.to_days()),
            enabled=True,
        )
        self.replica.apply_removal_policy(removal_policy)
        kms.CfnAlias(
            self, "Alias", alias_name=primary.alias_name, target_key_id=self.replica.attr_key_id
        )
        self.key = kms.Key.from_key_arn(self, "Imported", self.replica.attr_arn)


# What a Strongbox construct accepts as its key: the CDK key, or the Strongbox construct owning it.
KeyLike = kms.IKey | SecretsKey | SecretsReplicaKey


def as_key(key: KeyLike) -> kms.IKey:
    """The `kms.IKey` of `key` (a `SecretsKey`'s or `SecretsReplicaKey`'s `.key`)."""
    return key.key if isinstance(key, SecretsKey | SecretsReplicaKey) else key


def names_from_key(
    scope: Construct, key: KeyLike, application: str | None, environment_name: str | None
) -> tuple[str, str]:
    """`application` and `environment_name`, each defaulting to the `SecretsKey`'s."""
    named = key if isinstance(key, SecretsKey) else None
    chosen: list[str] = []
    for argument, given, default in (
        ("application", application, named.application if named else None),
        ("environment_name", environment_name, named.environment_name if named else None),
    ):
        value = given or default
        if not value:
            raise StrongboxError(
                scope, f"{argument} is required unless encryption_key is a SecretsKey"
            )
        chosen.append(value)
    return chosen[0], chosen[1]


def _require_days(name: str, duration: cdk.Duration, low: int, high: int) -> None:
    days = duration.to_days()
    if not low <= days <= high:
        raise ValueError(f"{name} must be {low}-{high} days, got {days:g}")
