"""Security Hub's Secrets Manager, KMS and ECS.8 controls of one environment, from its templates."""

from __future__ import annotations

import calendar
import datetime
import fnmatch
import itertools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from strongbox.assembly.resolver import Resolver, Stack, is_unresolved, secret_id_arn
from strongbox.report.inventory import Environment

Status = Literal["pass", "fail", "not applicable", "not decidable at synth"]
OK: Status = "pass"
FAIL: Status = "fail"
NOT_APPLICABLE: Status = "not applicable"
UNDECIDED: Status = "not decidable at synth"

# SecretsManager.4's maxDaysSinceRotation and SecretsManager.3's unusedForDays: Security Hub's
# defaults (secretsmanager-controls in the Security Hub user guide).
MAX_DAYS_SINCE_ROTATION = 90
UNUSED_FOR_DAYS = 90
# ECS.8's secretKeys, which Security Hub does not let anyone change (ecs-controls, ECS.8).
ECS_SECRET_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "ECS_ENGINE_AUTH_DATA")
# KMS.1/KMS.2's blockedActionsPatterns (kms-controls, not customizable).
BLOCKED_KMS_ACTIONS = ("kms:Decrypt", "kms:ReEncryptFrom")
# A key ARN of an account and region no template names: a Resource that matches it matches
# every key, which is what KMS.1/KMS.2 fail on ("on all KMS keys").
_ANY_KEY = "arn:aws:kms:zz-nowhere-1:000000000000:key/00000000-0000-0000-0000-000000000000"
# Condition keys that, compared with a fixed value, keep a key policy statement that names
# Principal "*" from being public (kms-key-policy-no-public-access: fixed values only).
_RESTRICTING_KEYS = frozenset(
    key.lower()
    for key in (
        "aws:PrincipalAccount",
        "aws:PrincipalArn",
        "aws:PrincipalOrgID",
        "aws:PrincipalOrgPaths",
        "aws:SourceAccount",
        "aws:SourceArn",
        "aws:SourceOwner",
        "aws:SourceOrgID",
        "aws:SourceVpc",
        "aws:SourceVpce",
        "aws:userid",
        "kms:CallerAccount",
    )
)
_RESTRICTING_OPERATORS = frozenset(
    ("stringequals", "stringequalsignorecase", "stringlike", "arnequals", "arnlike")
)
# A CloudFormation dynamic reference that puts a secret's plaintext into a property.
_SECRET_REFERENCE = re.compile(r"\{\{resolve:(secretsmanager|ssm-secure):")
NO_CONFIG_RULE = "no Config rule in this environment"


@dataclass(frozen=True)
class Control:
    """One Security Hub control, as the report decides it for an environment."""

    control: str  # Security Hub's id, "SecretsManager.1"
    title: str
    status: Status
    evidence: tuple[str, ...]  # the resources and the property that decide it, one line each
    # The AWS Config rules of the environment (by their Source.SourceIdentifier) that evaluate
    # the control in the account once deployed; empty when the templates hold none.
    watched_by: tuple[str, ...]


@dataclass(frozen=True)
class _Spec:
    control: str
    title: str
    config_rules: tuple[str, ...]  # Source.SourceIdentifier of the managed rules behind it


