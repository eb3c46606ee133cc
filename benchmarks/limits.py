"""The CloudFormation and IAM limits Strongbox's templates must stay within, checked on a cloud
assembly: `python benchmarks/limits.py cdk.out` prints each stack's largest figures and exits 1 on
a breach. tests/test_scale.py runs the same checks on a 1,000-secret environment."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MAX_RESOURCES = 500
MAX_OUTPUTS = 200
MAX_TEMPLATE_BYTES = 1_000_000
MAX_INLINE_TEMPLATE_BYTES = 51_200  # a template passed in the API call, not through S3
MAX_ROLE_INLINE_POLICIES = 10_240  # characters, all inline policies of one role, no whitespace
MAX_MANAGED_POLICY = 6_144
MAX_KEY_POLICY = 32_768
MAX_SECRET_RESOURCE_POLICY = 20_480
# What an intrinsic (Ref, Fn::GetAtt, Fn::GetStackOutput, ...) renders as when it is not a
# secret or key this module can follow: a long ARN.
RENDERED_INTRINSIC = 120
KEY_ARN = "arn:aws:kms:eu-west-1:111111111111:key/mrk-" + "0" * 32


class Renderer:
    """Renders intrinsics as the values CloudFormation will put there: a secret's ARN from its
    name (plus the 7-character suffix), a key's ARN, followed across stacks through outputs."""

    def __init__(self, templates: dict[str, dict[str, Any]]) -> None:
        self.templates = templates  # CloudFormation stack name -> template

    def value(self, intrinsic: dict[str, Any], stack: str) -> str:
        if "Fn::GetStackOutput" in intrinsic:
            output = intrinsic["Fn::GetStackOutput"]
            producer = self.templates.get(output["StackName"], {})
            value = producer.get("Outputs", {}).get(output["OutputName"], {}).get("Value")
            if isinstance(value, dict):
                return self.value(value, output["StackName"])
        target = intrinsic.get("Ref") or (intrinsic.get("Fn::GetAtt") or [None])[0]
        resource = self.templates.get(stack, {}).get("Resources", {}).get(target or "", {})
        if resource.get("Type") == "AWS::SecretsManager::Secret":
            name = resource["Properties"]["Name"]
            return f"arn:aws:secretsmanager:eu-west-1:111111111111:secret:{name}-AbCdEf"
        if resource.get("Type") == "AWS::KMS::Key":
            return KEY_ARN
        return "x" * RENDERED_INTRINSIC

    def size(self, document: Any, stack: str) -> int:
        """Characters of a policy document as IAM counts them (no whitespace)."""

        def render(value: Any) -> Any:
            if isinstance(value, dict):
                if len(value) == 1 and next(iter(value)).startswith(("Fn::", "Ref")):
                    return self.value(value, stack)
                return {key: render(item) for key, item in value.items()}
            if isinstance(value, list):
                return [render(item) for item in value]
            return value

        return len(json.dumps(render(document), separators=(",", ":")))


def stacks(outdir: Path) -> Iterator[tuple[str, Path, dict[str, Any], dict[str, Any]]]:
    """(display name, template file, template, artifact properties) of every stack; the
    properties carry `stackName`."""
    manifest = json.loads((outdir / "manifest.json").read_text())
    for artifact in manifest["artifacts"].values():
        if artifact["type"] == "cdk:cloud-assembly":
            yield from stacks(outdir / artifact["properties"]["directoryName"])
        elif artifact["type"] == "aws:cloudformation:stack":
            template_file = outdir / artifact["properties"]["templateFile"]
            template = json.loads(template_file.read_text())
            yield artifact["displayName"], template_file, template, artifact["properties"]


def breaches(outdir: Path) -> tuple[list[str], dict[str, dict[str, int]]]:
    """Every limit breach, and per stack the largest figure for each limit."""
    found: list[str] = []
    figures: dict[str, dict[str, int]] = {}
    every = list(stacks(outdir))
    renderer = Renderer({p.get("stackName", n): t for n, _, t, p in every})
    for name, template_file, template, properties in every:
        stack_name = properties.get("stackName", name)

        def rendered_size(document: Any, stack: str = stack_name) -> int:
            return renderer.size(document, stack)

        resources = template.get("Resources", {})
        size = template_file.stat().st_size
        inline_roles: dict[str, int] = {}
        largest = {"resources": len(resources), "outputs": len(template.get("Outputs", {}))}
        largest["template bytes"] = size
        for logical_id, resource in resources.items():
            kind, props = resource["Type"], resource.get("Properties", {})
            if kind == "AWS::IAM::ManagedPolicy":
                figure, limit = rendered_size(props["PolicyDocument"]), MAX_MANAGED_POLICY
                label = "managed policy"
            elif kind == "AWS::KMS::Key":
                figure, limit, label = (
                    rendered_size(props["KeyPolicy"]),
                    MAX_KEY_POLICY,
                    "key policy",
                )
            elif kind == "AWS::SecretsManager::ResourcePolicy":
                figure = rendered_size(props["ResourcePolicy"])
                limit, label = MAX_SECRET_RESOURCE_POLICY, "resource policy"
            elif kind == "AWS::IAM::Policy":
                for role in props.get("Roles", []):
                    key = json.dumps(role)
                    inline_roles[key] = inline_roles.get(key, 0) + rendered_size(
                        props["PolicyDocument"]
                    )
                continue
            elif kind == "AWS::IAM::Role":
                inline = sum(rendered_size(p["PolicyDocument"]) for p in props.get("Policies", []))
                key = json.dumps({"Ref": logical_id})
                inline_roles[key] = inline_roles.get(key, 0) + inline
                continue
            else:
                continue
            largest[label] = max(largest.get(label, 0), figure)
            if figure > limit:
                found.append(f"{name}/{logical_id}: {label} of {figure} characters > {limit}")
        largest["role inline policies"] = max(inline_roles.values(), default=0)
        for role, figure in inline_roles.items():
            if figure > MAX_ROLE_INLINE_POLICIES:
                found.append(f"{name} {role}: inline policies of {figure} > 10,240")
        if len(resources) > MAX_RESOURCES:
            found.append(f"{name}: {len(resources)} resources > {MAX_RESOURCES}")
        if largest["outputs"] > MAX_OUTPUTS:
            found.append(f"{name}: {largest['outputs']} outputs > {MAX_OUTPUTS}")
        if size > MAX_TEMPLATE_BYTES:
            found.append(f"{name}: template of {size} bytes > {MAX_TEMPLATE_BYTES}")
        if size > MAX_INLINE_TEMPLATE_BYTES and "stackTemplateAssetObjectUrl" not in properties:
            found.append(f"{name}: {size}-byte template would be passed inline")
        figures[name] = largest
    return found, figures


if __name__ == "__main__":
    problems, per_stack = breaches(Path(sys.argv[1] if len(sys.argv) > 1 else "cdk.out"))
    for stack_name, numbers in sorted(per_stack.items()):
        print(stack_name, json.dumps(numbers))
    for problem in problems:
        print("BREACH", problem)
    sys.exit(1 if problems else 0)
