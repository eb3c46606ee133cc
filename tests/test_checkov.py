"""checkov, a judge we did not write, over every synthesized template: nothing fails that
checkov-skips.yaml does not list with its resources and reason, and nothing listed is stale."""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, Synthesized

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
SKIPS_FILE = ROOT / "checkov-skips.yaml"
MIN_REASON = 40


@dataclass(frozen=True)
class Finding:
    check: str
    environment: str  # dev, staging, prod: from the stage assembly directory
    stack: str  # the template file's stem
    logical_id: str


@dataclass(frozen=True)
class Skip:
    check: str
    resources: tuple[str, ...]
    environments: tuple[str, ...] | None
    reason: str

    def covers(self, finding: Finding) -> bool:
        return (
            finding.check == self.check
            and (self.environments is None or finding.environment in self.environments)
            and any(fnmatch.fnmatchcase(finding.logical_id, glob) for glob in self.resources)
        )


def load_skips(path: Path = SKIPS_FILE) -> list[Skip]:
    return [
        Skip(
            check=entry["check"],
            resources=tuple(entry["resources"]),
            environments=tuple(entry["environments"]) if "environments" in entry else None,
            reason=" ".join(entry["reason"].split()),
        )
        for entry in yaml.safe_load(path.read_text())
    ]


def run_checkov(outdir: Path) -> list[Finding]:
    """checkov's failed checks over every template under `outdir`, offline."""
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: `make unit` (or `make test`) sets checkov's venv up")
    result = subprocess.run(
        [
            str(CHECKOV),
            "--directory",
            str(outdir),
            "--framework",
            "cloudformation",
            "--skip-download",
            "--quiet",
            "--compact",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        # Offline: no calls to the vendor's platform for check metadata.
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": ""},
        cwd=outdir,
        check=False,
        timeout=600,
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]
    reports: Any = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    findings = []
    for report in reports:
        for failed in report["results"]["failed_checks"]:
            template = Path(failed["file_abs_path"])
            environment = template.parent.name.removeprefix("assembly-Strongbox-").lower()
            findings.append(
                Finding(
                    check=failed["check_id"],
                    environment=environment,
                    stack=template.stem,
                    logical_id=failed["resource"].split(".", 1)[1],
                )
            )
    return findings


@cache
def _findings(outdir: Path) -> tuple[Finding, ...]:
    return tuple(run_checkov(outdir))


@pytest.fixture(scope="module")
def findings(synthesized: Synthesized) -> tuple[Finding, ...]:
    return _findings(synthesized.outdir)


def test_checkov_finds_nothing_unlisted(findings: tuple[Finding, ...]) -> None:
    skips = load_skips()
    unlisted = [f for f in findings if not any(skip.covers(f) for skip in skips)]
    assert unlisted == [], "fix these, or list them in checkov-skips.yaml with a reason"


def test_every_listed_skip_is_still_needed(findings: tuple[Finding, ...]) -> None:
    for skip in load_skips():
        assert any(skip.covers(f) for f in findings), f"stale entry in checkov-skips.yaml: {skip}"


def test_every_skip_has_a_reason_and_real_resources() -> None:
    for skip in load_skips():
        assert skip.check.startswith("CKV_"), skip
        assert len(skip.reason) >= MIN_REASON, f"{skip.check}: say why it does not apply"
        assert skip.resources and "*" not in skip.resources, f"{skip.check}: name the resources"


def test_checkov_fails_a_bad_template(tmp_path: Path) -> None:
    """The wiring can fail: an unencrypted secret and a key without rotation are reported."""
    stage = tmp_path / "assembly-Strongbox-Dev"
    stage.mkdir()
    (stage / "Bad.template.json").write_text(
        json.dumps(
            {
                "Resources": {
                    "Plain": {"Type": "AWS::SecretsManager::Secret", "Properties": {}},
                    "Key": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {}}},
                }
            }
        )
    )
    checks = {(f.check, f.logical_id, f.environment) for f in run_checkov(tmp_path)}
    assert ("CKV_AWS_149", "Plain", "dev") in checks  # secret without a customer-managed key
    assert ("CKV_AWS_7", "Key", "dev") in checks  # key without rotation
