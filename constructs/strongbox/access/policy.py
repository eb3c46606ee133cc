"""An offline evaluator for resolved IAM policy statements, in three-valued logic."""

from __future__ import annotations

import enum
import json
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Literal, TypeAlias

from strongbox.assembly.resolver import UNRESOLVED_MARKER

POLICY_VARIABLE_MARKER = "${"

# The few AWS managed policies whose effect on reading secrets is well known and stable; any
# other AWS managed policy is listed on the role as not evaluated (its text is not in the assembly).
KNOWN_AWS_MANAGED_POLICIES: Mapping[str, tuple[Mapping[str, Any], ...]] = {
    "arn:aws:iam::aws:policy/AdministratorAccess": (
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
    ),
    "arn:aws:iam::aws:policy/PowerUserAccess": (
        {
            "Effect": "Allow",
            "NotAction": ["iam:*", "organizations:*", "account:*"],
            "Resource": "*",
        },
    ),
    "arn:aws:iam::aws:policy/SecretsManagerReadWrite": (
        {"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"},
    ),
    # What CDK's own custom-resource providers attach: logs (and network interfaces) only.
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": (
        {"Effect": "Allow", "Action": "logs:*", "Resource": "*"},
    ),
    "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole": (
        {"Effect": "Allow", "Action": ["logs:*", "ec2:*NetworkInterface*"], "Resource": "*"},
    ),
}


# True, False, or None when the templates do not say (an unknown key, an unsupported operator).
Verdict: TypeAlias = bool | None


class PrincipalMatch(enum.Enum):
    """How a statement's Principal names the caller, weakest first."""

    NONE = "none"
    ANYONE = "anyone"
    ACCOUNT = "account"
    PRINCIPAL = "principal"


_STRENGTH = {match: rank for rank, match in enumerate(PrincipalMatch)}
# The account part is any text: environment-agnostic stacks render it as a placeholder.
_ACCOUNT_ROOT = re.compile(r"arn:aws[a-z-]*:iam::([^:]+):root")


@dataclass(frozen=True)
class Request:
    caller_arn: str
    caller_account: str
    action: str
    resource: str
    # Condition keys known for this request (names case-insensitive): None means known to be
    # absent; a key missing from the mapping is unknown.
    context: Mapping[str, str | Sequence[str] | None]


@dataclass(frozen=True)
class Outcome:
    # "deny": an unconditional Deny applies; "allow": some Allow applies, perhaps conditionally.
    effect: Literal["allow", "deny", "none"]
    allow_conditions: tuple[str, ...]  # one per conditional Allow, empty if one is unconditional
    deny_conditions: tuple[str, ...]  # "denied when ..." for each Deny the context cannot decide
    principal_match: PrincipalMatch  # strongest among the deciding Allows; NONE otherwise
    sids: tuple[str, ...]  # the deciding statements' Sid, or "#<index>" (from 0) without one
    # The deciding statements' positions in the list evaluated (where `sids` came from).
    indices: tuple[int, ...] = field(default=(), compare=False)


def principal_match(principal: object, caller_arn: str, caller_account: str) -> PrincipalMatch:
    """The strongest way `principal` (a statement's Principal value) names the IAM caller."""
    return _strongest(_principal_matches(principal, caller_arn, caller_account))