_SPECS = (
    _Spec(
        "SecretsManager.1",
        "Secrets Manager secrets should have automatic rotation enabled",
        ("SECRETSMANAGER_ROTATION_ENABLED_CHECK",),
    ),
    _Spec(
        "SecretsManager.2",
        "Secrets Manager secrets configured with automatic rotation should rotate successfully",
        ("SECRETSMANAGER_SCHEDULED_ROTATION_SUCCESS_CHECK",),
    ),
    _Spec(
        "SecretsManager.3",
        "Remove unused Secrets Manager secrets",
        ("SECRETSMANAGER_SECRET_UNUSED",),
    ),
    _Spec(
        "SecretsManager.4",
        "Secrets Manager secrets should be rotated within a specified number of days",
        ("SECRETSMANAGER_SECRET_PERIODIC_ROTATION",),
    ),
    _Spec("SecretsManager.5", "Secrets Manager secrets should be tagged", ("REQUIRED_TAGS",)),
    _Spec(
        "KMS.1",
        "IAM customer managed policies should not allow decryption actions on all KMS keys",
        ("IAM_CUSTOMER_POLICY_BLOCKED_KMS_ACTIONS",),
    ),
    _Spec(
        "KMS.2",
        "IAM principals should not have IAM inline policies that allow decryption actions on "
        "all KMS keys",
        ("IAM_INLINE_POLICY_BLOCKED_KMS_ACTIONS",),
    ),
    _Spec(
        "KMS.3",
        "AWS KMS keys should not be deleted unintentionally",
        ("KMS_CMK_NOT_SCHEDULED_FOR_DELETION",),
    ),
    _Spec("KMS.4", "AWS KMS key rotation should be enabled", ("CMK_BACKING_KEY_ROTATION_ENABLED",)),
    _Spec(
        "KMS.5", "KMS keys should not be publicly accessible", ("KMS_KEY_POLICY_NO_PUBLIC_ACCESS",)
    ),
    _Spec(
        "ECS.8",
        "Secrets should not be passed as container environment variables",
        ("ECS_NO_ENVIRONMENT_SECRETS",),
    ),
)


@dataclass(frozen=True)
class _Finding:
    """One resource's part in a control: its status and the line of evidence saying why."""

    status: Status
    evidence: str


@dataclass(frozen=True)
class _Resource:
    stack: Stack
    logical_id: str
    resource: Mapping[str, Any]

    @property
    def properties(self) -> Mapping[str, Any]:
        properties: Mapping[str, Any] = self.resource.get("Properties", {})
        return properties

    @property
    def where(self) -> str:
        return f"{self.logical_id} of {self.stack.display_name}"


def controls(resolver: Resolver, environment: Environment) -> tuple[Control, ...]:
    """Each control of `_SPECS`, decided from the templates of `environment`'s stacks."""
    stacks = [stack for stack in resolver.stacks if stack.environment == environment.name]
    table = _Table(resolver, stacks, environment)
    deciders: dict[str, Callable[[], tuple[Status, list[str]]]] = {
        "SecretsManager.1": table.rotation_enabled,
        "SecretsManager.2": table.rotation_succeeds,
        "SecretsManager.3": table.unused_secrets,
        "SecretsManager.4": table.rotated_within,
        "SecretsManager.5": table.tagged,
        "KMS.1": lambda: table.blocked_kms_actions(table.managed_policies(), "customer managed"),
        "KMS.2": lambda: table.blocked_kms_actions(table.inline_policies(), "inline"),
        "KMS.3": table.not_deleted,
        "KMS.4": table.key_rotation,
        "KMS.5": table.not_public,
        "ECS.8": table.no_environment_secrets,
    }
    found = []
    for spec in _SPECS:
        status, evidence = deciders[spec.control]()
        found.append(
            Control(
                control=spec.control,
                title=spec.title,
                status=status,
                evidence=tuple(evidence),
                watched_by=tuple(table.config_rules(spec)),
            )
        )
    return tuple(found)


def _overall(findings: Sequence[_Finding], *, none: str) -> tuple[Status, list[str]]:
    """An environment fails when any resource fails, is undecided when any is, passes when all
    pass; with nothing to evaluate the control does not apply, and `none` says why."""
    if not findings:
        return NOT_APPLICABLE, [none]
    statuses = {finding.status for finding in findings}
    status = next(
        (s for s in (FAIL, UNDECIDED, OK) if s in statuses),
        NOT_APPLICABLE,
    )
    return status, [finding.evidence for finding in findings]


