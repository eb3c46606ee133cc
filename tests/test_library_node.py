"""docs/library-node.md: a library user's synth, outside our Makefile, runs on a supported Node
the documented way, without the end-of-life banner."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

DOC = ROOT / "docs" / "library-node.md"
SUPPORTED_MAJORS = {22, 24}
# The machine's own tools only: no node_modules/.bin and no JSII_NODE from the test run.
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"

# A library user's app: imports the library, synthesizes, then says which Node jsii started
# (the executable of this process's child, read from /proc).
USER_APP = """
import os
import subprocess
from pathlib import Path

import aws_cdk as cdk
from strongbox import ManagedSecret  # noqa: F401

app = cdk.App()
cdk.CfnWaitConditionHandle(cdk.Stack(app, "Stack"), "Handle")
app.synth()
for children in Path("/proc", str(os.getpid()), "task").glob("*/children"):
    for child in children.read_text().split():
        node = os.readlink(f"/proc/{child}/exe")
        print(subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip())
"""


def documented_commands() -> tuple[str, list[str]]:
    """The doc's shell block: its npm install line and its export lines, as written."""
    block = re.search(r"```bash\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert block, f"{DOC.name} has no bash block"
    lines = block.group(1).splitlines()
    (install,) = [line for line in lines if line.startswith("npm install")]
    return install, [line for line in lines if line.startswith("export ")]


def run_user_app(project: Path, exports: list[str]) -> subprocess.CompletedProcess[str]:
    (project / "user_app.py").write_text(USER_APP)
    script = "\n".join(["set -e", *exports, f"exec {sys.executable} user_app.py"])
    bash = shutil.which("bash") or "/bin/bash"
    return subprocess.run(
        [bash, "-c", script],
        cwd=project,
        env={"PATH": SYSTEM_PATH, "HOME": str(Path.home())},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def majors(versions: str) -> list[int]:
    return [int(line.removeprefix("v").split(".")[0]) for line in versions.split()]


def test_library_user_synth_runs_on_a_supported_node_the_documented_way(tmp_path: Path) -> None:
    install, exports = documented_commands()
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["node"]
    assert f"node@{pinned}" in install.split(), "the doc installs the Node package.json pins"
    # The user's `npm install` of that package: the same package, already in our node_modules.
    (tmp_path / "node_modules").symlink_to(ROOT / "node_modules")

    result = run_user_app(tmp_path, exports)

    assert result.returncode == 0, result.stderr
    assert majors(result.stdout) and set(majors(result.stdout)) <= SUPPORTED_MAJORS, result.stdout
    assert "end-of-life" not in result.stderr
    assert "!!" not in result.stderr
    assert result.stderr == ""


def test_without_it_the_machines_end_of_life_node_prints_the_banner(tmp_path: Path) -> None:
    """The problem the doc solves, on a machine whose Node is end-of-life (this one: 20)."""
    node = shutil.which("node", path=SYSTEM_PATH)
    if node is None:
        pytest.skip("no node on the machine's PATH")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    if majors(version.stdout)[0] >= min(SUPPORTED_MAJORS):
        pytest.skip(f"the machine's Node {version.stdout.strip()} is supported")

    result = run_user_app(tmp_path, exports=[])

    assert result.returncode == 0, result.stderr
    assert majors(result.stdout) == majors(version.stdout)
    assert "end-of-life" in result.stderr