def evaluate(
    statements: Sequence[Mapping[str, object]] | Mapping[str, object],
    request: Request,
    *,
    resource_based: bool,
) -> Outcome:
    """Which of `statements` allow or deny `request`, following AWS's evaluation logic: an
    explicit deny wins, then any allow, else the implicit deny."""
    listed = [statements] if isinstance(statements, Mapping) else list(statements)
    known = _known_context(request.context)
    applicable = [
        found
        for index, statement in enumerate(listed)
        if isinstance(statement, Mapping)
        and (found := _applicable(index, statement, request, known, resource_based)) is not None
    ]
    denies = [found for found in applicable if found.effect == "Deny"]
    deny_conditions = tuple(
        f"denied when {' and '.join(found.unknown)}" for found in denies if found.unknown
    )
    decisive_denies = [found for found in denies if not found.unknown]
    if decisive_denies:
        sids = tuple(found.sid for found in decisive_denies)
        indices = tuple(found.index for found in decisive_denies)
        return Outcome("deny", (), deny_conditions, PrincipalMatch.NONE, sids, indices)
    allows = [found for found in applicable if found.effect == "Allow"]
    unconditional = [found for found in allows if not found.unknown]
    # An unconditional allow makes conditional ones irrelevant, so it alone decides; the
    # principal match and sids then describe the same statements as the conditions.
    deciding = unconditional or allows
    if not deciding:
        return Outcome("none", (), deny_conditions, PrincipalMatch.NONE, ())
    allow_conditions = () if unconditional else tuple(" and ".join(a.unknown) for a in allows)
    return Outcome(
        "allow",
        allow_conditions,
        deny_conditions,
        _strongest(found.principal for found in deciding),
        tuple(found.sid for found in deciding),
        tuple(found.index for found in deciding),
    )


@dataclass(frozen=True)
class _Applicable:
    effect: str
    sid: str
    unknown: tuple[str, ...]  # rendered conditions the context cannot decide
    principal: PrincipalMatch
    index: int


@dataclass(frozen=True)
class _KnownContext:
    present: Mapping[str, tuple[str, ...]]  # lower-cased key -> values
    absent: frozenset[str]


@dataclass(frozen=True)
class _Operator:
    base: str  # lower-cased and without prefix, suffix or negation: "stringequals"
    negated: bool
    set_operator: str  # "", "forallvalues" or "foranyvalue"
    if_exists: bool


def _applicable(
    index: int,
    statement: Mapping[str, object],
    request: Request,
    known: _KnownContext,
    resource_based: bool,
) -> _Applicable | None:
    effect = statement.get("Effect")
    if effect not in ("Allow", "Deny"):
        return None
    # An element the templates do not determine may match: the statement then applies only
    # conditionally (unknown), never silently not at all.
    elements: list[str] = []
    action = _element_verdict(statement, "Action", request.action, ignore_case=True, absent=False)
    if action is False:
        return None
    # A resource policy's statement without Resource is about the resource it is attached to.
    resource = _element_verdict(
        statement, "Resource", request.resource, ignore_case=False, absent=resource_based
    )
    if resource is False:
        return None
    for name, verdict in (("Action", action), ("Resource", resource)):
        if verdict is None:
            elements.append(f"{name} {_element_text(statement, name)} may match")
    match = _statement_principal(statement, request) if resource_based else PrincipalMatch.NONE
    if resource_based and match is PrincipalMatch.NONE:
        if not _names_undetermined_principal(statement):
            return None
        match = PrincipalMatch.PRINCIPAL
        named = statement.get("Principal", statement.get("NotPrincipal"))
        names = strings(named.get("AWS")) if isinstance(named, Mapping) else ()
        elements.append(f"Principal {' | '.join(names)} may name the caller")
    unknown = _unknown_conditions(statement.get("Condition"), known)
    if unknown is None:
        return None
    unknown = (*elements, *unknown)
    sid = statement.get("Sid")
    return _Applicable(
        str(effect), sid if isinstance(sid, str) and sid else f"#{index}", unknown, match, index
    )


def _element_matches(
    statement: Mapping[str, object], name: str, value: str, *, ignore_case: bool, absent: bool
) -> bool:
    """Whether the element can match `value` (an undetermined element can)."""
    verdict = _element_verdict(statement, name, value, ignore_case=ignore_case, absent=absent)
    return verdict is not False