class _Table:
    """The resources of one environment's templates, and each control's decision over them."""

    def __init__(self, resolver: Resolver, stacks: Sequence[Stack], environment: Environment):
        self.resolver = resolver
        self.stacks = stacks
        self.environment = environment

    def of_type(self, *types: str) -> Iterator[_Resource]:
        for stack in self.stacks:
            for logical_id, resource in stack.resources.items():
                if resource.get("Type") in types:
                    yield _Resource(stack, logical_id, resource)

    # -- Config rules --------------------------------------------------------------------

    def config_rules(self, spec: _Spec) -> Iterator[str]:
        """The managed Config rules of the environment behind `spec`, by SourceIdentifier."""
        for rule in self.of_type("AWS::Config::ConfigRule"):
            source = self.resolver.resolve(rule.stack, rule.properties.get("Source", {}))
            if not isinstance(source, dict) or source.get("Owner") != "AWS":
                continue
            identifier = source.get("SourceIdentifier")
            if identifier not in spec.config_rules:
                continue
            scope = self.resolver.resolve(rule.stack, rule.properties.get("Scope", {}))
            types = scope.get("ComplianceResourceTypes") if isinstance(scope, dict) else None
            if (
                identifier == "REQUIRED_TAGS"
                and types
                and "AWS::SecretsManager::Secret" not in types
            ):
                continue  # a tag rule for other resources does not watch secrets
            name = self.resolver.text(rule.stack, rule.properties.get("ConfigRuleName", ""))
            parameters = self.resolver.resolve(
                rule.stack, rule.properties.get("InputParameters", {})
            )
            given = (
                " with " + ", ".join(f"{key} {value}" for key, value in sorted(parameters.items()))
                if isinstance(parameters, dict) and parameters
                else ""
            )
            yield f"{name or rule.logical_id} ({identifier}) of {rule.stack.display_name}{given}"

    # -- Secrets Manager -----------------------------------------------------------------

    def secrets(self) -> Iterator[tuple[_Resource, str]]:
        """Each secret of the environment with its label: name and logical id."""
        for secret in self.of_type("AWS::SecretsManager::Secret"):
            name = self.resolver.secret_name(secret.stack, secret.logical_id)
            yield secret, f"`{name}` ({secret.logical_id})"

    def schedules(self) -> dict[str, _Resource]:
        """Each rotation schedule of the assembly by the ARN of the secret it rotates (a schedule
        may live in another stack of the stage, as a database's hosted rotation does)."""
        found = {}
        for stack in self.resolver.stacks:
            for logical_id, resource in stack.resources.items():
                if resource.get("Type") != "AWS::SecretsManager::RotationSchedule":
                    continue
                secret_id = resource.get("Properties", {}).get("SecretId")
                arn = secret_id_arn(stack, self.resolver.text(stack, secret_id))
                found[arn] = _Resource(stack, logical_id, resource)
        return found

    def _schedule_text(self, schedule: _Resource) -> str:
        rules = self.resolver.resolve(schedule.stack, schedule.properties.get("RotationRules", {}))
        rules = rules if isinstance(rules, dict) else {}
        if "ScheduleExpression" in rules:
            every = f"ScheduleExpression {rules['ScheduleExpression']}"
        elif "AutomaticallyAfterDays" in rules:
            every = f"AutomaticallyAfterDays {rules['AutomaticallyAfterDays']}"
        else:
            every = "no RotationRules (rotates on demand only)"
        hosted = schedule.properties.get("HostedRotationLambda")
        how = (
            f"HostedRotationLambda {hosted.get('RotationType', '')}".rstrip()
            if isinstance(hosted, dict)
            else "RotationLambdaARN"
        )
        return f"RotationSchedule {schedule.where}: {every}, {how}"

    def _not_rotating(self, secret: _Resource) -> str:
        recorded = secret.resource.get("Metadata", {}).get("StrongboxRotation", {})
        reason = recorded.get("DisabledReason") if isinstance(recorded, dict) else None
        if reason:
            return f"no RotationSchedule; rotation off on purpose: {reason}"
        return "no RotationSchedule and no reason recorded"

    def _per_schedule(
        self, judge: Callable[[str, _Resource], _Finding]
    ) -> tuple[Status, list[str]]:
        """Each secret judged by its RotationSchedule (`judge(label, schedule)`); a secret
        without one fails, with its recorded reason."""
        schedules = self.schedules()
        findings = []
        for secret, label in self.secrets():
            schedule = schedules.get(self.resolver.secret_arn(secret.stack, secret.logical_id))
            if schedule is None:
                findings.append(_Finding(FAIL, f"{label}: {self._not_rotating(secret)}"))
            else:
                findings.append(judge(label, schedule))
        return _overall(findings, none="no Secrets Manager secret in this environment")

    def rotation_enabled(self) -> tuple[Status, list[str]]:
        return self._per_schedule(
            lambda label, schedule: _Finding(OK, f"{label}: {self._schedule_text(schedule)}")
        )

    def rotated_within(self) -> tuple[Status, list[str]]:
        def within(label: str, schedule: _Resource) -> _Finding:
            rules = self.resolver.resolve(
                schedule.stack, schedule.properties.get("RotationRules", {})
            )
            status, why = _rotation_interval(rules if isinstance(rules, dict) else {})
            return _Finding(status, f"{label}: {why} (RotationSchedule {schedule.where})")

        return self._per_schedule(within)

    def rotation_succeeds(self) -> tuple[Status, list[str]]:
        schedules = self.schedules()
        rotating = [
            label
            for secret, label in self.secrets()
            if self.resolver.secret_arn(secret.stack, secret.logical_id) in schedules
        ]
        if not rotating:
            return NOT_APPLICABLE, ["no secret of this environment has a RotationSchedule"]
        return UNDECIDED, [
            f"{label}: whether its scheduled rotation succeeds is known only once it runs"
            for label in rotating
        ]

    def unused_secrets(self) -> tuple[Status, list[str]]:
        labels = dict((secret.logical_id, label) for secret, label in self.secrets())
        if not labels:
            return NOT_APPLICABLE, ["no Secrets Manager secret in this environment"]
        unread = [secret.name for secret in self.environment.secrets if not secret.readers]
        evidence = [
            f"whether each of the {len(labels)} secrets is read at least once in "
            f"{UNUSED_FOR_DAYS} days (unusedForDays) is known only at run time"
        ]
        evidence += [f"`{name}`: nothing in the assembly can read it" for name in unread]
        return UNDECIDED, evidence

    def tagged(self) -> tuple[Status, list[str]]:
        findings = []
        for secret, label in self.secrets():
            tags = self.resolver.resolve(secret.stack, secret.properties.get("Tags", []))
            keys = sorted(
                str(tag.get("Key"))
                for tag in (tags if isinstance(tags, list) else [])
                if isinstance(tag, dict) and not str(tag.get("Key", "")).startswith("aws:")
            )
            if keys:
                findings.append(_Finding(OK, f"{label}: Tags {', '.join(keys)}"))
            else:
                findings.append(_Finding(FAIL, f"{label}: no Tags (aws: tags do not count)"))
        return _overall(findings, none="no Secrets Manager secret in this environment")

    # -- IAM policies on KMS -------------------------------------------------------------

    def managed_policies(self) -> Iterator[tuple[_Resource, str, Any]]:
        """Customer managed policies (not those used only as permissions boundaries)."""
        boundaries = {
            self.resolver.text(principal.stack, principal.properties["PermissionsBoundary"])
            for principal in self.of_type("AWS::IAM::Role", "AWS::IAM::User")
            if "PermissionsBoundary" in principal.properties
        }
        attached = {
            self.resolver.text(principal.stack, arn)
            for principal in self.of_type("AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group")
            for arn in principal.properties.get("ManagedPolicyArns", [])
        }
        for policy in self.of_type("AWS::IAM::ManagedPolicy"):
            arn = self.resolver.text(policy.stack, {"Ref": policy.logical_id})
            if arn in boundaries and arn not in attached and not _attaches(policy.properties):
                continue  # excludePermissionBoundaryPolicy: True
            name = policy.properties.get("ManagedPolicyName")
            label = f"ManagedPolicy {self.resolver.text(policy.stack, name) if name else ''}"
            yield (
                policy,
                f"{label.rstrip()} {policy.where}",
                policy.properties.get("PolicyDocument", {}),
            )

    def inline_policies(self) -> Iterator[tuple[_Resource, str, Any]]:
        """Inline policies: AWS::IAM::Policy (and its Role/User/Group kin) and the Policies of
        roles, users and groups."""
        standalone = (
            "AWS::IAM::Policy",
            "AWS::IAM::RolePolicy",
            "AWS::IAM::UserPolicy",
            "AWS::IAM::GroupPolicy",
        )
        for policy in self.of_type(*standalone):
            name = self.resolver.text(policy.stack, policy.properties.get("PolicyName", ""))
            yield (
                policy,
                f"{policy.resource['Type'].rsplit('::', 1)[-1]} {name} {policy.where}",
                policy.properties.get("PolicyDocument", {}),
            )
        for principal in self.of_type("AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group"):
            kind = principal.resource["Type"].rsplit("::", 1)[-1]
            for embedded in principal.properties.get("Policies", []):
                if not isinstance(embedded, dict):
                    continue
                name = self.resolver.text(principal.stack, embedded.get("PolicyName", ""))
                yield (
                    principal,
                    f"policy {name} of {kind} {principal.where}",
                    embedded.get("PolicyDocument", {}),
                )

    def blocked_kms_actions(
        self, policies: Iterator[tuple[_Resource, str, Any]], kind: str
    ) -> tuple[Status, list[str]]:
        findings = []
        seen = []
        for owner, label, document in policies:
            seen.append(label)
            resolved = self.resolver.resolve(owner.stack, document)
            for number, statement in enumerate(_statements(resolved), start=1):
                actions = [a for a in BLOCKED_KMS_ACTIONS if _allows_action(statement, a)]
                if statement.get("Effect") != "Allow" or not actions:
                    continue
                sid = statement.get("Sid") or f"statement {number}"
                element = "NotResource" if "NotResource" in statement else "Resource"
                resources = ", ".join(_texts(statement.get(element, [])))
                if _covers_every_key(statement):
                    findings.append(
                        _Finding(
                            FAIL,
                            f"{label}: {sid} allows {', '.join(actions)} on every key "
                            f"({element} {resources})",
                        )
                    )
                else:
                    findings.append(
                        _Finding(
                            OK, f"{label}: {sid} allows {', '.join(actions)} on {resources} only"
                        )
                    )
        if not seen:
            return NOT_APPLICABLE, [f"no {kind} policy in this environment's templates"]
        if not findings:
            return OK, [
                f"{label}: allows neither {' nor '.join(BLOCKED_KMS_ACTIONS)}" for label in seen
            ]
        return _overall(findings, none="")

    # -- KMS keys ------------------------------------------------------------------------

    def keys(self) -> Iterator[tuple[_Resource, str]]:
        for key in self.of_type("AWS::KMS::Key", "AWS::KMS::ReplicaKey"):
            kind = "ReplicaKey" if key.resource["Type"] == "AWS::KMS::ReplicaKey" else "Key"
            yield key, f"{kind} {key.where} in {key.stack.region}"

    def not_deleted(self) -> tuple[Status, list[str]]:
        findings = []
        for key, label in self.keys():
            deletion = key.resource.get("DeletionPolicy", "Delete")
            replace = key.resource.get("UpdateReplacePolicy", "Delete")
            window = key.properties.get("PendingWindowInDays", 30)
            if deletion in ("Retain", "RetainExceptOnCreate") and replace == "Retain":
                findings.append(
                    _Finding(
                        OK,
                        f"{label}: DeletionPolicy {deletion}, UpdateReplacePolicy {replace}: "
                        "deleting the stack or replacing the key never schedules its deletion "
                        f"(PendingWindowInDays {window} if someone does)",
                    )
                )
            else:
                findings.append(
                    _Finding(
                        FAIL,
                        f"{label}: DeletionPolicy {deletion}, UpdateReplacePolicy {replace}: "
                        "deleting the stack or replacing the key schedules its deletion "
                        f"(PendingWindowInDays {window})",
                    )
                )
        return _overall(findings, none="no KMS key in this environment")

    def key_rotation(self) -> tuple[Status, list[str]]:
        primaries = {
            self.resolver.text(key.stack, {"Fn::GetAtt": [key.logical_id, "Arn"]}): (key, label)
            for key, label in self.keys()
            if key.resource["Type"] == "AWS::KMS::Key"
        }
        findings = []
        for key, label in self.keys():
            if key.resource["Type"] == "AWS::KMS::ReplicaKey":
                primary_arn = self.resolver.text(key.stack, key.properties.get("PrimaryKeyArn"))
                primary = primaries.get(primary_arn)
                if primary is None:
                    findings.append(
                        _Finding(
                            UNDECIDED,
                            f"{label}: rotates with its primary key, which is not in this "
                            "environment's templates",
                        )
                    )
                    continue
                status, why = _key_rotation(primary[0])
                findings.append(_Finding(status, f"{label}: rotates with {primary[1]}: {why}"))
            else:
                status, why = _key_rotation(key)
                findings.append(_Finding(status, f"{label}: {why}"))
        return _overall(findings, none="no KMS key in this environment")

    def not_public(self) -> tuple[Status, list[str]]:
        findings = []
        for key, label in self.keys():
            if "KeyPolicy" not in key.properties:
                findings.append(
                    _Finding(OK, f"{label}: no KeyPolicy (KMS's default: its own account)")
                )
                continue
            document = self.resolver.resolve(key.stack, key.properties["KeyPolicy"])
            public = []
            accounts: set[str] = set()
            services: set[str] = set()
            for number, statement in enumerate(_statements(document), start=1):
                if statement.get("Effect") != "Allow":
                    continue
                principal = statement.get("Principal", {})
                aws = ["*"] if principal == "*" else []
                if isinstance(principal, dict):
                    aws += _texts(principal.get("AWS", []))
                    services.update(_texts(principal.get("Service", [])))
                wildcard = [p for p in aws if "*" in p or "?" in p]
                accounts.update(_account(p) for p in aws if p not in wildcard)
                if wildcard and not _restricted(statement.get("Condition")):
                    sid = statement.get("Sid") or f"statement {number}"
                    public.append(f"{sid} allows Principal {', '.join(wildcard)}")
            if public:
                findings.append(
                    _Finding(
                        FAIL,
                        f"{label}: KeyPolicy {'; '.join(public)} with no condition fixing the "
                        "account, organization, source or caller",
                    )
                )
            else:
                named = [f"accounts {', '.join(sorted(accounts))}"] if accounts else []
                named += [f"services {', '.join(sorted(services))}"] if services else []
                findings.append(
                    _Finding(
                        OK,
                        f"{label}: KeyPolicy names only fixed principals ({'; '.join(named)})"
                        if named
                        else f"{label}: KeyPolicy allows no principal",
                    )
                )
        return _overall(findings, none="no KMS key in this environment")

    # -- ECS -----------------------------------------------------------------------------

    def no_environment_secrets(self) -> tuple[Status, list[str]]:
        findings = []
        for task in self.of_type("AWS::ECS::TaskDefinition"):
            for container in task.properties.get("ContainerDefinitions", []):
                if not isinstance(container, dict):
                    continue
                name = self.resolver.text(task.stack, container.get("Name", ""))
                label = f"TaskDefinition {task.where}, container {name}"
                entries = [
                    entry for entry in container.get("Environment", []) if isinstance(entry, dict)
                ]
                named = [
                    self.resolver.text(task.stack, e.get("Name"))
                    for e in entries
                    if self.resolver.text(task.stack, e.get("Name")) in ECS_SECRET_KEYS
                ]
                referenced = [
                    self.resolver.text(task.stack, e.get("Name"))
                    for e in entries
                    if _SECRET_REFERENCE.search(str(e.get("Value", "")))
                ]
                through_secrets = len(container.get("Secrets", []))
                if named:
                    findings.append(
                        _Finding(FAIL, f"{label}: Environment names {', '.join(named)}")
                    )
                if referenced:
                    findings.append(
                        _Finding(
                            FAIL,
                            f"{label}: Environment {', '.join(referenced)} holds a secret's "
                            "value through a {{resolve:...}} dynamic reference (Security Hub "
                            "checks only the names; the task definition shows the plaintext)",
                        )
                    )
                if not named and not referenced:
                    listed = ", ".join(
                        self.resolver.text(task.stack, entry.get("Name")) for entry in entries
                    )
                    names = (
                        f"Environment {listed}, none of {', '.join(ECS_SECRET_KEYS)}"
                        if entries
                        else "no Environment entry"
                    )
                    findings.append(
                        _Finding(
                            OK, f"{label}: {names}; {through_secrets} values come through Secrets"
                        )
                    )
        return _overall(findings, none="no ECS task definition in this environment")


