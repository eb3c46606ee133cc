"""The report as Markdown for people or JSON for programs."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from strongbox.access.proof import LIMITS
from strongbox.report.analysis import EnvironmentReport, Report
from strongbox.report.controls import NO_CONFIG_RULE
from strongbox.report.diagram import mermaid
from strongbox.report.inventory import Environment
from strongbox.report.key_labels import KeyLabels

CALL_PATHS_INTRO = (
    "Every AWS call a runtime declares, decided through the caller's identity policies, the "
    "resource's policy, the key policy and the VPC endpoint policy (`strongbox check` fails on "
    "any call that is not allowed)."
)

CONTROLS_INTRO = (
    "Each control as the templates decide it, with the resources and the property that decide "
    "it; what only the running account can tell is 'not decidable at synth', with the AWS Config "
    "rule of this environment that watches it."
)


# Longer cells make the Markdown table unreadable; the JSON has the rest.
POLICY_CELL_LIMIT = 120


def as_json(report: Report) -> str:
    """Every field of the report; counts and money as JSON numbers, written with exactly the
    digits the report computed (read them with `json.loads(text, parse_float=Decimal)` to keep
    them exact); a key ARN the templates cannot tell as its `<key ...>` label."""
    return json.dumps(_plain(report, _key_labels(report)), indent=2, sort_keys=False) + "\n"


def _key_labels(report: Report) -> KeyLabels:
    return KeyLabels(key for part in report.environments for key in part.environment.keys)


def _plain(value: Any, labels: KeyLabels) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: _plain(getattr(value, field.name), labels)
            for field in dataclasses.fields(value)
        }
    if isinstance(value, Mapping):
        return {labels.text(str(key)): _plain(item, labels) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item, labels) for item in value]
    if isinstance(value, Decimal):
        return _number(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str):
        return labels.text(value)
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
        f"Prices: {prices.currency} list prices of each line's own region; one marked "
        f"'assumed: {prices.fallback_region} price' is {prices.fallback_region}'s, as none was "
        "found published for its region.",
    ]
    labels = _key_labels(report)
    for environment in report.environments:
        lines += ["", *_environment(environment, labels)]
    return "\n".join(lines) + "\n"


def _environment(part: EnvironmentReport, labels: KeyLabels) -> list[str]:
    environment = part.environment
    body = [
        f"## {environment.name}",
        "",
        f"Accounts {', '.join(environment.accounts)}; regions {', '.join(environment.regions)}.",
        "",
        "### Secrets",
        "",
        *_secrets(environment),
        "",
        "### Keys",
        "",
        *_keys(environment),
        "",
        "### Who can read",
        "",
        *_readers(environment),
        "",
        "### Parameters",
        "",
        *_table(
            ("parameter", "type", "tier"),
            [(f"`{p.name}`", p.type, p.tier) for p in environment.parameters],
            empty="No parameters.",
        ),
        "",
        "### Monthly cost estimate",
        "",
        *_cost(part),
        "",
        "### Placement advice",
        "",
        *(
            [
                f"- `{advice.name}`: saves {advice.saving_per_month} a month"
                + (f" (at assumed {advice.assumed_from} prices)" if advice.assumed_from else "")
                + f" as a SecureString parameter. {advice.reason}"
                for advice in part.advice
            ]
            or ["- Every secret uses something only Secrets Manager offers; no advice."]
        ),
        "",
        "### Call paths",
        "",
        CALL_PATHS_INTRO,
        "",
        LIMITS,
        "",
        *_call_paths(part),
        "",
        "### Security Hub controls",
        "",
        CONTROLS_INTRO,
        "",
        *_controls(part),
        "",
        "### Findings",
        "",
        *([f"- {finding}" for finding in part.findings] or ["- None."]),
    ]
    return [
        *(labels.markdown(line) for line in body),
        "",
        "### Diagram",
        "",
        "```mermaid",
        mermaid(environment, labels),
        "```",
    ]


def _table(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    empty: str,
    align: Sequence[str] = (),
) -> list[str]:
    """A Markdown table of `rows`, or the one sentence `empty` when there is no row."""
    if not rows:
        return [empty]
    separator = [align[i] if i < len(align) else "---" for i in range(len(columns))]
    return [
        f"| {' | '.join(columns)} |",
        f"|{'|'.join(separator)}|",
        *(f"| {' | '.join(row)} |" for row in rows),
    ]


def _secrets(environment: Environment) -> list[str]:
    names = {key.arn: key.aliases[0] for key in environment.keys if key.aliases}
    rows = []
    for secret in environment.secrets:
        replicas = (
            "<br>".join(f"{r.region} ({names.get(r.key, r.key)})" for r in secret.replicas)
            or "none"
        )
        policy = _outline(secret.resource_policy_outline)
        rows.append(
            (
                f"`{secret.name}`",
                secret.kind,
                names.get(secret.key, secret.key),
                replicas,
                _cell(secret.rotation),
                _cell(policy),
            )
        )
    lines = _table(
        ("secret", "kind", "key", "replicas", "rotation", "resource policy"),
        rows,
        empty="No secrets.",
    )
    if any(secret.resource_policy for secret in environment.secrets):
        lines += [
            "",
            "A resource policy is shown as each statement's effect and Sid; `--format json` has "
            "every statement in full.",
        ]
    return lines


def _outline(statements: Sequence[str]) -> str:
    """As many statements as fit in one readable cell, then how many more there are."""
    for shown in range(len(statements), -1, -1):
        hidden = len(statements) - shown
        more = [f"and {hidden} more statement{'s' if hidden > 1 else ''}"] if hidden else []
        text = _cell("<br>".join([*statements[:shown], *more]))
        if len(text) <= POLICY_CELL_LIMIT or not shown:
            return text or "none"
    return "none"  # unreachable: the loop returns when nothing is left to hide


def _keys(environment: Environment) -> list[str]:
    return _table(
        ("key", "aliases", "multi-region", "replica of"),
        [
            (
                key.arn,
                ", ".join(key.aliases) or "none",
                "yes" if key.multi_region else "no",
                key.replica_of or "",
            )
            for key in environment.keys
        ],
        empty="No KMS keys.",
    )


def _readers(environment: Environment) -> list[str]:
    rows = []
    for secret in environment.secrets:
        rows += [
            (
                f"`{secret.name}`",
                reader.principal,
                reader.account,
                _cell("<br>".join(reader.conditions)) or "none",
                _cell("<br>".join(reader.flags)),
            )
            for reader in secret.readers
        ]
        if not secret.readers:
            rows.append((f"`{secret.name}`", "nobody in the assembly", "", "", ""))
    lines = _table(
        ("secret", "reader", "account", "conditions", "flags"),
        rows,
        empty="No secrets, so nobody reads one.",
    )
    delegated = sorted({a for secret in environment.secrets for a in secret.delegated_accounts})
    if delegated:
        lines += [
            "",
            "Principals outside the assembly (people, SSO roles) can also read where the key "
            f"policy delegates to IAM, in account(s) {', '.join(delegated)}, if their own identity "
            "policies allow `secretsmanager:GetSecretValue` and `kms:Decrypt`.",
        ]
    return lines


def _cost(part: EnvironmentReport) -> list[str]:
    cost = part.cost
    if cost.lines:
        lines = _table(
            ("item", "region", "quantity", "unit", "price", "monthly"),
            [
                (
                    line.item,
                    line.region,
                    str(line.quantity),
                    line.unit,
                    f"{line.unit_price} (assumed: {line.price_region} price)"
                    if line.assumed
                    else str(line.unit_price),
                    str(line.monthly),
                )
                for line in cost.lines
            ],
            empty="",
            align=("---", "---", "---:", "---", "---:", "---:"),
        )
        lines.append(f"| **total** | | | | | **{cost.total}** |")
    else:
        lines = [f"Nothing here has a price: {cost.total} a month."]
    return [*lines, "", "Assumptions:", "", *(f"- {text}" for text in cost.assumptions)]


def _call_paths(part: EnvironmentReport) -> list[str]:
    rows = []
    for call in part.call_paths:
        through = f" through the {call.endpoint} endpoint" if call.endpoint else ""
        decided = "<br>".join(layer.describe() for layer in call.layers)
        if call.reason:
            decided += f"<br>{call.reason}"
        rows.append(
            (
                _cell(call.runtime.split(": ", 1)[-1]),
                f"`{call.action}` on `{call.resource}` in {call.region}{through}",
                call.verdict,
                _cell(decided),
            )
        )
    return _table(
        ("runtime", "call", "verdict", "decided by"),
        rows,
        empty="No runtime here declares its calls.",
    )


def _controls(part: EnvironmentReport) -> list[str]:
    return _table(
        ("control", "status", "evidence", "watched by"),
        [
            (
                f"{control.control}: {control.title}",
                f"**{control.status}**" if control.status == "fail" else control.status,
                _cell("<br>".join(control.evidence)),
                _cell("<br>".join(control.watched_by) or NO_CONFIG_RULE),
            )
            for control in part.controls
        ],
        empty="No controls.",
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
