"""The call-path proof on the shipped app, and mutations of it that the proof must catch."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

from strongbox.access.proof import CallResult, Origin, Proof, prove
from strongbox.assembly.resolver import Resolver, Stack, read_assembly
from strongbox.cli import main
from tests.conftest import ROOT, Synthesized, cdk_json_context

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
    assert layers == {"identity policy", "resource policy", "key policy", "endpoint policy"}


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
    for (name, origins), results in groups.items():
        mutated = prove(Resolver(_without(stacks, origins)))
        failed = {_key(r): r for r in mutated.calls if r.verdict != "allowed"}
        escaped += [
            f"without {name} statements {sorted(map(str, origins))}: {result.line()}"
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


def test_synth_fails_on_a_denied_call_naming_it_and_writes_nothing(tmp_path: Path) -> None:
    """Without an ssm endpoint the isolated subnets cannot reach Parameter Store: `cdk synth`
    (app.py, as the CLI runs it) exits 1 with one line per refused call and leaves no
    assembly behind. (In a VPC Strongbox creates, the config refuses the missing endpoint
    first; in an existing VPC, as here, the proof is what finds it.)"""
    context = cdk_json_context()
    dev = context["strongbox"]["environments"]["dev"]
    zones = range(len(dev["availability_zones"]))
    dev["network"] = {
        "create_vpc": False,
        "vpc_id": "vpc-0123456789abcdef0",
        "subnet_ids": [f"subnet-0123456789abcdef{index}" for index in zones],
        "route_table_ids": [f"rtb-0123456789abcdef{index}" for index in zones],
        "endpoints": [e for e in dev["network"]["endpoints"] if e != "ssm"],
    }
    context["env"] = "dev"
    outdir = tmp_path / "cdk.out"
    outdir.mkdir()
    (outdir / "keep.txt").write_text("not the synth's")
    done = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env={**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(outdir)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert (
        "strongbox: call path: Strongbox-Dev/Parameters: SecureString provider: "
        "ssm:PutParameter on arn:aws:ssm:eu-west-1:111111111111:parameter/payments/dev/session/"
        "cookie-salt in eu-west-1 through the ssm endpoint: denied: the network denies (no ssm "
        "endpoint in eu-west-1, and the subnets have no other route)"
    ) in lines
    assert lines[-1].startswith("strongbox: ") and " 0 unknown" in lines[-1]
    assert sorted(path.name for path in outdir.iterdir()) == ["keep.txt"]


def test_strongbox_check_fails_on_a_broken_assembly(
    synthesized: Synthesized, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The SSM endpoint policy as it was before issue 18 (no AddTagsToResource or
    ListTagsForResource): the provider's tagging and ownership calls are refused by it."""
    copy_of = tmp_path / "cdk.out"
    shutil.copytree(synthesized.outdir, copy_of, ignore=shutil.ignore_patterns("asset.*"))
    (network,) = copy_of.glob("assembly-Strongbox-Prod/*Network*.template.json")
    template = json.loads(network.read_text())
    (endpoint,) = [
        resource
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::EC2::VPCEndpoint"
        and str(resource["Properties"]["ServiceName"]).endswith(".ssm")
    ]
    endpoint["Properties"]["PolicyDocument"]["Statement"][0]["Action"] = [
        "ssm:DeleteParameter",
        "ssm:GetParameter",
        "ssm:GetParameters",
        "ssm:GetParametersByPath",
        "ssm:PutParameter",
    ]
    network.write_text(json.dumps(template))
    assert main(["check", str(copy_of)]) == 1
    lines = capsys.readouterr().out.splitlines()
    refused = [line for line in lines if "denied" in line and "SecureString provider" in line]
    assert {line.split("SecureString provider: ")[1].split(" on ")[0] for line in refused} == {
        "ssm:AddTagsToResource",
        "ssm:ListTagsForResource",
    }
    assert all("the endpoint policy has no statement for it" in line for line in refused)
    assert "2 denied, 0 unknown" in lines[-1]


def _mutated(stacks: Sequence[Stack], name: str, change: Any) -> tuple[Stack, ...]:
    """The stacks with `change(template)` applied to a copy of the template of stack `name`."""
    changed = []
    for stack in stacks:
        if stack.display_name == f"{STAGE}/{name}":
            template: dict[str, Any] = copy.deepcopy(dict(stack.template))
            change(template)
            stack = dataclasses.replace(stack, template=template)
        changed.append(stack)
    return tuple(changed)


def _of_type(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == kind]


def _flow_log_role_grant(*statements: dict[str, Any]) -> Any:
    def change(template: dict[str, Any]) -> None:
        role = template["Resources"]["FlowLogRoleCB27E7DF"]["Properties"]
        role["Policies"] = [{"PolicyName": "Mutation", "PolicyDocument": {"Statement": statements}}]

    return change


DECRYPT_ANY = {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}
SALT = "arn:aws:ssm:eu-west-1:333333333333:parameter/payments/prod/session/cookie-salt"
STRIPE = "arn:aws:secretsmanager:eu-west-1:333333333333:secret:prod/payments/stripe-api-key-*"