def _attaches(properties: Mapping[str, Any]) -> bool:
    return any(properties.get(key) for key in ("Roles", "Users", "Groups"))


def _key_rotation(key: _Resource) -> tuple[Status, str]:
    spec = key.properties.get("KeySpec", "SYMMETRIC_DEFAULT")
    origin = key.properties.get("Origin", "AWS_KMS")
    if spec != "SYMMETRIC_DEFAULT" or origin != "AWS_KMS":
        return NOT_APPLICABLE, f"KeySpec {spec}, Origin {origin}: KMS cannot rotate it"
    if key.properties.get("EnableKeyRotation") is True:
        period = key.properties.get("RotationPeriodInDays", 365)
        return OK, f"EnableKeyRotation true (RotationPeriodInDays {period})"
    value = key.properties.get("EnableKeyRotation")
    return FAIL, f"EnableKeyRotation {'absent' if value is None else str(value).lower()}"


def _rotation_interval(rules: Mapping[str, Any]) -> tuple[Status, str]:
    """Whether a schedule rotates at least every MAX_DAYS_SINCE_ROTATION days, and why."""
    limit = MAX_DAYS_SINCE_ROTATION
    if "AutomaticallyAfterDays" in rules:
        after = int(rules["AutomaticallyAfterDays"])
        return _within(after, f"AutomaticallyAfterDays {after}", limit)
    expression = str(rules.get("ScheduleExpression", ""))
    rate = re.fullmatch(r"rate\((\d+) (hour|hours|day|days)\)", expression)
    if rate:
        amount = int(rate.group(1))
        days = amount / 24 if rate.group(2).startswith("hour") else amount
        return _within(days, f"ScheduleExpression {expression}", limit)
    cron = re.fullmatch(r"cron\(([^()]+)\)", expression)
    if cron:
        gap = _cron_longest_gap(cron.group(1).split())
        if gap is None:
            return UNDECIDED, f"ScheduleExpression {expression}: not evaluated here"
        return _within(gap, f"ScheduleExpression {expression} (at most {gap} days apart)", limit)
    if not expression:
        return FAIL, "RotationRules has no schedule: it rotates on demand only"
    return UNDECIDED, f"ScheduleExpression {expression}: not evaluated here"


