"""`make integ` (tests/integ/deploy.py) without an account: it refuses to start without
credentials, deploys every app then destroys it (even after a failed deploy), and reports each
app's verdict. The CDK CLI is replaced by a script that records its arguments."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integ import deploy

ROOT = Path(__file__).resolve().parents[1]

FAKE_CDK = """#!/bin/sh
echo "$STRONGBOX_INTEG_RUN $*" >> {calls}
case "$*" in *"{failing}"*deploy*) exit 1 ;; esac
exit 0
"""


def test_without_credentials_it_says_so_in_one_line(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environment |= {
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "tests.integ.deploy"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("strongbox integ: no usable AWS credentials (")
    assert "cdk bootstrap" in lines[0]


@pytest.fixture
def fake_cdk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    calls = tmp_path / "calls"
    script = tmp_path / "cdk"
    script.write_text(FAKE_CDK.format(calls=calls, failing="integ_rotation"))
    script.chmod(0o755)
    monkeypatch.setattr(deploy, "CDK", script)
    monkeypatch.setenv("STRONGBOX_INTEG_RUN", "t1")
    monkeypatch.setattr(deploy, "caller_account", lambda: "111111111111")
    monkeypatch.setattr(deploy, "OUT", tmp_path / "out")
    return calls


def test_each_app_is_deployed_then_destroyed_and_a_failure_is_reported(
    fake_cdk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert deploy.main(["--parallel", "1"]) == 1
    calls = fake_cdk.read_text().splitlines()
    for app in deploy.APPS:
        mine = [call for call in calls if f"-m tests.integ.{app} " in call]
        assert [call.split()[-3:] for call in mine] == [
            ["--all", "--require-approval", "never"],
            ["destroy", "--all", "--force"],
        ], app
        assert all(call.startswith("t1 ") for call in mine)
    printed = capsys.readouterr().out.splitlines()
    assert (
        printed[0] == f"strongbox integ: run t1 in account 111111111111: {', '.join(deploy.APPS)}"
    )
    verdicts = {line.split()[1]: line.split()[0] for line in printed[1:]}
    assert verdicts == {
        app: "FAILED" if app == "integ_rotation" else "PASSED" for app in deploy.APPS
    }


def test_keep_leaves_the_stacks(fake_cdk: Path) -> None:
    assert deploy.main(["--app", "integ_secret_read", "--keep"]) == 0
    calls = fake_cdk.read_text().splitlines()
    assert len(calls) == 1 and " deploy --all " in calls[0]
