"""The real CDK CLI: hermetic synth of every environment, one environment, and a broken config."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, expected_stacks, read_assembly

CDK = ROOT / "node_modules" / ".bin" / "cdk"
EOL_BANNER = "end-of-life"


def run_cdk(args: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CDK), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def test_synth_without_aws_credentials_writes_every_stack(
    tmp_path: Path, clean_aws_environment: dict[str, str]
) -> None:
    outdir = tmp_path / "cdk.out"
    result = run_cdk(
        ["synth", "--quiet", "**", "--output", str(outdir)], cwd=ROOT, env=clean_aws_environment
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Need to perform AWS calls" not in output
    assert EOL_BANNER not in output, "jsii or the CLI ran on an end-of-life Node"
    assert sorted(read_assembly(outdir)) == expected_stacks()
    # A lookup (from_lookup, AZs without explicit config) would be listed as missing context.
    for manifest in outdir.rglob("manifest.json"):
        assert "missing" not in json.loads(manifest.read_text()), manifest


def test_env_context_selects_one_environment(
    tmp_path: Path, clean_aws_environment: dict[str, str]
) -> None:
    outdir = tmp_path / "cdk.out"
    result = run_cdk(
        ["synth", "--quiet", "**", "-c", "env=prod", "--output", str(outdir)],
        cwd=ROOT,
        env=clean_aws_environment,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(read_assembly(outdir)) == expected_stacks("prod")
    assert "Strongbox-Prod/ReplicaKeys-eu-central-1" in expected_stacks("prod")


def test_broken_config_fails_with_one_line_naming_the_key(
    tmp_path: Path, clean_aws_environment: dict[str, str]
) -> None:
    document = json.loads((ROOT / "cdk.json").read_text())
    document["app"] = f"{sys.executable} {ROOT / 'app.py'}"
    document["context"]["strongbox"]["environments"]["prod"]["replica_regions"] = ["eu-west-1"]
    (tmp_path / "cdk.json").write_text(json.dumps(document))
    outdir = tmp_path / "cdk.out"

    result = run_cdk(
        ["synth", "--quiet", "**", "--output", str(outdir)], cwd=tmp_path, env=clean_aws_environment
    )

    assert result.returncode != 0
    assert (
        "strongbox: invalid configuration: environments.prod.replica_regions[0]: 'eu-west-1' is "
        "the environment's primary region; a replica region must differ"
    ) in result.stderr.splitlines()
    assert "Traceback" not in result.stderr
    assert "jsii" not in result.stderr.lower()
    assert not list(outdir.rglob("*.template.json")), "nothing half-written"


# Source of a probe app (ruff's S105 reads "SECRET" in the name as a password).
UNROTATED_SECRET_APP = """
import aws_cdk as cdk
from aws_cdk import aws_secretsmanager as secretsmanager
from strongbox import add_compliance_plugins

app = cdk.App()
add_compliance_plugins(app)
stage = cdk.Stage(app, "Probe", env=cdk.Environment(account="111111111111", region="eu-west-1"))
secretsmanager.Secret(cdk.Stack(stage, "Secrets"), "NeverRotated")
app.synth()
"""  # noqa: S105


def test_cli_synth_of_all_stage_stacks_fails_on_a_compliance_finding(
    tmp_path: Path, clean_aws_environment: dict[str, str]
) -> None:
    (tmp_path / "probe_app.py").write_text(UNROTATED_SECRET_APP)
    app = f"{sys.executable} probe_app.py"
    (tmp_path / "cdk.json").write_text(
        json.dumps({"app": app, "context": {"cli-telemetry": False}})
    )

    gated = run_cdk(["synth", "--quiet", "**"], cwd=tmp_path, env=clean_aws_environment)
    assert gated.returncode != 0
    assert "AwsSolutions-SMG4" in gated.stdout + gated.stderr

    # The trap `make synth` avoids: without a selector the CLI selects only top-level stacks,
    # finds none in a stage-only app, validates nothing and reports success.
    ungated = run_cdk(["synth", "--quiet"], cwd=tmp_path, env=clean_aws_environment)
    assert ungated.returncode == 0