def _within(days: float, what: str, limit: int) -> tuple[Status, str]:
    if days <= limit:
        return OK, f"{what}: within {limit} days"
    return FAIL, f"{what}: more than {limit} days between rotations"


_MONTH_NAMES = {name.upper(): n for n, name in enumerate(calendar.month_abbr) if name}
_DAY_NAMES = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}


def _cron_values(field: str, low: int, high: int, names: Mapping[str, int]) -> set[int] | None:
    """The numbers a cron field (lists, ranges, steps, names, '*') selects; None if it uses
    anything else (L, W, #)."""
    selected: set[int] = set()
    for part in field.upper().split(","):
        for name, number in names.items():
            part = part.replace(name, str(number))
        match = re.fullmatch(r"(\*|\d+)(?:-(\d+))?(?:/(\d+))?", part)
        if not match:
            return None
        start = low if match.group(1) == "*" else int(match.group(1))
        end = high if match.group(1) == "*" else int(match.group(2) or start)
        if match.group(3) and not match.group(2) and match.group(1) != "*":
            end = high
        selected.update(range(start, end + 1, int(match.group(3) or 1)))
    return selected


def _cron_longest_gap(fields: Sequence[str]) -> int | None:
    """The most days between two consecutive days an AWS cron expression (min hour dom month dow
    year) selects, over four years from 2025; None for what this does not evaluate."""
    if len(fields) != 6 or fields[5] != "*":
        return None
    _, _, day_of_month, month, day_of_week, _ = fields
    months = _cron_values(month, 1, 12, _MONTH_NAMES)
    if months is None:
        return None
    by_month: Callable[[datetime.date], bool]
    if day_of_month != "?":
        if day_of_month.upper() == "L":

            def by_month(day: datetime.date) -> bool:
                return day.day == calendar.monthrange(day.year, day.month)[1]

        else:
            days = _cron_values(day_of_month.replace("?", "*"), 1, 31, {})
            if days is None:
                return None
            selected_days = days

            def by_month(day: datetime.date) -> bool:
                return day.day in selected_days

    else:
        weekdays = _cron_values(day_of_week, 1, 7, _DAY_NAMES)
        if weekdays is None:
            return None
        selected_weekdays = weekdays

        def by_month(day: datetime.date) -> bool:
            # AWS cron counts SUN as 1; Python's weekday() counts MON as 0.
            return (day.weekday() + 1) % 7 + 1 in selected_weekdays

    start = datetime.date(2025, 1, 1)
    chosen = [
        day
        for day in (start + datetime.timedelta(days=n) for n in range(4 * 366))
        if day.month in months and by_month(day)
    ]
    if len(chosen) < 2:
        return None
    return max((later - earlier).days for earlier, later in itertools.pairwise(chosen))


