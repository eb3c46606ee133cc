"""Reads a CDK cloud assembly and resolves template intrinsics to the strings they become."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STACK_ARTIFACT = "aws:cloudformation:stack"
NESTED_ASSEMBLY_ARTIFACT = "cdk:cloud-assembly"
UNKNOWN_ACCOUNT = "<account>"
UNKNOWN_REGION = "<region>"


class AssemblyError(Exception):
    """The directory is not a readable cloud assembly; the message is one line."""


@dataclass(frozen=True)
class Stack:
    """One CloudFormation stack of the assembly, with where it deploys."""

    artifact_id: str
    stack_name: str
    display_name: str
    environment: str
    account: str
    region: str
    template: Mapping[str, Any] = field(repr=False)
    # Artifact ids this stack is deployed after (the manifest's direct dependencies).
    dependencies: tuple[str, ...] = ()
    # Construct metadata: inline in the manifest, or in the file it names (read when asked).
    inline_metadata: Mapping[str, Any] = field(default_factory=dict, repr=False)
    metadata_file: Path | None = field(default=None, repr=False)
    template_path: Path | None = field(default=None, repr=False)

    def metadata(self, entry_type: str) -> Iterator[tuple[str, Any]]:
        """(construct path, data) of every construct metadata entry of `entry_type`."""
        entries: Mapping[str, Any] = self.inline_metadata
        if self.metadata_file is not None:
            stamp = self.metadata_file.stat().st_mtime_ns if self.metadata_file.exists() else 0
            entries = {**_metadata_file(self.metadata_file, stamp), **entries}
        for path, listed in entries.items():
            for entry in listed if isinstance(listed, list) else []:
                if isinstance(entry, dict) and entry.get("type") == entry_type:
                    yield path, entry.get("data")

    @property
    def resources(self) -> Mapping[str, Mapping[str, Any]]:
        resources: Mapping[str, Mapping[str, Any]] = self.template.get("Resources", {})
        return resources

    def of_type(self, resource_type: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
        """(logical id, properties) of each resource of one type, in template order."""
        for logical_id, resource in self.resources.items():
            if resource.get("Type") == resource_type:
                yield logical_id, resource.get("Properties", {})


@functools.lru_cache(maxsize=256)
def _metadata_file(path: Path, stamp: int) -> Mapping[str, Any]:
    """A stack's metadata file, read once per version (`stamp`: its modification time): it
    holds every construct's creation trace, often many times the template's size."""
    loaded = _load_json(path)
    if not isinstance(loaded, dict):
        raise AssemblyError(f"{path}: not a metadata object")
    return loaded


def read_assembly(directory: Path) -> tuple[Stack, ...]:
    """Every stack of the assembly in `directory`, stages (nested assemblies) included."""
    if not directory.is_dir():
        raise AssemblyError(f"{directory}: no such directory (run `cdk synth` first)")
    stacks = tuple(_read(directory, environment=None))
    if not stacks:
        raise AssemblyError(f"{directory}/manifest.json: the assembly has no CloudFormation stacks")
    return stacks


def _read(directory: Path, environment: str | None) -> Iterator[Stack]:
    manifest = _load_json(directory / "manifest.json")
    artifacts = manifest.get("artifacts") if isinstance(manifest, dict) else None
    if not isinstance(artifacts, dict):
        raise AssemblyError(
            f"{directory}/manifest.json: no 'artifacts' object; not a cloud assembly"
        )
    for artifact_id, artifact in artifacts.items():
        where = f"{directory}/manifest.json: artifacts.{artifact_id}"
        if not isinstance(artifact, dict) or not isinstance(artifact.get("properties", {}), dict):
            raise AssemblyError(f"{where}: not an artifact object")
        properties = artifact.get("properties") or {}
        if artifact.get("type") == NESTED_ASSEMBLY_ARTIFACT:
            nested = (directory / str(properties.get("directoryName", artifact_id))).resolve()
            if nested == directory.resolve() or directory.resolve().is_relative_to(nested):
                raise AssemblyError(f"{where}: a nested assembly cannot contain its parent")
            yield from _read(nested, str(properties.get("displayName", artifact_id)))
        elif artifact.get("type") == STACK_ARTIFACT:
            account, region = _environment(str(artifact.get("environment", "")))
            template_file = properties.get("templateFile")
            if not isinstance(template_file, str):
                raise AssemblyError(
                    f"{directory}/manifest.json: stack {artifact_id} names no templateFile"
                )
            template = _checked_template(directory / template_file)
            yield Stack(
                artifact_id=artifact_id,
                stack_name=str(properties.get("stackName", artifact_id)),
                display_name=str(artifact.get("displayName", artifact_id)),
                # Top-level stacks have no stage: they are grouped by where they deploy.
                environment=environment or f"aws://{account}/{region}",
                account=account,
                region=region,
                template=template,
                dependencies=tuple(str(d) for d in artifact.get("dependencies", [])),
                inline_metadata=artifact.get("metadata") or {},
                metadata_file=directory / str(artifact["additionalMetadataFile"])
                if "additionalMetadataFile" in artifact
                else None,
                template_path=directory / template_file,
            )


def _checked_template(path: Path) -> dict[str, Any]:
    """The template with AWS::NoValue removed, once its sections have the shapes we read."""
    template = _load_json(path)
    if not isinstance(template, dict):
        raise AssemblyError(f"{path}: not a CloudFormation template (not an object)")
    for section in ("Resources", "Outputs", "Parameters", "Mappings"):
        if not isinstance(template.get(section, {}), dict):
            raise AssemblyError(f"{path}: {section} is not an object")
    for logical_id, resource in template.get("Resources", {}).items():
        if not isinstance(resource, dict) or not isinstance(resource.get("Type", ""), str):
            raise AssemblyError(f"{path}: Resources.{logical_id} is not a resource object")
        if not isinstance(resource.get("Properties") or {}, dict):
            raise AssemblyError(f"{path}: Resources.{logical_id}.Properties is not an object")
        resource["Properties"] = resource.get("Properties") or {}
    for name, output in template.get("Outputs", {}).items():
        if not isinstance(output, dict) or not isinstance(output.get("Export", {}), dict):
            raise AssemblyError(f"{path}: Outputs.{name} is not an output object")
    stripped: dict[str, Any] = _without_no_value(template)
    return stripped


def _without_no_value(value: Any) -> Any:
    """`{"Ref": "AWS::NoValue"}` means the property is absent: remove it everywhere."""
    if isinstance(value, dict):
        return {k: _without_no_value(v) for k, v in value.items() if not _is_no_value(v)}
    if isinstance(value, list):
        return [_without_no_value(item) for item in value if not _is_no_value(item)]
    return value


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AssemblyError(f"{path}: missing (run `cdk synth` first)") from None
    except (OSError, UnicodeDecodeError) as error:
        raise AssemblyError(f"{path}: unreadable ({error.__class__.__name__})") from None
    except json.JSONDecodeError as error:
        raise AssemblyError(f"{path}: not valid JSON (line {error.lineno}: {error.msg})") from None


def _environment(value: str) -> tuple[str, str]:
    match = re.fullmatch(r"aws://([^/]+)/([^/]+)", value)
    if not match:
        return UNKNOWN_ACCOUNT, UNKNOWN_REGION
    account, region = match.groups()
    return (
        UNKNOWN_ACCOUNT if account.startswith("unknown-") else account,
        UNKNOWN_REGION if region.startswith("unknown-") else region,
    )


# How a value the templates do not determine is written (policy.py matches it only with '*').
UNRESOLVED_MARKER = "<unresolved "


def unresolved(what: str) -> str:
    """A value the templates do not determine; policy matching treats it as matching only '*'."""
    return f"{UNRESOLVED_MARKER}{what}>"


def is_unresolved(value: str) -> bool:
    return UNRESOLVED_MARKER in value


class Resolver:
    """Turns intrinsic functions into the strings CloudFormation would produce at deploy time.

    Physical names CloudFormation generates (a role without RoleName, a key's id) become stable
    placeholders built from the stack and logical id, so the same resource always resolves to
    the same string wherever it is referenced.
    """

    def __init__(self, stacks: tuple[Stack, ...]) -> None:
        self.stacks = stacks
        self._across_stacks = False
        # Stack and export names are unique only within an account and region.
        self._by_name = {(stack.account, stack.region, stack.stack_name): stack for stack in stacks}
        self._exports: dict[tuple[str, str, str], tuple[Stack, Any]] = {}
        for stack in stacks:
            for output in stack.template.get("Outputs", {}).values():
                export = output.get("Export", {}).get("Name")
                if isinstance(export, str):
                    self._exports[(stack.account, stack.region, export)] = (
                        stack,
                        output.get("Value"),
                    )

    def resolve_declared(self, stack: Stack, value: Any) -> Any:
        """`value` from `stack`'s construct metadata. CDK resolves metadata without turning a
        token of another stack into a cross-stack reference, so a Ref or GetAtt there may name a
        resource of another stack of the same stage: it resolves there when exactly one stack of
        the stage has that logical id, and stays unresolved otherwise. Templates never need this."""
        self._across_stacks = True
        try:
            return self.resolve(stack, value)
        finally:
            self._across_stacks = False

    def _owner_elsewhere(self, stack: Stack, logical_id: str) -> Stack | None:
        if not self._across_stacks:
            return None
        owners = [
            other
            for other in self.stacks
            if other.environment == stack.environment and logical_id in other.resources
        ]
        return owners[0] if len(owners) == 1 else None

    def exporter(self, stack: Stack, export: str) -> Stack | None:
        """The stack that exports `export` where `stack` deploys (None: no stack here does)."""
        found = self._exports.get((stack.account, stack.region, export))
        return found[0] if found else None

    def stack_named(self, account: str, region: str, name: str) -> Stack | None:
        return self._by_name.get((account, region, name))

    def resolve(self, stack: Stack, value: Any) -> Any:
        """`value` with every intrinsic replaced; unresolvable parts become `unresolved(...)`."""
        if isinstance(value, list):
            return [self.resolve(stack, item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((name, argument),) = value.items()
            if name == "Ref":
                return self._ref(stack, str(argument))
            if name.startswith("Fn::") or name == "Condition":
                return self._function(stack, name, argument)
        return {key: self.resolve(stack, item) for key, item in value.items()}

    def text(self, stack: Stack, value: Any) -> str:
        """`value` resolved to one string (lists joined with ',' as CloudFormation does)."""
        return _as_text(self.resolve(stack, value))

    def _function(self, stack: Stack, name: str, argument: Any) -> Any:
        if name == "Fn::GetAtt":
            logical_id, attribute = (
                argument.split(".", 1) if isinstance(argument, str) else argument
            )
            return self._get_att(stack, str(logical_id), str(attribute))
        if name == "Fn::Join":
            separator, items = argument
            resolved = self.resolve(stack, items)
            if not isinstance(resolved, list):
                return unresolved("Fn::Join")
            return str(separator).join(map(_as_text, resolved))
        if name == "Fn::Sub":
            return self._sub(stack, argument)
        if name == "Fn::Select":
            index, items = argument
            resolved = self.resolve(stack, items)
            position = self.text(stack, index)
            if isinstance(resolved, list) and position.isdigit() and int(position) < len(resolved):
                return resolved[int(position)]
            return unresolved("Fn::Select")
        if name == "Fn::Split":
            separator, source = argument
            return self.text(stack, source).split(str(separator))
        if name == "Fn::GetStackOutput":
            return self._stack_output(stack, argument)
        if name == "Fn::ImportValue":
            exported = self._exports.get((stack.account, stack.region, self.text(stack, argument)))
            if exported is None:
                return unresolved(f"Fn::ImportValue {argument}")
            return self.resolve(*exported)
        if name == "Fn::FindInMap":
            table, top, second = (self.text(stack, part) for part in argument)
            found = stack.template.get("Mappings", {}).get(table, {}).get(top, {}).get(second)
            return unresolved("Fn::FindInMap") if found is None else found
        return unresolved(name)

    def _sub(self, stack: Stack, argument: Any) -> str:
        template, variables = (argument, {}) if isinstance(argument, str) else argument

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return self.text(stack, variables[name])
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return str(self._get_att(stack, logical_id, attribute))
            return str(self._ref(stack, name))

        return re.sub(r"\$\{([^}]+)\}", replace, str(template))

    def _stack_output(self, stack: Stack, argument: Mapping[str, Any]) -> Any:
        name = self.text(stack, argument.get("StackName"))
        region = self.text(stack, argument.get("Region", stack.region))
        source = self.stack_named(stack.account, region, name)
        output_name = self.text(stack, argument.get("OutputName"))
        output = source.template.get("Outputs", {}).get(output_name) if source else None
        if source is None or output is None:
            return unresolved(f"Fn::GetStackOutput {name}.{output_name}")
        return self.resolve(source, output.get("Value"))

    def _ref(self, stack: Stack, name: str) -> Any:
        pseudo = {
            "AWS::AccountId": stack.account,
            "AWS::Region": stack.region,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack.stack_name,
        }
        if name in pseudo:
            return pseudo[name]
        if name in stack.template.get("Parameters", {}):
            default = stack.template["Parameters"][name].get("Default")
            return unresolved(f"parameter {name}") if default is None else default
        resource = stack.resources.get(name)
        if resource is None:
            owner = self._owner_elsewhere(stack, name)
            return self._ref(owner, name) if owner else unresolved(f"Ref {name}")
        return self._physical_ref(stack, name, resource)

    def _physical_ref(self, stack: Stack, logical_id: str, resource: Mapping[str, Any]) -> Any:
        kind = resource.get("Type", "")
        properties = resource.get("Properties", {})
        if kind == "AWS::SecretsManager::Secret":
            return self.secret_arn(stack, logical_id)
        if kind in ("AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group"):
            return self._iam_name(stack, logical_id)
        if kind == "AWS::IAM::ManagedPolicy":
            return self._iam_arn(stack, logical_id, "policy")
        if kind == "AWS::KMS::Key":
            prefix = "mrk-" if properties.get("MultiRegion") is True else ""
            return f"{prefix}{stack.stack_name}.{logical_id}"
        if kind == "AWS::KMS::ReplicaKey":
            primary = self.text(stack, properties.get("PrimaryKeyArn"))
            return primary.rsplit("/", 1)[-1]
        if kind == "AWS::SSM::Parameter":
            return self._named(stack, logical_id, properties, "Name")
        if kind == "AWS::KMS::Alias":
            return self.text(stack, properties.get("AliasName"))
        if kind == "AWS::Lambda::Function":
            return self._named(stack, logical_id, properties, "FunctionName")
        if kind == "AWS::SNS::Topic":
            name = self._named(stack, logical_id, properties, "TopicName")
            return f"arn:aws:sns:{stack.region}:{stack.account}:{name}"
        if kind == "AWS::Logs::LogGroup":
            return self._named(stack, logical_id, properties, "LogGroupName")
        if kind == "AWS::StepFunctions::StateMachine":
            name = self._named(stack, logical_id, properties, "StateMachineName")
            return f"arn:aws:states:{stack.region}:{stack.account}:stateMachine:{name}"
        return f"{stack.stack_name}.{logical_id}"

    def _get_att(self, stack: Stack, logical_id: str, attribute: str) -> Any:
        resource = stack.resources.get(logical_id)
        if resource is None:
            owner = self._owner_elsewhere(stack, logical_id)
            if owner is None:
                return unresolved(f"Fn::GetAtt {logical_id}.{attribute}")
            return self._get_att(owner, logical_id, attribute)
        kind = resource.get("Type", "")
        if attribute == "Arn":
            if kind in ("AWS::KMS::Key", "AWS::KMS::ReplicaKey"):
                key_id = self._physical_ref(stack, logical_id, resource)
                return f"arn:aws:kms:{stack.region}:{stack.account}:key/{key_id}"
            if kind == "AWS::IAM::Role":
                return self._iam_arn(stack, logical_id, "role")
            if kind == "AWS::IAM::User":
                return self._iam_arn(stack, logical_id, "user")
            if kind == "AWS::SecretsManager::Secret":
                return self.secret_arn(stack, logical_id)
            if kind == "AWS::Lambda::Function":
                name = self._physical_ref(stack, logical_id, resource)
                return f"arn:aws:lambda:{stack.region}:{stack.account}:function:{name}"
            named = _ARN_FORMS.get(kind)
            if named is not None:
                name_key, arn_format = named
                name = self._named(stack, logical_id, resource.get("Properties", {}), name_key)
                return arn_format.format(region=stack.region, account=stack.account, name=name)
        if kind in ("AWS::KMS::Key", "AWS::KMS::ReplicaKey") and attribute == "KeyId":
            return self._physical_ref(stack, logical_id, resource)
        if kind == "AWS::SecretsManager::Secret" and attribute == "Id":
            return self.secret_arn(stack, logical_id)
        return f"{stack.stack_name}.{logical_id}.{attribute}"

    def secret_name(self, stack: Stack, logical_id: str) -> str:
        properties = stack.resources[logical_id].get("Properties", {})
        return self._named(stack, logical_id, properties, "Name")

    def secret_arn(self, stack: Stack, logical_id: str) -> str:
        # "??????" stands for the six random characters Secrets Manager appends to every ARN;
        # patterns such as "name-??????" or "name*" match it, as they do the real ARN.
        name = self.secret_name(stack, logical_id)
        return f"arn:aws:secretsmanager:{stack.region}:{stack.account}:secret:{name}-??????"

    def _iam_name(self, stack: Stack, logical_id: str) -> str:
        resource = stack.resources[logical_id]
        name_key = {"AWS::IAM::User": "UserName", "AWS::IAM::Group": "GroupName"}.get(
            resource.get("Type", ""), "RoleName"
        )
        return self._named(stack, logical_id, resource.get("Properties", {}), name_key)

    def _iam_arn(self, stack: Stack, logical_id: str, kind: str) -> str:
        properties = stack.resources[logical_id].get("Properties", {})
        path = self.text(stack, properties.get("Path", "/"))
        name = (
            self._named(stack, logical_id, properties, "ManagedPolicyName")
            if kind == "policy"
            else self._iam_name(stack, logical_id)
        )
        return f"arn:aws:iam::{stack.account}:{kind}{path}{name}"

    def _named(self, stack: Stack, logical_id: str, properties: Mapping[str, Any], key: str) -> str:
        if key in properties:
            return self.text(stack, properties[key])
        return generated_name(stack, logical_id)


# GetAtt Arn of resource types whose ARN is built from one name property.
_ARN_FORMS = {
    "AWS::Events::Rule": ("Name", "arn:aws:events:{region}:{account}:rule/{name}"),
    "AWS::CloudWatch::Alarm": ("AlarmName", "arn:aws:cloudwatch:{region}:{account}:alarm:{name}"),
    "AWS::Logs::LogGroup": ("LogGroupName", "arn:aws:logs:{region}:{account}:log-group:{name}:*"),
    "AWS::SQS::Queue": ("QueueName", "arn:aws:sqs:{region}:{account}:{name}"),
    "AWS::StepFunctions::StateMachine": (
        "StateMachineName",
        "arn:aws:states:{region}:{account}:stateMachine:{name}",
    ),
}


def secret_id_arn(stack: Stack, secret_id: str) -> str:
    """A SecretId (ARN or name) as the ARN the resolver gives that secret."""
    if secret_id.startswith("arn:") or is_unresolved(secret_id):
        return secret_id
    return f"arn:aws:secretsmanager:{stack.region}:{stack.account}:secret:{secret_id}-??????"


def key_arn(stack: Stack, key: str) -> str:
    """The ARN of a key named by ARN, key id or alias name in `stack`'s account and region."""
    if key.startswith("arn:") or is_unresolved(key):
        return key
    name = key if key.startswith("alias/") else f"key/{key}"
    return f"arn:aws:kms:{stack.region}:{stack.account}:{name}"


def generated_name(stack: Stack, logical_id: str) -> str:
    """The placeholder for a name CloudFormation generates at deploy time."""
    return f"{stack.stack_name}-{logical_id}-<generated>"


def _is_no_value(value: Any) -> bool:
    return isinstance(value, dict) and value.get("Ref") == "AWS::NoValue"


def _as_text(resolved: Any) -> str:
    if isinstance(resolved, list):
        return ",".join(str(item) for item in resolved)
    if isinstance(resolved, dict):
        return unresolved("object")
    return str(resolved)