def _element_verdict(
    statement: Mapping[str, object], name: str, value: str, *, ignore_case: bool, absent: bool
) -> Verdict:
    for key, positive in ((name, True), (f"Not{name}", False)):
        if key in statement:
            patterns = strings(statement[key])
            if UNRESOLVED_MARKER in value:
                found = _any(_glob_verdict(p, value, ignore_case) for p in patterns)
            else:
                # One regular expression for all the fixed patterns (a role may list hundreds
                # of secret ARNs); only request-dependent ones are looked at one by one.
                fixed, varying = _compiled(patterns, ignore_case)
                found = (
                    True
                    if fixed is not None and fixed.fullmatch(value)
                    else _any(_glob_verdict(p, value, ignore_case) for p in varying)
                )
            return found if positive else _not(found)
    return absent


@lru_cache(maxsize=4096)
def _compiled(
    patterns: tuple[str, ...], ignore_case: bool
) -> tuple[re.Pattern[str] | None, tuple[str, ...]]:
    fixed = [p for p in patterns if not _depends_on_request(p)]
    varying = tuple(p for p in patterns if _depends_on_request(p))
    if not fixed:
        return None, varying
    body = "|".join(f"(?:{_glob(p, ignore_case).pattern})" for p in fixed)
    return re.compile(body, (re.IGNORECASE | re.DOTALL) if ignore_case else re.DOTALL), varying


def _element_text(statement: Mapping[str, object], name: str) -> str:
    for key in (name, f"Not{name}"):
        if key in statement:
            return f"{'not ' if key != name else ''}{' | '.join(strings(statement[key]))}"
    return ""


def _names_undetermined_principal(statement: Mapping[str, object]) -> bool:
    principal = statement.get("Principal", statement.get("NotPrincipal"))
    if not isinstance(principal, Mapping):
        return False
    return any(UNRESOLVED_MARKER in name for name in strings(principal.get("AWS")))


def _statement_principal(statement: Mapping[str, object], request: Request) -> PrincipalMatch:
    if "Principal" in statement:
        return principal_match(statement["Principal"], request.caller_arn, request.caller_account)
    if "NotPrincipal" in statement:
        # AWS checks the caller's account, then its role (then the session) against NotPrincipal,
        # so only naming both exempts the caller; reference_policies_elements_notprincipal.html.
        named = _principal_matches(
            statement["NotPrincipal"], request.caller_arn, request.caller_account
        )
        both = {PrincipalMatch.ACCOUNT, PrincipalMatch.PRINCIPAL}
        exempt = PrincipalMatch.ANYONE in named or both <= named
        return PrincipalMatch.NONE if exempt else PrincipalMatch.ANYONE
    return PrincipalMatch.NONE


def _principal_matches(
    principal: object, caller_arn: str, caller_account: str
) -> set[PrincipalMatch]:
    if principal == "*":
        return {PrincipalMatch.ANYONE}
    if not isinstance(principal, Mapping):
        return set()
    # Service, Federated and CanonicalUser principals never name an IAM role or user; a
    # service principal names the service itself when it is the caller (caller_arn
    # "events.amazonaws.com").
    names = strings(principal.get("AWS"))
    found = {_aws_principal_match(name, caller_arn, caller_account) for name in names}
    if caller_arn in strings(principal.get("Service")):
        found.add(PrincipalMatch.PRINCIPAL)
    return found


def _aws_principal_match(name: str, caller_arn: str, caller_account: str) -> PrincipalMatch:
    if name == "*":
        return PrincipalMatch.ANYONE
    if UNRESOLVED_MARKER in name:
        return PrincipalMatch.NONE
    if name == caller_arn:
        return PrincipalMatch.PRINCIPAL
    root = _ACCOUNT_ROOT.fullmatch(name)
    if name == caller_account or (root is not None and root.group(1) == caller_account):
        return PrincipalMatch.ACCOUNT
    return PrincipalMatch.NONE


def _strongest(matches: Iterable[PrincipalMatch]) -> PrincipalMatch:
    return max(matches, key=_STRENGTH.__getitem__, default=PrincipalMatch.NONE)