def _statements(document: Any) -> list[Mapping[str, Any]]:
    statement = document.get("Statement", []) if isinstance(document, dict) else []
    statements = [statement] if isinstance(statement, dict) else statement
    return [s for s in statements if isinstance(s, dict)] if isinstance(statements, list) else []


def _texts(value: Any) -> list[str]:
    return [str(item) for item in (value if isinstance(value, list) else [value])]


def _matches(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value.lower(), pattern.lower())


def _allows_action(statement: Mapping[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not any(_matches(p, action) for p in _texts(statement["NotAction"]))
    return any(_matches(p, action) for p in _texts(statement.get("Action", [])))


def _covers_every_key(statement: Mapping[str, Any]) -> bool:
    """Whether the Resource element alone lets the statement reach any key (conditions are not
    looked at, as KMS.1 and KMS.2 do not). An unresolved value is one unknown ARN, not all."""
    if "NotResource" in statement:
        return not any(
            _matches(p, _ANY_KEY) for p in _texts(statement["NotResource"]) if not is_unresolved(p)
        )
    return any(
        _matches(p, _ANY_KEY) for p in _texts(statement.get("Resource", [])) if not is_unresolved(p)
    )


def _restricted(condition: Any) -> bool:
    """Whether a condition fixes who may call: one of _RESTRICTING_KEYS compared with values
    that hold no wildcard and no policy variable."""
    if not isinstance(condition, dict):
        return False
    for operator, pairs in condition.items():
        # ForAllValues and ...IfExists hold when the key is absent: they fix nothing.
        if operator.lower().startswith("forallvalues:"):
            continue
        plain = operator.lower().split(":", 1)[-1]
        if plain not in _RESTRICTING_OPERATORS or not isinstance(pairs, dict):
            continue
        for key, values in pairs.items():
            texts = _texts(values)
            if (
                key.lower() in _RESTRICTING_KEYS
                and texts
                and not any("*" in v or "?" in v or "${" in v for v in texts)
            ):
                return True
    return False


def _account(principal: str) -> str:
    if principal.isdigit():
        return principal
    parts = principal.split(":")
    return parts[4] if len(parts) > 4 and parts[4] else principal
