"""app.py's main(): an unacknowledged compliance finding, error or warning, fails synth with one
line per finding and exit 1, no traceback, and leaves no assembly behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2

from strongbox import acknowledge
from strongbox.compliance import template_validation
from strongbox.synth import FAIL_SYNTH_ON_VALIDATION_ERRORS, unacknowledged_findings
from tests.conftest import (
    ROOT,
    cdk_json_context,
    expected_stacks,
    feature_flag_app,
    read_assembly,
)

# app.py's main() with its builder replaced: a secret the packs flag (no rotation, no
# customer-managed key; errors), or a network ACL (AwsSolutions-VPC3, a warning).
PROBE = """
import sys

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_secretsmanager as secretsmanager

import app
from strongbox import add_compliance_plugins


def build(scope: cdk.App) -> None:
    add_compliance_plugins(scope)
    environment = cdk.Environment(account="111111111111", region="eu-west-1")
    stage = cdk.Stage(scope, "Probe", env=environment)
    if sys.argv[1:] == ["warning"]:
        ec2.CfnNetworkAcl(cdk.Stack(stage, "Network"), "Acl", vpc_id="vpc-0a1b2c3d4e5f60718")
    else:
        secretsmanager.Secret(cdk.Stack(stage, "Secrets"), "NeverRotated")


app.build_app = build
sys.exit(app.main())
"""


def run_probe(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "probe_app.py").write_text(PROBE)
    # Run as `python app.py` is, outside the CLI: main() reads the context from cdk.json.
    flags = {k: v for k, v in cdk_json_context().items() if k.startswith("@aws-cdk")}
    (tmp_path / "cdk.json").write_text(json.dumps({"app": "python probe_app.py", "context": flags}))
    # As a user's shell runs it: no pytest variables (CDK reads them to pick its reporting mode).
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PYTEST") and k not in ("CDK_CONTEXT_JSON", "CDK_OUTDIR")
    }
    environment.update(PYTHONPATH=str(ROOT), CDK_OUTDIR=str(tmp_path / "cdk.out"))
    (tmp_path / "cdk.out").mkdir()
    return subprocess.run(
        [sys.executable, "probe_app.py", *args],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def assert_one_line_per_finding(result: subprocess.CompletedProcess[str], outdir: Path) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "jsii" not in result.stderr.lower()
    assert "ValidationFailed" not in result.stderr
    lines = result.stderr.splitlines()
    assert all(line.startswith("strongbox: ") for line in lines), result.stderr
    assert not list(outdir.rglob("*.template.json")), "no assembly a deploy could use"
    assert not (outdir / "manifest.json").exists()


def test_an_unacknowledged_error_fails_synth_with_one_line_per_finding(tmp_path: Path) -> None:
    result = run_probe(tmp_path)

    assert_one_line_per_finding(result, tmp_path / "cdk.out")
    assert (
        "strongbox: AwsSolutions-SMG4 Probe/Secrets/NeverRotated/Resource: "
        "The secret does not have automatic rotation scheduled."
    ) in result.stderr.splitlines()
    assert "PCI.DSS.321-SecretsManagerUsingKMSKey" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("strongbox: 8 unacknowledged findings")


def test_an_unacknowledged_warning_alone_fails_synth(tmp_path: Path) -> None:
    result = run_probe(tmp_path, "warning")

    assert_one_line_per_finding(result, tmp_path / "cdk.out")
    assert result.stderr.splitlines() == [
        "strongbox: AwsSolutions-VPC3 Probe/Network/Acl: A Network ACL or Network ACL entry has "
        "been implemented.",
        "strongbox: 1 unacknowledged finding: fix each, or acknowledge it with the reason it does "
        "not apply (strongbox.acknowledge); no assembly was written",
    ]


def test_python_app_py_builds_what_cdk_synth_builds_with_no_finding(
    tmp_path: Path, clean_aws_environment: dict[str, str]
) -> None:
    """Outside the CLI, app.py reads cdk.json's context; the shipped app has no unacknowledged
    finding (W3010, hard-coded zones, is acknowledged on each VPC and must stay so)."""
    environment = {
        k: v
        for k, v in clean_aws_environment.items()
        if not k.startswith("PYTEST") and k not in ("CDK_CONTEXT_JSON", "CDK_OUTDIR")
    }
    outdir = tmp_path / "cdk.out"
    outdir.mkdir()
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env={**environment, "CDK_OUTDIR": str(outdir)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert (result.returncode, result.stderr) == (0, "")
    assert sorted(read_assembly(outdir)) == expected_stacks()


def test_a_cfn_lint_warning_is_acknowledged_in_the_validation_report(tmp_path: Path) -> None:
    """GIVEN a subnet with a zone from config (cfn-lint's W3010) in a stage, WHEN
    strongbox.acknowledge names W3010, THEN the report lists it as acknowledged, not as a
    finding app.py fails on. (ec2.Vpc reading the stack's zones acknowledges W3010 itself.)"""
    app = feature_flag_app(outdir=str(tmp_path))
    app.node.set_context(FAIL_SYNTH_ON_VALIDATION_ERRORS, False)  # as app.py's main() sets it
    cdk.Validations.of(app).add_plugins(template_validation())
    stage = cdk.Stage(app, "Probe", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    subnet = ec2.CfnSubnet(
        cdk.Stack(stage, "Network"),
        "Subnet",
        vpc_id="vpc-0a1b2c3d4e5f60718",
        cidr_block="10.0.0.0/24",
        availability_zone="eu-west-1a",
    )
    acknowledge(subnet, "W3010", "Zones come from config so that synth does no lookups.")

    app.synth()

    report = json.loads((tmp_path / "validation-report.json").read_text())
    acknowledged = [
        (violation["ruleName"], violation["acknowledgedId"])
        for plugin in report["pluginReports"]
        for violation in plugin.get("suppressedViolations", [])
    ]
    assert acknowledged == [("W3010", "CloudFormation-Validate::W3010")]
    assert unacknowledged_findings(tmp_path) == []