def _glob_matches(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """Whether `pattern` matches `value` for certain (an undetermined match is not certain)."""
    return _glob_verdict(pattern, value, ignore_case) is True


def _glob_verdict(pattern: str, value: str, ignore_case: bool = False) -> Verdict:
    if pattern == "*":
        return True
    # An unresolved value, a policy variable (filled in per request) or an unresolved pattern
    # (fixed per deployment) cannot be matched as a glob offline: only equal text is certain.
    if UNRESOLVED_MARKER in value or _depends_on_request(pattern):
        return True if pattern == value else None
    return _glob(pattern, ignore_case).fullmatch(value) is not None


@lru_cache(maxsize=1024)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    # IAM wildcards are only * and ?; fnmatch would also read "[...]" as a character class.
    body = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
    )
    return re.compile(body, (re.IGNORECASE | re.DOTALL) if ignore_case else re.DOTALL)


def _known_context(context: Mapping[str, str | Sequence[str] | None]) -> _KnownContext:
    present: dict[str, tuple[str, ...]] = {}
    absent: set[str] = set()
    for key, value in context.items():
        values = strings(value)
        # AWS treats an empty multivalued key like a missing one.
        if not values:
            absent.add(key.lower())
        elif not any(UNRESOLVED_MARKER in text for text in values):
            present[key.lower()] = values
    return _KnownContext(present, frozenset(absent))


def _unknown_conditions(block: object, known: _KnownContext) -> tuple[str, ...] | None:
    """None if some condition is false, else the rendered conditions that stay unknown."""
    if block is None:
        return ()
    if not isinstance(block, Mapping):
        return (f"unreadable Condition {_text(block)}",)
    unknown: list[str] = []
    for written, keys in block.items():
        if not isinstance(keys, Mapping):
            unknown.append(f"{written} {_text(keys)}")
            continue
        parsed = _parse_operator(str(written))
        for key, value in keys.items():
            values = strings(value)
            verdict = _condition_verdict(parsed, str(key).lower(), values, known)
            if verdict is False:
                return None
            if verdict is None:
                unknown.append(f"{written} {key} = {' | '.join(values)}")
    return tuple(unknown)


def _parse_operator(written: str) -> _Operator:
    rest, set_operator = written, ""
    prefix, colon, tail = written.partition(":")
    if colon and prefix.lower() in ("forallvalues", "foranyvalue"):
        rest, set_operator = tail, prefix.lower()
    if_exists = rest.lower().endswith("ifexists") and rest.lower() != "ifexists"
    base = rest[: -len("IfExists")].lower() if if_exists else rest.lower()
    negated = base in _POSITIVE_OF_NEGATED
    return _Operator(_POSITIVE_OF_NEGATED.get(base, base), negated, set_operator, if_exists)


def _condition_verdict(
    parsed: _Operator, key: str, policy_values: tuple[str, ...], known: _KnownContext
) -> Verdict:
    if parsed.base == "null":
        if key not in known.absent and key not in known.present:
            return None
        is_null = key in known.absent
        return _any({"true": is_null, "false": not is_null}.get(v.lower()) for v in policy_values)
    compare = _COMPARATORS.get(parsed.base)
    if compare is None:
        return None
    if key in known.absent:
        # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
        # and the negated-operator notes in reference_policies_elements_condition_operators.html.
        if parsed.if_exists or parsed.set_operator == "forallvalues":
            return True
        if parsed.set_operator == "foranyvalue":
            return False
        return parsed.negated
    if key not in known.present:
        return None

    def matches_policy(actual: str) -> Verdict:
        hit = _any(None if _depends_on_request(p) else compare(actual, p) for p in policy_values)
        return _not(hit) if parsed.negated else hit

    per_value = (matches_policy(actual) for actual in known.present[key])
    return _all(per_value) if parsed.set_operator == "forallvalues" else _any(per_value)


