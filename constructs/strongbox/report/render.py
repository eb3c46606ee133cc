"""The report as Markdown for people or JSON for programs."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from strongbox.access.proof import LIMITS
from strongbox.report.analysis import EnvironmentReport, Report
from strongbox.report.diagram import mermaid

CALL_PATHS_INTRO = (
    "Every AWS call a runtime declares, decided through the caller's identity policies, the "
    "resource's policy, the key policy and the VPC endpoint policy (`strongbox check` fails on "
    "any call that is not allowed)."
)


def as_json(report: Report) -> str:
    """Every field of the report; counts and money as JSON numbers, written with exactly the
    digits the report computed (read them with `json.loads(text, parse_float=Decimal)` to keep
    them exact)."""
    return json.dumps(_plain(report), indent=2, sort_keys=False) + "\n"


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: _plain(getattr(value, field.name)) for field in dataclasses.fields(value)
        }
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Decimal):
        return _number(value)
    if isinstance(value, Path):
        return str(value)
    return value


def _number(value: Decimal) -> int | float:
    """A whole number as an int, else a float: JSON writes a float's shortest form, which for a
    price or amount (far fewer than the 15 significant digits a float keeps) is its own digits."""
    return int(value) if value == value.to_integral_value() else float(value)


def as_markdown(report: Report) -> str:
    """Headed sections per environment, tables for the inventories, a Mermaid diagram each."""
    prices = report.prices
    lines = [
        "# Strongbox report",
        "",
        f"Cloud assembly `{report.assembly}`; {len(report.environments)} environment(s). "
        f"Prices: {prices.currency}, {prices.region_basis} list prices as of {prices.as_of}.",
    ]
    for environment in report.environments:
        lines += ["", *_environment(environment)]
    return "\n".join(lines) + "\n"


def _environment(part: EnvironmentReport) -> list[str]:
    environment = part.environment
    lines = [
        f"## {environment.name}",
        "",
        f"Accounts {', '.join(environment.accounts)}; regions {', '.join(environment.regions)}.",
        "",
        "### Secrets",
        "",
        "| secret | kind | key | replicas | rotation | resource policy |",
        "|---|---|---|---|---|---|",
    ]
    names = {key.arn: key.aliases[0] for key in environment.keys if key.aliases}
    for secret in environment.secrets:
        replicas = (
            "<br>".join(f"{r.region} ({names.get(r.key, r.key)})" for r in secret.replicas)
            or "none"
        )
        policy = "<br>".join(secret.resource_policy) or "none"
        lines.append(
            f"| `{secret.name}` | {secret.kind} | {names.get(secret.key, secret.key)} "
            f"| {replicas} | "
            f"{_cell(secret.rotation)} | {_cell(policy)} |"
        )
    lines += [
        "",
        "### Keys",
        "",
        "| key | aliases | multi-region | replica of |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {key.arn} | {', '.join(key.aliases) or 'none'} | {'yes' if key.multi_region else 'no'} "
        f"| {key.replica_of or ''} |"
        for key in environment.keys
    ]
    lines += ["", "### Who can read", ""]
    lines += ["| secret | reader | account | conditions | flags |", "|---|---|---|---|---|"]
    for secret in environment.secrets:
        for reader in secret.readers:
            lines.append(
                f"| `{secret.name}` | {reader.principal} | {reader.account} | "
                f"{_cell('<br>'.join(reader.conditions)) or 'none'} | "
                f"{_cell('<br>'.join(reader.flags)) or ''} |"
            )
        if not secret.readers:
            lines.append(f"| `{secret.name}` | nobody in the assembly | | | |")
    delegated = sorted({a for secret in environment.secrets for a in secret.delegated_accounts})
    if delegated:
        lines += [
            "",
            "Principals outside the assembly (people, SSO roles) can also read where the key "
            f"policy delegates to IAM, in account(s) {', '.join(delegated)}, if their own identity "
            "policies allow `secretsmanager:GetSecretValue` and `kms:Decrypt`.",
        ]
    lines += ["", "### Parameters", "", "| parameter | type | tier |", "|---|---|---|"]
    lines += [f"| `{p.name}` | {p.type} | {p.tier} |" for p in environment.parameters]
    lines += ["", "### Monthly cost estimate", "", "| item | quantity | unit | price | monthly |"]
    lines.append("|---|---:|---|---:|---:|")
    lines += [
        f"| {line.item} | {line.quantity} | {line.unit} | {line.unit_price} | {line.monthly} |"
        for line in part.cost.lines
    ]
    lines.append(f"| **total** | | | | **{part.cost.total}** |")
    lines += ["", "Assumptions:", ""] + [f"- {text}" for text in part.cost.assumptions]
    lines += ["", "### Placement advice", ""]
    lines += [
        f"- `{advice.name}`: saves {advice.saving_per_month} a month as a SecureString "
        f"parameter. {advice.reason}"
        for advice in part.advice
    ] or ["- Every secret uses something only Secrets Manager offers; no advice."]
    lines += ["", "### Call paths", "", CALL_PATHS_INTRO, "", LIMITS, ""]
    lines += ["| runtime | call | verdict | decided by |", "|---|---|---|---|"]
    for call in part.call_paths:
        through = f" through the {call.endpoint} endpoint" if call.endpoint else ""
        decided = "<br>".join(layer.describe() for layer in call.layers)
        if call.reason:
            decided += f"<br>{call.reason}"
        lines.append(
            f"| {_cell(call.runtime.split(': ', 1)[-1])} | `{call.action}` on "
            f"`{call.resource}` in {call.region}{through} | {call.verdict} | {_cell(decided)} |"
        )
    if not part.call_paths:
        lines.append("| no runtime declares its calls here | | | |")
    lines += ["", "### Findings", ""]
    lines += [f"- {finding}" for finding in part.findings] or ["- None."]
    lines += ["", "### Diagram", "", "```mermaid", mermaid(environment), "```"]
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
