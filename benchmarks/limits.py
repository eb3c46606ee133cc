"""The CloudFormation, IAM, KMS, Secrets Manager, SSM and EventBridge limits Strongbox's templates
must stay within, checked on a cloud assembly: `python benchmarks/limits.py cdk.out` prints each
stack's largest figures and exits 1 on a breach. tests/test_scale.py runs the same checks on a
1,000-secret environment, tests/test_config_limits.py on generated configs the model accepts, and
tests/test_limits.py shows each check failing on a template changed to breach it.

Only what a template shows is checked: sizes the service computes from a deployed value (a
generated password, an account's number of roles) are out of reach, and an intrinsic that is not
a secret, key or role this module can follow counts as a long ARN (RENDERED_INTRINSIC)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

# CloudFormation quotas
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html).
MAX_RESOURCES = 500
MAX_OUTPUTS = 200
MAX_TEMPLATE_BYTES = 1_000_000
MAX_INLINE_TEMPLATE_BYTES = 51_200  # a template passed in the API call, not through S3
# IAM and AWS STS quotas
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html).
MAX_ROLE_INLINE_POLICIES = 10_240  # characters, all inline policies of one role, no whitespace
MAX_MANAGED_POLICY = 6_144
MAX_ROLE_NAME = 64
MAX_ROLE_PATH = 512
MAX_ROLE_TRUST_POLICY = 2_048  # characters, no whitespace ("Role trust policy length", default)
MAX_ROLE_MANAGED_POLICIES = 10  # attached to one role ("Managed policies per role", default)
MAX_MANAGED_POLICY_NAME = 128
# CreateRole and CreatePolicy, IAM API reference: Description at most 1,000 characters
# (https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html).
MAX_IAM_DESCRIPTION = 1_000
# KMS: a key policy of CreateKey, ReplicateKey or PutKeyPolicy is at most 32 KB
# (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html); a key's
# Description at most 8,192 characters (CreateKey, ReplicateKey), an alias 256 (CreateAlias)
# (https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html).
MAX_KEY_POLICY = 32_768
MAX_KEY_DESCRIPTION = 8_192
MAX_ALIAS_NAME = 256
# Secrets Manager API reference: PutResourcePolicy's ResourcePolicy at most 20,480 characters;
# CreateSecret's Name 512, Description 2,048, SecretString 65,536 bytes; GetRandomPassword (and
# GenerateSecretString) PasswordLength 4,096
# (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html).
MAX_SECRET_RESOURCE_POLICY = 20_480
MAX_SECRET_NAME = 512
MAX_SECRET_DESCRIPTION = 2_048
MAX_SECRET_VALUE = 65_536
MAX_PASSWORD_LENGTH = 4_096
# SSM PutParameter (https://docs.aws.amazon.com/systems-manager/latest/APIReference/
# API_PutParameter.html): "The maximum length for a parameter name that you specify is 1011
# characters. This count of 1011 characters includes the characters in the ARN that precede the
# name you specify" (arn:aws:ssm:<region>:<account>:parameter); hierarchies at most fifteen
# levels; a value at most 4 KB in the Standard tier and 8 KB in the Advanced tier; a Description
# at most 1,024 characters.
MAX_PARAMETER_NAME = 1_011
MAX_PARAMETER_DEPTH = 15
MAX_PARAMETER_VALUE = {"Standard": 4_096, "Advanced": 8_192, "Intelligent-Tiering": 8_192}
MAX_PARAMETER_DESCRIPTION = 1_024
# EventBridge quotas (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html):
# "Event pattern size", 2,048 characters by default (adjustable). PutRule: Name at most 64
# characters, Description 512; PutTargets: "Each rule can have up to five (5) targets"
# (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutTargets.html).
MAX_EVENT_PATTERN = 2_048
MAX_RULE_NAME = 64
MAX_RULE_DESCRIPTION = 512
MAX_RULE_TARGETS = 5
# Tags, in every service here (Secrets Manager's TagResource, IAM's TagRole, SSM's
# AddTagsToResource, KMS, EventBridge, CloudFormation's CreateStack): at most 50 user tags a
# resource, keys of at most 128 characters and values of 256; keys starting `aws:` are reserved
# for AWS and do not count (https://docs.aws.amazon.com/general/latest/gr/aws_tagging.html,
# https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_TagResource.html).
MAX_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256

# What an intrinsic (Ref, Fn::GetAtt, Fn::GetStackOutput, ...) renders as when it is not a
# secret, key or role this module can follow: a long ARN.
RENDERED_INTRINSIC = 120
# A stack's account and region when the assembly leaves them unresolved.
DEFAULT_ACCOUNT, DEFAULT_REGION = "111111111111", "eu-west-1"


class Renderer:
    """Renders intrinsics as the values CloudFormation will put there: a secret's ARN from its
    name (plus the 7-character suffix), a key's ARN, a role's name or ARN (a generated name
    counted at IAM's longest), followed across stacks through outputs."""

    def __init__(
        self,
        templates: dict[str, dict[str, Any]],
        environments: dict[str, tuple[str, str]] | None = None,
    ) -> None:
        self.templates = templates  # CloudFormation stack name -> template
        self.environments = environments or {}  # CloudFormation stack name -> account, region

    def value(self, intrinsic: dict[str, Any], stack: str) -> str:
        if "Fn::GetStackOutput" in intrinsic:
            output = intrinsic["Fn::GetStackOutput"]
            producer = self.templates.get(output["StackName"], {})
            value = producer.get("Outputs", {}).get(output["OutputName"], {}).get("Value")
            if isinstance(value, dict):
                return self.value(value, output["StackName"])
        account, region = self.environments.get(stack, (DEFAULT_ACCOUNT, DEFAULT_REGION))
        attribute = intrinsic.get("Fn::GetAtt")
        target = intrinsic.get("Ref") or (attribute if isinstance(attribute, list) else [None])[0]
        resource = self.templates.get(stack, {}).get("Resources", {}).get(target or "", {})
        kind, props = resource.get("Type"), resource.get("Properties", {})
        if kind == "AWS::SecretsManager::Secret":
            name = props["Name"]
            return f"arn:aws:secretsmanager:{region}:{account}:secret:{name}-AbCdEf"
        if kind in ("AWS::KMS::Key", "AWS::KMS::ReplicaKey"):
            return f"arn:aws:kms:{region}:{account}:key/mrk-" + "0" * 32
        if kind == "AWS::IAM::Role":
            name = props.get("RoleName")
            name = name if isinstance(name, str) else "x" * MAX_ROLE_NAME
            path = props.get("Path")
            path = path if isinstance(path, str) else "/"
            if "Ref" in intrinsic:
                return name
            if isinstance(attribute, list) and attribute[1:] == ["Arn"]:
                return f"arn:aws:iam::{account}:role{path}{name}"
        return "x" * RENDERED_INTRINSIC

    def size(self, document: Any, stack: str) -> int:
        """Characters of a policy document or event pattern as IAM and EventBridge count them
        (compact JSON); a document given as JSON text is parsed first."""
        if isinstance(document, str):
            document = json.loads(document)

        def render(value: Any) -> Any:
            if isinstance(value, dict):
                if len(value) == 1 and next(iter(value)).startswith(("Fn::", "Ref")):
                    return self.value(value, stack)
                return {key: render(item) for key, item in value.items()}
            if isinstance(value, list):
                return [render(item) for item in value]
            return value

        return len(json.dumps(render(document), separators=(",", ":")))


class Stack(NamedTuple):
    name: str  # display name, e.g. "Strongbox-Prod/Secrets"
    template_file: Path
    template: dict[str, Any]
    properties: dict[str, Any]  # the artifact's properties: stackName, tags, ...
    account: str
    region: str


def stacks(outdir: Path) -> Iterator[Stack]:
    """Every stack of a cloud assembly, nested stage assemblies included."""
    manifest = json.loads((outdir / "manifest.json").read_text())
    for artifact in manifest["artifacts"].values():
        if artifact["type"] == "cdk:cloud-assembly":
            yield from stacks(outdir / artifact["properties"]["directoryName"])
        elif artifact["type"] == "aws:cloudformation:stack":
            template_file = outdir / artifact["properties"]["templateFile"]
            template = json.loads(template_file.read_text())
            _, account, region = (artifact.get("environment") or "aws:///").rsplit("/", 2)
            yield Stack(
                artifact["displayName"],
                template_file,
                template,
                artifact["properties"],
                account if account.isdigit() else DEFAULT_ACCOUNT,
                region if region and not region.startswith("unknown") else DEFAULT_REGION,
            )


# One figure of a resource: (label, figure, limit, unit).
Measure = tuple[str, int, int, str]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _lengths(props: dict[str, Any], limits: dict[str, tuple[str, int]]) -> Iterator[Measure]:
    """The length of each literal string property named in `limits` (key -> label, limit)."""
    for key, (label, limit) in limits.items():
        text = _text(props.get(key))
        if text is not None:
            yield label, len(text), limit, "characters"


def _tag_pairs(tags: Any) -> list[tuple[Any, Any]]:
    """A resource's Tags: a list of {Key, Value} (most types) or a map (AWS::SSM::Parameter)."""
    if isinstance(tags, dict):
        return list(tags.items())
    if isinstance(tags, list):
        return [(tag.get("Key"), tag.get("Value")) for tag in tags if isinstance(tag, dict)]
    return []


def _parameter(
    name: Any, description: Any, tier: Any, value_bytes: int | None, account: str, region: str
) -> Iterator[Measure]:
    """A Parameter Store parameter's name (with the ARN prefix SSM counts), depth, description
    and value."""
    if isinstance(name, str):
        arn_prefix = f"arn:aws:ssm:{region}:{account}:parameter" + ("" if name[:1] == "/" else "/")
        yield (
            "parameter name with ARN prefix",
            len(arn_prefix) + len(name),
            MAX_PARAMETER_NAME,
            "characters",
        )
        yield "parameter depth", name.strip("/").count("/") + 1, MAX_PARAMETER_DEPTH, "levels"
    if isinstance(description, str):
        yield "parameter description", len(description), MAX_PARAMETER_DESCRIPTION, "characters"
    if value_bytes is not None:
        limit = MAX_PARAMETER_VALUE.get(tier if isinstance(tier, str) else "Standard", 4_096)
        yield "parameter value", value_bytes, limit, "bytes"


def _measures(
    kind: str, props: dict[str, Any], size: Callable[[Any], int], account: str, region: str
) -> Iterator[Measure]:
    """Every figure of one resource that a limit applies to (tags and managed policies per role
    are counted by the caller)."""
    if kind == "AWS::IAM::ManagedPolicy":
        yield "managed policy", size(props["PolicyDocument"]), MAX_MANAGED_POLICY, "characters"
        yield from _lengths(
            props,
            {
                "ManagedPolicyName": ("managed policy name", MAX_MANAGED_POLICY_NAME),
                "Description": ("managed policy description", MAX_IAM_DESCRIPTION),
            },
        )
    elif kind == "AWS::IAM::Role":
        trust = props.get("AssumeRolePolicyDocument")
        if trust is not None:
            yield "trust policy", size(trust), MAX_ROLE_TRUST_POLICY, "characters"
        yield from _lengths(
            props,
            {
                "RoleName": ("role name", MAX_ROLE_NAME),
                "Path": ("role path", MAX_ROLE_PATH),
                "Description": ("role description", MAX_IAM_DESCRIPTION),
            },
        )
    elif kind in ("AWS::KMS::Key", "AWS::KMS::ReplicaKey"):
        yield "key policy", size(props["KeyPolicy"]), MAX_KEY_POLICY, "characters"
        yield from _lengths(props, {"Description": ("key description", MAX_KEY_DESCRIPTION)})
    elif kind == "AWS::KMS::Alias":
        yield from _lengths(props, {"AliasName": ("alias name", MAX_ALIAS_NAME)})
    elif kind == "AWS::SecretsManager::ResourcePolicy":
        policy = props["ResourcePolicy"]
        yield "resource policy", size(policy), MAX_SECRET_RESOURCE_POLICY, "characters"
    elif kind == "AWS::SecretsManager::Secret":
        yield from _lengths(
            props,
            {
                "Name": ("secret name", MAX_SECRET_NAME),
                "Description": ("secret description", MAX_SECRET_DESCRIPTION),
            },
        )
        generated = props.get("GenerateSecretString")
        if isinstance(generated, dict):
            length = generated.get("PasswordLength", 32)
            length = length if isinstance(length, int) else int(length)
            yield "generated length", length, MAX_PASSWORD_LENGTH, "characters"
            # The value: the template with `"<key>": "<generated>"` added, or the string alone.
            template = generated.get("SecretStringTemplate")
            key = generated.get("GenerateStringKey")
            secret_value = length
            if isinstance(template, str) and isinstance(key, str):
                secret_value += len(template.encode()) + len(key.encode()) + len(', "": ""')
            yield "secret value", secret_value, MAX_SECRET_VALUE, "bytes"
    elif kind == "AWS::SSM::Parameter":
        text = _text(props.get("Value"))
        yield from _parameter(
            props.get("Name"),
            props.get("Description"),
            props.get("Tier"),
            None if text is None else len(text.encode()),
            account,
            region,
        )
    elif kind == "Custom::SecureStringParameter":
        # Strongbox's provider calls PutParameter with these; a generated value is ASCII.
        generate = props.get("Generate")
        generated_length = generate.get("Length") if isinstance(generate, dict) else None
        yield from _parameter(
            props.get("ParameterName"),
            props.get("Description"),
            props.get("Tier"),
            None if generated_length is None else int(generated_length),
            account,
            region,
        )
    elif kind == "AWS::Events::Rule":
        if "EventPattern" in props:
            yield "event pattern", size(props["EventPattern"]), MAX_EVENT_PATTERN, "characters"
        yield "targets", len(props.get("Targets", [])), MAX_RULE_TARGETS, ""
        yield from _lengths(
            props,
            {
                "Name": ("rule name", MAX_RULE_NAME),
                "Description": ("rule description", MAX_RULE_DESCRIPTION),
            },
        )


def _tag_measures(pairs: list[tuple[Any, Any]], stack_tags: dict[str, Any]) -> Iterator[Measure]:
    """Tag count (the stack's tags, which CloudFormation propagates, included) and lengths."""
    keys = {key for key, _ in pairs if isinstance(key, str)} | set(stack_tags)
    yield "tags", sum(not key.lower().startswith("aws:") for key in keys), MAX_TAGS, ""
    for key, value in pairs:
        if isinstance(key, str):
            yield "tag key", len(key), MAX_TAG_KEY, "characters"
        if isinstance(value, str):
            yield "tag value", len(value), MAX_TAG_VALUE, "characters"


def _managed_policies_per_role(every: list[Stack]) -> dict[tuple[str, str], int]:
    """Managed policies attached to each role of the assembly, by (stack name, logical id):
    the role's ManagedPolicyArns and every AWS::IAM::ManagedPolicy naming it in Roles (by Ref,
    by name, or through another stack's output). A role outside the assembly is keyed
    ("", its name)."""
    templates = {s.properties.get("stackName", s.name): s.template for s in every}
    by_name = {
        props["RoleName"]: (stack, logical_id)
        for stack, template in templates.items()
        for logical_id, resource in template.get("Resources", {}).items()
        if resource["Type"] == "AWS::IAM::Role"
        for props in [resource.get("Properties", {})]
        if isinstance(props.get("RoleName"), str)
    }

    def role(reference: Any, stack: str) -> tuple[str, str]:
        if isinstance(reference, str):
            return by_name.get(reference, ("", reference))
        if isinstance(reference, dict) and "Ref" in reference:
            return stack, reference["Ref"]
        if isinstance(reference, dict) and "Fn::GetStackOutput" in reference:
            output = reference["Fn::GetStackOutput"]
            producer = templates.get(output["StackName"], {})
            value = producer.get("Outputs", {}).get(output["OutputName"], {}).get("Value")
            return role(value, output["StackName"])
        return "", json.dumps(reference)

    attached: dict[tuple[str, str], int] = {}
    for stack, template in templates.items():
        for logical_id, resource in template.get("Resources", {}).items():
            props = resource.get("Properties", {})
            if resource["Type"] == "AWS::IAM::Role":
                key = (stack, logical_id)
                attached[key] = attached.get(key, 0) + len(props.get("ManagedPolicyArns", []))
            elif resource["Type"] == "AWS::IAM::ManagedPolicy":
                for reference in props.get("Roles", []):
                    key = role(reference, stack)
                    attached[key] = attached.get(key, 0) + 1
    return attached


def _figure(figure: int, unit: str) -> str:
    return f"{figure} {unit}" if unit else str(figure)


def breaches(outdir: Path) -> tuple[list[str], dict[str, dict[str, int]]]:
    """Every limit breach, and per stack the largest figure for each limit."""
    found: list[str] = []
    figures: dict[str, dict[str, int]] = {}
    every = list(stacks(outdir))
    renderer = Renderer(
        {s.properties.get("stackName", s.name): s.template for s in every},
        {s.properties.get("stackName", s.name): (s.account, s.region) for s in every},
    )
    attached = _managed_policies_per_role(every)
    for name, template_file, template, properties, account, region in every:
        stack_name = properties.get("stackName", name)

        def rendered_size(document: Any, stack: str = stack_name) -> int:
            return renderer.size(document, stack)

        resources = template.get("Resources", {})
        size = template_file.stat().st_size
        inline_roles: dict[str, int] = {}
        largest = {"resources": len(resources), "outputs": len(template.get("Outputs", {}))}
        largest["template bytes"] = size
        stack_tags = properties.get("tags") or {}
        for logical_id, resource in resources.items():
            kind, props = resource["Type"], resource.get("Properties", {})
            if kind == "AWS::IAM::Policy":
                for role in props.get("Roles", []):
                    key = json.dumps(role)
                    inline_roles[key] = inline_roles.get(key, 0) + rendered_size(
                        props["PolicyDocument"]
                    )
            elif kind == "AWS::IAM::Role":
                inline = sum(rendered_size(p["PolicyDocument"]) for p in props.get("Policies", []))
                key = json.dumps({"Ref": logical_id})
                inline_roles[key] = inline_roles.get(key, 0) + inline
            measures = list(_measures(kind, props, rendered_size, account, region))
            if kind == "AWS::IAM::Role":
                count = attached.get((stack_name, logical_id), 0)
                measures.append(("managed policies", count, MAX_ROLE_MANAGED_POLICIES, ""))
            pairs = _tag_pairs(props.get("Tags"))
            if "Tags" in props:
                measures += _tag_measures(pairs, stack_tags)
            for key, _ in pairs:
                if isinstance(key, str) and key.lower().startswith("aws:"):
                    found.append(f"{name}/{logical_id}: tag key {key!r} is reserved for AWS")
            for label, figure, limit, unit in measures:
                largest[label] = max(largest.get(label, 0), figure)
                if figure > limit:
                    found.append(
                        f"{name}/{logical_id}: {label} of {_figure(figure, unit)} > {limit}"
                    )
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
        if len(stack_tags) > MAX_TAGS:
            found.append(f"{name}: {len(stack_tags)} stack tags > {MAX_TAGS}")
        figures[name] = largest
    # Roles outside the assembly, named by an assembly's managed policies.
    for (stack, role), count in sorted(attached.items()):
        if not stack and count > MAX_ROLE_MANAGED_POLICIES:
            found.append(f"role {role}: managed policies of {count} > {MAX_ROLE_MANAGED_POLICIES}")
    return found, figures


if __name__ == "__main__":
    problems, per_stack = breaches(Path(sys.argv[1] if len(sys.argv) > 1 else "cdk.out"))
    for stack_name, numbers in sorted(per_stack.items()):
        print(stack_name, json.dumps(numbers))
    for problem in problems:
        print("BREACH", problem)
    sys.exit(1 if problems else 0)
