"""The integration apps (tests/integ/integ_*.py) in snapshot mode: each synthesizes, with no
credentials and nothing looked up, to exactly its committed snapshot (tests/integ/<app>.snapshot/,
integ-runner's layout): its templates and integ.json (the test cases and assertion stacks).

A changed template fails here until the snapshot is regenerated and committed with the change:
`make integ-snapshot` (STRONGBOX_INTEG_UPDATE=1). Asset hashes (S3Key) and the CDK's analytics
blob are written as placeholders, as in tests/test_snapshots.py: they change with every
aws-cdk-lib release, not with what the app deploys. So is each assertion's `salt`: the synth's
time, which makes every deploy run the assertions again. Deploy mode is `make integ`
(tests/integ/deploy.py, docs/integration.md).
"""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
INTEG = ROOT / "tests" / "integ"
APPS = sorted(path.name for path in INTEG.glob("integ_*.py"))
UPDATE = os.environ.get("STRONGBOX_INTEG_UPDATE") == "1"
# What would make a synth depend on the machine: the CLI's account and region, a deploy run's
# names, credentials.
HOST_ONLY = ("CDK_DEFAULT_", "CDK_INTEG_", "STRONGBOX_INTEG_", "AWS_", "CDK_CONTEXT_JSON")
ASSET = "<asset hash>"
ANALYTICS = "<CDK analytics>"
# integ-tests' assertion resources carry the synth's time, so each deploy runs them again.
SALT = "<synth time>"


def synthesized(app: str, outdir: Path) -> dict[str, Any]:
    """{file name: JSON} of what the snapshot holds, from a fresh synth of `app`."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(HOST_ONLY)}
    result = subprocess.run(
        [sys.executable, "-m", f"tests.integ.{app.removesuffix('.py')}"],
        cwd=ROOT,
        env={**environment, "CDK_OUTDIR": str(outdir)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"{app} failed to synthesize:\n{result.stderr[-3000:]}"
    return {
        path.name: normalized(json.loads(path.read_text()))
        for path in [*sorted(outdir.glob("*.template.json")), outdir / "integ.json"]
    }


def normalized(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        if key == "CDKMetadata" and "Properties" in value:
            return {**value, "Properties": {**value["Properties"], "Analytics": ANALYTICS}}
        return {k: normalized(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [normalized(item) for item in value]
    if isinstance(value, str) and key in ("S3Key", "salt"):
        return ASSET if key == "S3Key" else SALT
    return value


def rendered(document: Any) -> str:
    return json.dumps(document, indent=1, sort_keys=True) + "\n"


def differences(app: str, fresh: dict[str, Any], snapshot: Path) -> list[str]:
    """One entry per file that differs from the snapshot: its name and a unified diff."""
    found = []
    committed = {path.name for path in snapshot.glob("*.json")} if snapshot.is_dir() else set()
    for name in sorted(committed | set(fresh)):
        old = (snapshot / name).read_text() if name in committed else ""
        new = rendered(fresh[name]) if name in fresh else ""
        if old != new:
            diff = difflib.unified_diff(
                old.splitlines(),
                new.splitlines(),
                f"snapshot/{name}",
                f"synth/{name}",
                n=2,
                lineterm="",
            )
            found.append(f"{app}: {name} differs\n" + "\n".join(list(diff)[:60]))
    return found


@pytest.mark.parametrize("app", APPS)
def test_integ_app_matches_its_snapshot(app: str, tmp_path: Path) -> None:
    fresh = synthesized(app, tmp_path)
    snapshot = INTEG / f"{app}.snapshot"
    if UPDATE:
        snapshot.mkdir(exist_ok=True)
        for stale in snapshot.glob("*.json"):
            stale.unlink()
        for name, document in fresh.items():
            (snapshot / name).write_text(rendered(document))
        return
    found = differences(app, fresh, snapshot)
    assert not found, (
        "\n\n".join(found)
        + "\n\nIf the change is intended, run `make integ-snapshot` and commit the snapshot "
        "with it."
    )


def test_every_snapshot_has_its_app() -> None:
    """A snapshot left behind by a deleted or renamed app would be checked by nothing."""
    orphans = sorted(
        path.name
        for path in INTEG.glob("*.snapshot")
        if path.name.removesuffix(".snapshot") not in APPS
    )
    assert not orphans, f"snapshots without an app in tests/integ: {', '.join(orphans)}"


def test_every_scenario_of_the_issue_has_an_app() -> None:
    assert APPS == [
        "integ_replica.py",
        "integ_rotation.py",
        "integ_secret_read.py",
        "integ_secure_string.py",
        "integ_unexpected_read.py",
    ]


# What the assertions need to work once deployed, read from the snapshots (held equal to a fresh
# synth above). Each was a defect a review of the first version found.
def assertion_templates() -> list[Path]:
    return sorted(INTEG.glob("*.snapshot/*Assertions.template.json"))


def resolved(value: Any) -> str:
    """A template string value with each intrinsic replaced by a string an ARN or id resolves
    to (no quotes, no backslashes), as CloudFormation would."""
    if isinstance(value, str):
        return value
    ((name, argument),) = value.items()
    if name == "Fn::Join":
        return str(argument[0]).join(resolved(part) for part in argument[1])
    return "arn:aws:lambda:eu-west-1:111111111111:function:resolved"


@pytest.mark.parametrize("template", assertion_templates(), ids=lambda path: path.parent.name)
def test_every_invoke_payload_is_a_json_object_once_deployed(template: Path) -> None:
    """The provider JSON-decodes each parameter, and Lambda refuses a payload that is not JSON."""
    payloads = [
        resource["Properties"]["parameters"]["Payload"]
        for resource in json.loads(template.read_text())["Resources"].values()
        if resource["Type"].startswith("Custom::DeployAssert@SdkCallLambdainvoke")
    ]
    assert payloads, f"{template.name} invokes no function"
    for payload in payloads:
        decoded = json.loads(resolved(payload))
        assert isinstance(json.loads(decoded), dict), f"{template.name}: {decoded!r}"


@pytest.mark.parametrize("app", ["integ_rotation.py", "integ_replica.py"])
def test_rotate_secret_caller_may_invoke_the_rotation_function(app: str) -> None:
    """RotateSecret's caller needs lambda:InvokeFunction on the rotation function."""
    template = next((INTEG / f"{app}.snapshot").glob("*Assertions.template.json"))
    granted = json.dumps(
        [
            statement["Resource"]
            for resource in json.loads(template.read_text())["Resources"].values()
            if resource["Type"] == "AWS::IAM::Role"
            for policy in resource["Properties"].get("Policies", [])
            for statement in policy["PolicyDocument"]["Statement"]
            if statement["Action"] == ["lambda:InvokeFunction"]
        ]
    )
    assert "RotationFunction" in granted, granted


def test_replica_is_checked_after_the_rotation() -> None:
    """The replica is InSync from its creation: checked before the rotation, it proves nothing."""
    resources = json.loads(
        (INTEG / "integ_replica.py.snapshot" / "ReplicaAssertions.template.json").read_text()
    )["Resources"]
    (in_sync,) = (
        resource
        for name, resource in resources.items()
        if name.startswith("AwsApiCallSecretsManagerdescribeSecret")
        and resource["Type"].startswith("Custom::")
    )
    rotation_check = next(
        name
        for name, resource in resources.items()
        if resource["Type"].startswith("Custom::DeployAssert@SdkCallLambdainvoke")
    )
    assert rotation_check in in_sync.get("DependsOn", [])