@pytest.mark.parametrize(
    ("stack_name", "change", "target"),
    [
        pytest.param(
            "Network",
            _flow_log_role_grant(
                {
                    "Effect": "Allow",
                    "Action": "ssm:GetParametersByPath",
                    "Resource": "arn:aws:ssm:eu-west-1:333333333333:parameter/payments/prod",
                },
                DECRYPT_ANY,
            ),
            SALT,
            id="a-path-read-of-a-securestring",
        ),
        pytest.param(
            "Network",
            _flow_log_role_grant(
                {"Effect": "Allow", "Action": "ssm:GetParameterHistory", "Resource": SALT},
                DECRYPT_ANY,
            ),
            SALT,
            id="a-securestring-history",
        ),
        pytest.param(
            "Network",
            _flow_log_role_grant(
                {
                    "Effect": "Allow",
                    "Action": "secretsmanager:GetSecretValue",
                    "Resource": STRIPE.replace("eu-west-1", "eu-central-1"),
                },
                DECRYPT_ANY,
            ),
            STRIPE.replace("eu-west-1", "eu-central-1").replace("-*", "-??????"),
            id="a-replica",
        ),
        pytest.param(
            "Network",
            _flow_log_role_grant(
                {
                    "Effect": "Allow",
                    "Action": "secretsmanager:GetSecretValue",
                    "Resource": STRIPE,
                },
                {
                    **DECRYPT_ANY,
                    "Condition": {"StringLike": {"kms:EncryptionContext:SecretVersionId": "*"}},
                },
            ),
            STRIPE.replace("-*", "-??????"),
            id="decrypt-on-a-context-key-secrets-manager-always-sends",
        ),
    ],
)
def test_the_negative_check_sees_every_way_to_read(
    stacks: tuple[Stack, ...], stack_name: str, change: Any, target: str
) -> None:
    """Review findings: reads by path, by history, of a replica, and a decryption conditioned on
    an encryption-context key the declaration does not pin are all reads."""
    found = prove(Resolver(_mutated(stacks, stack_name, change))).undeclared_readers
    assert [r.target for r in found] == [target], found
    assert "FlowLogRole" in found[0].principal


def test_a_principal_outside_the_assembly_granted_directly_is_a_reader(
    stacks: tuple[Stack, ...],
) -> None:
    breakglass = "arn:aws:iam::333333333333:role/ops-breakglass"

    def secret_policy(template: dict[str, Any]) -> None:
        (policy,) = [
            r["Properties"]["ResourcePolicy"]
            for r in _of_type(template, "AWS::SecretsManager::ResourcePolicy")
            if "StripeApiKey" in json.dumps(r["Properties"]["SecretId"])
        ]
        policy["Statement"].append(
            {
                "Effect": "Allow",
                "Principal": {"AWS": breakglass},
                "Action": "secretsmanager:GetSecretValue",
                "Resource": "*",
            }
        )

    def key_policy(template: dict[str, Any]) -> None:
        (key,) = _of_type(template, "AWS::KMS::Key")
        key["Properties"]["KeyPolicy"]["Statement"].append(
            {
                "Effect": "Allow",
                "Principal": {"AWS": breakglass},
                "Action": "kms:Decrypt",
                "Resource": "*",
            }
        )

    mutated = _mutated(_mutated(stacks, "Secrets", secret_policy), "Keys", key_policy)
    found = prove(Resolver(mutated)).undeclared_readers
    assert {(r.principal, r.target) for r in found} == {
        (breakglass, STRIPE.replace("-*", "-??????"))
    }


def test_an_undetermined_deny_makes_the_call_unknown(stacks: tuple[Stack, ...]) -> None:
    def deny_by_parameter(template: dict[str, Any]) -> None:
        template.setdefault("Parameters", {})["FrozenSecretArn"] = {"Type": "String"}
        (policy,) = [
            resource
            for logical_id, resource in template["Resources"].items()
            if logical_id.startswith("TokenRotation")
            and logical_id.find("Policy") > 0
            and resource["Type"] == "AWS::IAM::ManagedPolicy"
        ]
        policy["Properties"]["PolicyDocument"]["Statement"].append(
            {
                "Effect": "Deny",
                "Action": "secretsmanager:PutSecretValue",
                "Resource": {"Ref": "FrozenSecretArn"},
            }
        )

    proof = prove(Resolver(_mutated(stacks, "Secrets", deny_by_parameter)))
    (unknown,) = [r for r in proof.calls if r.verdict != "allowed"]
    assert (unknown.verdict, unknown.action) == ("unknown", "secretsmanager:PutSecretValue")
    assert "denied when Resource <unresolved parameter FrozenSecretArn> may match" in unknown.reason


def test_a_dynamic_reference_to_another_stacks_parameter_needs_the_order(
    stacks: tuple[Stack, ...],
) -> None:
    def reference(template: dict[str, Any]) -> None:
        group = template["Resources"]["FlowLogs16C1943A"]["Properties"]
        group["LogGroupClass"] = "{{resolve:ssm:/payments/prod/log-level}}"

    order = prove(Resolver(_mutated(stacks, "Network", reference))).order
    assert order == (
        f"{STAGE}/Network names parameter /payments/prod/log-level of {STAGE}/Parameters but is "
        "not deployed after it (add a stack dependency)",
    )
