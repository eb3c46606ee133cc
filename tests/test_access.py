"""The call-path proof on the shipped app, and mutations of it that the proof must catch."""

from __future__ import annotations

import copy
import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

from strongbox.access.proof import CallResult, Origin, Proof, prove
from strongbox.cli import main
from strongbox.report.assembly import Resolver, Stack, read_assembly
from tests.conftest import Synthesized

# Prod has every shape of call the others have, and replicas and a cross-account reader besides.
STAGE = "Strongbox-Prod"


def _stage(outdir: Path) -> tuple[Stack, ...]:
    return tuple(stack for stack in read_assembly(outdir) if stack.environment == STAGE)


@pytest.fixture(scope="module")
def stacks(synthesized: Synthesized) -> tuple[Stack, ...]:
    return _stage(synthesized.outdir)


@pytest.fixture(scope="module")
def proof(stacks: tuple[Stack, ...]) -> Proof:
    return prove(Resolver(stacks))


def test_strongbox_check_passes_on_the_shipped_app(
    synthesized: Synthesized, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["check", str(synthesized.outdir)])
    lines = capsys.readouterr().out.splitlines()
    assert status == 0, "\n".join(lines)
    assert lines[-2].startswith("Not seen by this proof: service control policies")
    counts = lines[-1]
    assert "0 denied, 0 unknown" in counts
    assert "0 undeclared readers; 0 stack-order problems" in counts
    runtimes, calls = counts.split(" runtimes, ")[0], counts.split(" calls: ")[0]
    assert int(runtimes) >= 60 and int(calls.split(", ")[-1]) >= 250


def test_every_runtime_of_the_issue_is_declared(proof: Proof) -> None:
    names = {result.runtime.split(": ", 1)[1] for result in proof.calls}
    expected = (
        "SecureString provider",
        "rotation function",
        "reading function",
        "batch instances",
        "ECS starting api (execution role)",
        "AWS hosted rotation PostgreSQLSingleUser",
        "EventBridge rule",
        "CloudWatch alarm",
        "CloudWatch Logs encrypting",
        "CloudFormation asking for",
        "SecureString provider answering CloudFormation",
        "ECS fetching api's image layers",
        "reader in account 444444444444",
    )
    missing = [name for name in expected if not any(n.startswith(name) for n in names)]
    assert not missing, f"no declared calls for {missing}; declared: {sorted(names)}"


def test_the_proof_sees_every_layer(proof: Proof) -> None:
    layers = {layer.name for result in proof.calls for layer in result.layers if layer.origins}
    assert layers == {"identity", "resource", "key", "endpoint policy"}


def _without(stacks: Sequence[Stack], origins: Iterable[Origin]) -> tuple[Stack, ...]:
    """The stacks with the statements at `origins` removed (a Lambda permission: the resource)."""
    by_template: dict[Path, list[Origin]] = defaultdict(list)
    for origin in origins:
        by_template[origin.template].append(origin)
    changed = []
    for stack in stacks:
        if stack.template_path not in by_template:
            changed.append(stack)
            continue
        template: dict[str, Any] = copy.deepcopy(dict(stack.template))
        # Highest index first, so removing one does not move the next.
        for origin in sorted(by_template[stack.template_path], key=_order, reverse=True):
            resource = template["Resources"][origin.logical_id]
            if origin.pointer == ("Properties",):
                del template["Resources"][origin.logical_id]
                continue
            *path, last = origin.pointer
            parent = resource
            for step in path:
                parent = parent[step]
            if isinstance(last, int):
                del parent[last]
            else:
                parent[last] = []
        changed.append(dataclasses.replace(stack, template=template))
    return tuple(changed)


def _order(origin: Origin) -> tuple[Any, ...]:
    return (origin.logical_id, tuple(str(step).zfill(6) for step in origin.pointer))


def _key(result: CallResult) -> tuple[str, str, str, str, str | None]:
    return (result.runtime, result.action, result.resource, result.region, result.endpoint)


def test_removing_the_statements_that_allow_a_call_fails_that_call(
    stacks: tuple[Stack, ...], proof: Proof
) -> None:
    """For every declared call and every layer that allows it (identity, resource, key or
    endpoint policy), remove that layer's allowing statements and the call must fail, named.
    Calls allowed by the same statements share one mutation."""
    groups: dict[tuple[str, frozenset[Origin]], list[CallResult]] = defaultdict(list)
    for result in proof.calls:
        for layer in result.layers:
            if layer.verdict == "allow" and layer.origins:
                groups[(layer.name, frozenset(layer.origins))].append(result)
    assert len(groups) >= 20
    escaped = []
    for (layer, origins), results in groups.items():
        mutated = prove(Resolver(_without(stacks, origins)))
        failed = {_key(r): r for r in mutated.calls if r.verdict != "allowed"}
        escaped += [
            f"without {layer} statements {sorted(map(str, origins))}: {result.line()}"
            for result in results
            if _key(result) not in failed
        ]
        assert not mutated.ok and mutated.failures()
    assert not escaped, "\n".join(escaped[:10])


def test_a_read_grant_to_an_undeclared_principal_fails_the_negative_check(
    stacks: tuple[Stack, ...], proof: Proof
) -> None:
    """For every secret and SecureString, give a role that declares no read of it a grant to
    read it: the proof must name that role and that value."""
    roles = [
        (stack, logical_id)
        for stack in stacks
        for logical_id, _ in stack.of_type("AWS::IAM::Role")
        if "FlowLog" in logical_id or "RestartOnRotationEvents" in logical_id
    ]
    assert roles, "a role that reads nothing"
    resolver = Resolver(stacks)
    targets = [
        (resolver.secret_arn(stack, logical_id), "secretsmanager:GetSecretValue")
        for stack in stacks
        for logical_id, _ in stack.of_type("AWS::SecretsManager::Secret")
    ] + [
        (
            f"arn:aws:ssm:eu-west-1:333333333333:parameter{properties['ParameterName']}",
            "ssm:GetParameter",
        )
        for stack in stacks
        for _, properties in stack.of_type("Custom::SecureStringParameter")
    ]
    assert len(targets) >= 5 and targets[-1][1] == "ssm:GetParameter"
    assert not proof.undeclared_readers
    for arn, action in targets:
        stack, role = roles[len(arn) % len(roles)]
        role_arn = resolver.text(stack, {"Fn::GetAtt": [role, "Arn"]})
        mutated = _with_grant(stacks, stack, role, action, arn)
        found = prove(Resolver(mutated)).undeclared_readers
        assert [(r.principal, r.target) for r in found] == [(role_arn, arn)], found


def _with_grant(
    stacks: Sequence[Stack], owner: Stack, role: str, action: str, arn: str
) -> tuple[Stack, ...]:
    template: dict[str, Any] = copy.deepcopy(dict(owner.template))
    properties = template["Resources"][role]["Properties"]
    properties.setdefault("Policies", []).append(
        {
            "PolicyName": "Mutation",
            "PolicyDocument": {
                "Statement": [
                    {"Effect": "Allow", "Action": action, "Resource": arn},
                    {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"},
                ]
            },
        }
    )
    mutated = dataclasses.replace(owner, template=template)
    return tuple(mutated if stack is owner else stack for stack in stacks)
