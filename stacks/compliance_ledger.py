"""docs/COMPLIANCE.md from a cloud assembly: per environment, every acknowledged finding and
checkov skip with its resource and reason, and the evidence for the Security Hub controls.

    python -m stacks.compliance_ledger cdk.out > docs/COMPLIANCE.md   (or `make ledger`)

tests/test_ledger.py fails when the checked-in ledger differs from what this writes.
"""

from __future__ import annotations

import fnmatch
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from strongbox.report.controls import BLOCKED_KMS_ACTIONS

ROOT = Path(__file__).resolve().parent.parent
ACKNOWLEDGED = "aws:cdk:acknowledged-rules"


@dataclass(frozen=True)
class Stack:
    environment: str  # "dev"
    name: str  # "Strongbox-Dev/Secrets"
    template: dict[str, Any]
    metadata: dict[str, list[dict[str, Any]]]

    def resources(self, *types: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for logical_id, resource in sorted(self.template.get("Resources", {}).items()):
            if resource["Type"] in types:
                yield logical_id, resource


# The actions Security Hub's KMS.1 and KMS.2 block on all keys (as the report's control table
# judges them), and the wildcards that grant them.
_BLOCKED_KMS_ACTIONS = frozenset({*BLOCKED_KMS_ACTIONS, "kms:*", "*"})


def read_stacks(outdir: Path) -> list[Stack]:
    """The stacks of every `Strongbox-<Env>` stage assembly under `outdir`."""
    stacks = []
    for stage in sorted(outdir.glob("assembly-Strongbox-*")):
        environment = stage.name.removeprefix("assembly-Strongbox-").lower()
        manifest = json.loads((stage / "manifest.json").read_text())
        for artifact in manifest["artifacts"].values():
            if artifact["type"] != "aws:cloudformation:stack":
                continue
            stem = Path(artifact["properties"]["templateFile"]).name.removesuffix(".template.json")
            metadata_file = stage / f"{stem}.metadata.json"
            stacks.append(
                Stack(
                    environment=environment,
                    name=artifact["displayName"],
                    template=json.loads(
                        (stage / artifact["properties"]["templateFile"]).read_text()
                    ),
                    metadata=json.loads(metadata_file.read_text())
                    if metadata_file.exists()
                    else {},
                )
            )
    return stacks


def acknowledgments(stack: Stack) -> list[tuple[str, str, str]]:
    """(rule, construct path, reason) of every acknowledged finding in the stack."""
    rows = set()
    for path, entries in stack.metadata.items():
        for entry in entries:
            if entry.get("type") == ACKNOWLEDGED:
                for rule, reason in entry["data"].items():
                    rows.add((rule.removeprefix("Annotation::"), path.lstrip("/"), reason))
    return sorted(rows)


def checkov_skips(stacks: list[Stack], skips_file: Path) -> list[tuple[str, str, str]]:
    """(check, stack/logical id, reason) for each skip entry and resource it covers."""
    rows = []
    for entry in yaml.safe_load(skips_file.read_text()):
        reason = " ".join(entry["reason"].split())
        for stack in stacks:
            if "environments" in entry and stack.environment not in entry["environments"]:
                continue
            for logical_id in stack.template.get("Resources", {}):
                if any(fnmatch.fnmatchcase(logical_id, glob) for glob in entry["resources"]):
                    rows.append((entry["check"], f"{stack.name}/{logical_id}", reason))
    return sorted(rows)


def controls(stacks: list[Stack]) -> list[tuple[str, str]]:
    """(Security Hub control, the evidence in this environment's templates)."""
    secrets = [r for s in stacks for r in s.resources("AWS::SecretsManager::Secret")]
    schedules = [r for s in stacks for r in s.resources("AWS::SecretsManager::RotationSchedule")]
    rotating = [
        r for _, r in secrets if "Schedule" in r.get("Metadata", {}).get("StrongboxRotation", {})
    ]
    reasons = [
        r
        for _, r in secrets
        if "DisabledReason" in r.get("Metadata", {}).get("StrongboxRotation", {})
    ]
    keys = [r for s in stacks for _, r in s.resources("AWS::KMS::Key")]
    replicas = [r for s in stacks for _, r in s.resources("AWS::KMS::ReplicaKey")]
    windows = [k["Properties"].get("PendingWindowInDays") for k in keys + replicas]
    policies = [
        r for s in stacks for _, r in s.resources("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy")
    ]
    decrypt_on_all = [
        p
        for p in policies
        for statement in p["Properties"]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Allow"
        and any(str(a) in _BLOCKED_KMS_ACTIONS for a in _as_list(statement["Action"]))
        and "*" in _as_list(statement["Resource"])
    ]
    inline = [r for s in stacks for _, r in s.resources("AWS::IAM::Policy")]
    tasks = [r for s in stacks for _, r in s.resources("AWS::ECS::TaskDefinition")]
    environment_entries = sum(
        len(container.get("Environment", []))
        for task in tasks
        for container in task["Properties"]["ContainerDefinitions"]
    )
    intervals = sorted(
        {s["Properties"]["RotationRules"].get("ScheduleExpression", "") for _, s in schedules}
    )
    return [
        (
            "SecretsManager.1 (automatic rotation enabled)",
            f"{len(rotating)} of {len(secrets)} secrets rotate ({len(schedules)} schedules here; "
            "a schedule may sit next to the database its secret is attached to); the other "
            f"{len(reasons)} carry a documented reason (Guard rule secrets_rotate_or_say_why)",
        ),
        (
            "SecretsManager.2 (rotation succeeds)",
            "an EventBridge rule alerts on RotationFailed and RotationAbandoned; rotation "
            "functions alarm on errors",
        ),
        (
            "SecretsManager.3 (remove unused secrets)",
            "every secret names its consumers in config; consumers read exactly those "
            "(tests/test_workload.py); deployment-time usage is for Security Hub to watch",
        ),
        (
            "SecretsManager.4 (rotated within the period)",
            f"schedules: {', '.join(intervals) or 'none'}",
        ),
        (
            "KMS.1 / KMS.2 (no decryption on all keys; no inline policies)",
            f"{len(decrypt_on_all)} policies allow decryption (kms:Decrypt, kms:ReEncryptFrom) "
            "on every key; "
            f"{len(inline)} inline policies",
        ),
        (
            "KMS.3 (keys not deleted unintentionally)",
            f"{len(keys)} keys and {len(replicas)} replica keys; deletion policy "
            f"{', '.join(sorted({k.get('DeletionPolicy', 'Delete') for k in keys + replicas}))}, "
            f"pending window {', '.join(sorted({str(w) for w in windows}))} days",
        ),
        (
            "KMS.4 (key rotation enabled)",
            f"{sum(k['Properties'].get('EnableKeyRotation') is True for k in keys)} of "
            f"{len(keys)} keys rotate yearly (replica keys follow their primary)",
        ),
        (
            "ECS.8 (secrets not in environment variables)",
            f"{len(tasks)} task definitions, {environment_entries} environment entries; secrets "
            "arrive through the secrets block (Guard rule task_environment_holds_no_credentials)",
        ),
    ]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    if not rows:
        return ["None.", ""]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return [*lines, ""]


def ledger(outdir: Path, skips_file: Path = ROOT / "checkov-skips.yaml") -> str:
    stacks = read_stacks(outdir)
    lines = [
        "# Compliance ledger",
        "",
        "Generated from the synthesized app by `make ledger` (`python -m stacks.compliance_ledger "
        "cdk.out`); `tests/test_ledger.py` fails when it is stale. Findings of the four cdk-nag "
        "packs and CDK's template validation are acknowledged in code with the reasons below; "
        "checkov skips come from `checkov-skips.yaml`.",
        "",
    ]
    for environment in sorted(
        {s.environment for s in stacks}, key=["dev", "staging", "prod"].index
    ):
        in_environment = [s for s in stacks if s.environment == environment]
        lines += [f"## {environment}", "", "### Security Hub controls", ""]
        lines += _table(("control", "evidence"), controls(in_environment))
        lines += ["### Acknowledged findings", ""]
        rows = [row for stack in in_environment for row in acknowledgments(stack)]
        lines += _table(("rule", "resource", "reason"), rows)
        lines += ["### checkov skips", ""]
        lines += _table(("check", "resource", "reason"), checkov_skips(in_environment, skips_file))
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(ledger(Path(sys.argv[1] if len(sys.argv) > 1 else "cdk.out")))
