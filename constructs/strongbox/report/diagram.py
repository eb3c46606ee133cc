"""One environment as a graph (keys -> secrets -> replicas -> endpoints -> consumers)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from strongbox.report.inventory import Environment
from strongbox.report.key_labels import KeyLabels

Shape = Literal["key", "secret", "replica", "endpoint", "consumer"]
_MERMAID_SHAPES = {
    "key": ('[/"', '"/]'),
    "secret": ('["', '"]'),
    "replica": ('(["', '"])'),
    "endpoint": ('{{"', '"}}'),
    "consumer": ('("', '")'),
}
_DOT_SHAPES = {
    "key": "parallelogram",
    "secret": "box",
    "replica": "box, style=rounded",
    "endpoint": "hexagon",
    "consumer": "ellipse",
}


@dataclass
class Graph:
    nodes: dict[str, tuple[str, Shape]] = field(default_factory=dict)
    edges: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    _ids: dict[tuple[Shape, str], str] = field(default_factory=dict)

    def node(self, key: str, label: str, shape: Shape) -> str:
        """The id of the node for `key` (an ARN: two roles or keys may share a label)."""
        if (shape, key) not in self._ids:
            node_id = f"{shape[0]}{sum(1 for s, _ in self._ids if s == shape)}"
            self._ids[(shape, key)] = node_id
            self.nodes[node_id] = (label, shape)
        return self._ids[(shape, key)]

    def edge(self, source: str, target: str, label: str = "") -> None:
        labels = self.edges.setdefault((source, target), [])
        if label and label not in labels:
            labels.append(label)


def graph(environment: Environment, labels: KeyLabels | None = None) -> Graph:
    """The environment's keys, secrets, replicas, endpoints and the roles that read secrets.

    A key is labelled by its alias and region, or by `labels` (default: the environment's keys)
    when the templates cannot tell its ARN."""
    result = Graph()
    labels = labels or KeyLabels(environment.keys)
    aliases = {
        key.arn: f"{key.aliases[0]} ({key.region})" if key.aliases else labels.text(key.arn)
        for key in environment.keys
    }
    endpoints = {
        (endpoint.region, endpoint.service): result.node(
            f"{endpoint.region}/{endpoint.service}",
            f"{endpoint.service} endpoint {endpoint.region} ({endpoint.availability_zones} AZ)",
            "endpoint",
        )
        for endpoint in environment.endpoints
        if endpoint.service == "secretsmanager"
    }
    for secret in environment.secrets:
        key = result.node(secret.key, aliases.get(secret.key, labels.text(secret.key)), "key")
        node = result.node(secret.arn, secret.name, "secret")
        result.edge(key, node, "encrypts")
        for replica in secret.replicas:
            copy = result.node(
                f"{secret.arn}@{replica.region}", f"{secret.name} @ {replica.region}", "replica"
            )
            result.edge(node, copy, "replicates")
            replica_key = result.node(
                replica.key, aliases.get(replica.key, labels.text(replica.key)), "key"
            )
            result.edge(replica_key, copy, "encrypts")
        through = endpoints.get((secret.region, "secretsmanager"))
        if through is not None:
            result.edge(node, through)
        for reader in secret.readers:
            consumer = result.node(reader.principal, _short(reader.principal), "consumer")
            # Another account's callers use their own network path, not this VPC's endpoint.
            via = through if through is not None and reader.account == secret.account else node
            result.edge(via, consumer, secret.name.rsplit("/", 1)[-1])
    return result


def _short(principal: str) -> str:
    """A role ARN's name, an account root as its account: labels stay readable."""
    if principal.endswith(":root"):
        return f"account {principal.split(':')[4]}"
    return principal.rsplit("/", 1)[-1]


def mermaid(environment: Environment, labels: KeyLabels | None = None) -> str:
    """A Mermaid flowchart of the environment."""
    drawn = graph(environment, labels)
    lines = ["flowchart LR"]
    for node_id, (label, shape) in drawn.nodes.items():
        opening, closing = _MERMAID_SHAPES[shape]
        lines.append(f"  {node_id}{opening}{_mermaid_text(label)}{closing}")
    for (source, target), edge_labels in drawn.edges.items():
        text = f"|{_mermaid_text(', '.join(edge_labels))}|" if edge_labels else ""
        lines.append(f"  {source} -->{text} {target}")
    return "\n".join(lines)


def _mermaid_text(text: str) -> str:
    return (
        text.replace('"', "#quot;").replace("|", "#124;").replace("<", "#lt;").replace(">", "#gt;")
    )


def dot(environment: Environment) -> str:
    """The same graph in Graphviz's DOT language."""
    drawn = graph(environment)
    lines = [f"digraph {_dot_text(environment.name)} {{", "  rankdir=LR;", "  node [fontsize=10];"]
    for node_id, (label, shape) in drawn.nodes.items():
        lines.append(f"  {node_id} [label={_dot_text(label)}, shape={_DOT_SHAPES[shape]}];")
    for (source, target), labels in drawn.edges.items():
        lines.append(f"  {source} -> {target} [label={_dot_text(', '.join(labels))}];")
    lines.append("}")
    return "\n".join(lines)


def _dot_text(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_svg(environment: Environment, target: Path) -> bool:
    """Writes the diagram as SVG with Graphviz's `dot`; False when Graphviz is not installed."""
    program = shutil.which("dot")
    if program is None:
        return False
    rendered = subprocess.run(  # noqa: S603 - a fixed program and arguments; the graph on stdin
        [program, "-Tsvg"],
        input=dot(environment),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    target.write_text(rendered.stdout, encoding="utf-8")
    return True
