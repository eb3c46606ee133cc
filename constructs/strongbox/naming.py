"""Names derived from configuration: construct ids and policy statement ids."""

from __future__ import annotations

import re
import weakref
from typing import NamedTuple

import aws_cdk as cdk

from constructs import IConstruct
from strongbox.errors import StrongboxError


class StackFacts(NamedTuple):
    """What a construct of a stack keeps asking of it: each read is a round trip into jsii."""

    account: str
    region: str
    partition: str
    root: IConstruct


def stack_facts(stack: cdk.Stack) -> StackFacts:
    """`stack`'s account, region and partition (tokens when environment-agnostic) and the app's
    root, read from jsii once per stack object. None of them changes after the stack exists."""
    facts = _FACTS.get(stack)
    if facts is None:
        facts = StackFacts(stack.account, stack.region, stack.partition, stack.node.root)
        _FACTS[stack] = facts
    return facts


_FACTS: weakref.WeakKeyDictionary[cdk.Stack, StackFacts] = weakref.WeakKeyDictionary()


def pascal_case(text: str) -> str:
    """`db-credentials` -> `DbCredentials`, `ecr.dkr` -> `EcrDkr`: alphanumeric runs, capitalised.

    Construct ids made this way become logical ids, so changing this function replaces
    resources.
    """
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", text) if part)


def claim_name(
    scope: IConstruct,
    kind: str,
    name: str,
    *,
    account: str,
    region: str,
    root: IConstruct | None = None,
) -> None:
    """Record that `scope` creates the `kind` named `name` in `account` and `region`; a second
    construct of the app claiming the same one is refused, naming both. Two of them would
    synthesize cleanly and fail at deploy (the second create finds the name taken). `root`:
    the app's root construct, if the caller has it (`stack_facts`)."""
    if root is None:  # the app's root, when the caller has not read it already
        root = stack_facts(cdk.Stack.of(scope)).root
    path = scope.node.path
    claimed: dict[tuple[str, str, str, str], str] | None = getattr(root, _CLAIMS, None)
    if claimed is None:
        claimed = {}
        setattr(root, _CLAIMS, claimed)
    owner = claimed.setdefault((kind, account, region, name), path)
    if owner != path:
        raise StrongboxError(
            scope,
            f"{kind} {name!r} is already created by {owner} in {account}/{region}; "
            "names must be unique per account and region",
        )


# An attribute of the app's root construct: the claims live and die with the app.
_CLAIMS = "_strongbox_claimed_names"