def _depends_on_request(policy_value: str) -> bool:
    # A policy variable is filled in per request, an unresolved value per deployment.
    return POLICY_VARIABLE_MARKER in policy_value or UNRESOLVED_MARKER in policy_value


def _arn_like(actual: str, pattern: str) -> bool:
    # AWS matches the six colon-delimited ARN fields separately: a * never spans a colon.
    pattern_fields, actual_fields = pattern.split(":", 5), actual.split(":", 5)
    if len(pattern_fields) != 6:
        return pattern == "*"
    return len(actual_fields) == 6 and all(
        _glob(field, False).fullmatch(part) is not None
        for field, part in zip(pattern_fields, actual_fields, strict=True)
    )


def _numeric(test: Callable[[Decimal, Decimal], bool]) -> Callable[[str, str], Verdict]:
    def compare(actual: str, expected: str) -> Verdict:
        try:
            return test(Decimal(actual), Decimal(expected))
        except InvalidOperation:
            return False

    return compare


_PER_REQUEST_OPERATORS = (
    *("dateequals", "datelessthan", "datelessthanequals"),
    *("dategreaterthan", "dategreaterthanequals", "ipaddress"),
)
_COMPARATORS: dict[str, Callable[[str, str], Verdict]] = {
    "stringequals": operator.eq,
    "stringequalsignorecase": lambda actual, expected: actual.casefold() == expected.casefold(),
    "stringlike": lambda actual, pattern: _glob(pattern, False).fullmatch(actual) is not None,
    "arnequals": _arn_like,
    "arnlike": _arn_like,
    "bool": lambda actual, expected: actual.lower() == expected.lower(),
    "numericequals": _numeric(operator.eq),
    "numericlessthan": _numeric(operator.lt),
    "numericlessthanequals": _numeric(operator.le),
    "numericgreaterthan": _numeric(operator.gt),
    "numericgreaterthanequals": _numeric(operator.ge),
    # Dates and addresses depend on the moment and the network of each request.
    **dict.fromkeys(_PER_REQUEST_OPERATORS, lambda actual, expected: None),
}
_POSITIVE_OF_NEGATED = {
    "stringnotequals": "stringequals",
    "stringnotequalsignorecase": "stringequalsignorecase",
    "stringnotlike": "stringlike",
    "arnnotequals": "arnequals",
    "arnnotlike": "arnlike",
    "numericnotequals": "numericequals",
    "datenotequals": "dateequals",
    "notipaddress": "ipaddress",
}


def _any(verdicts: Iterable[Verdict]) -> Verdict:
    undecided = False
    for verdict in verdicts:
        if verdict is True:
            return True
        undecided = undecided or verdict is None
    return None if undecided else False


def _all(verdicts: Iterable[Verdict]) -> Verdict:
    return _not(_any(_not(verdict) for verdict in verdicts))


def _not(verdict: Verdict) -> Verdict:
    return None if verdict is None else not verdict


def strings(value: object) -> tuple[str, ...]:
    """A policy element's value as a tuple of texts (a tuple is taken to be one already)."""
    if value is None:
        return ()
    if type(value) is tuple:
        return value
    if isinstance(value, list):
        return tuple(_text(item) for item in value)
    return (_text(value),)


def _text(value: object) -> str:
    """JSON's spelling of a scalar, as IAM compares it: True -> "true", 5 -> "5"."""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def mentions_action(statement: Mapping[str, object], action: str) -> bool:
    """Whether the statement's Action or NotAction can match `action` (else it never applies)."""
    return _element_matches(statement, "Action", action, ignore_case=True, absent=False)


def allows_on(statement: Mapping[str, object], resource: str) -> bool:
    """Whether `statement` is an Allow whose Resource or NotResource can match `resource`."""
    return statement.get("Effect") == "Allow" and _element_matches(
        statement, "Resource", resource, ignore_case=False, absent=False
    )
