"""The call-path proof: every declared call allowed through every layer, nothing else readable."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from strongbox.access.calls import (
    METADATA_TYPE,
    Call,
    Runtime,
    parameter_read,
    secret_read,
)
from strongbox.access.policy import (
    KNOWN_AWS_MANAGED_POLICIES,
    Outcome,
    PrincipalMatch,
    Request,
    allows_on,
    evaluate,
    mentions_action,
    strings,
)
from strongbox.assembly.resolver import (
    Resolver,
    Stack,
    is_unresolved,
    key_arn,
    read_assembly,
    secret_id_arn,
)

Verdict = Literal["allowed", "denied", "unknown"]
LayerVerdict = Literal["allow", "deny", "unknown", "outside", "absent"]

# What no assembly holds, printed wherever a result is.
LIMITS = (
    "Not seen by this proof: service control policies, resource control policies, permission "
    "boundaries and session policies; identity policies of principals outside the assembly "
    "(CloudFormation's execution role, other accounts' readers); policies of VPC endpoints "
    "created outside the assembly; anything changed in the account after deployment."
)


@dataclass(frozen=True)
class Origin:
    """Where a policy statement is written: `pointer` leads from the template's resource to it."""

    template: Path
    logical_id: str
    pointer: tuple[str | int, ...]

    def __str__(self) -> str:
        return f"{self.template.name} {self.logical_id}.{'.'.join(map(str, self.pointer))}"


@dataclass(frozen=True)
class _Policy:
    """One layer's statements (resolved), each with where it is written (None: not in a
    template, such as an AWS managed policy's text)."""

    statements: tuple[Mapping[str, Any], ...] = ()
    origins: tuple[Origin | None, ...] = ()
    unevaluated: tuple[str, ...] = ()  # attached policies whose text is not known
    _by_action: dict[str, _Policy] = field(default_factory=dict, compare=False, repr=False)

    def for_action(self, action: str) -> _Policy:
        """Only the statements whose Action or NotAction can match `action` (the others
        cannot decide a request for it), with their origins; computed once per action."""
        found = self._by_action.get(action)
        if found is None:
            kept = [
                index
                for index, statement in enumerate(self.statements)
                if mentions_action(statement, action)
            ]
            found = _Policy(
                tuple(self.statements[i] for i in kept),
                tuple(self.origins[i] for i in kept),
                self.unevaluated,
            )
            self._by_action[action] = found
        return found

    def __add__(self, other: _Policy) -> _Policy:
        return _Policy(
            self.statements + other.statements,
            self.origins + other.origins,
            self.unevaluated + other.unevaluated,
        )


@dataclass(frozen=True)
class Layer:
    name: str  # identity, resource, key, endpoint
    verdict: LayerVerdict
    statements: tuple[str, ...]  # the deciding statements: Sid or #index, and where
    origins: tuple[Origin, ...]
    note: str = ""

    def describe(self) -> str:
        """e.g. "the key policy allows: UseThroughSecretsManagerAndSsm (<template> <path>)"."""
        text = f"the {self.name} {_VERBS[self.verdict]}"
        if self.statements:
            text += ": " + ", ".join(self.statements)
        return f"{text} ({self.note})" if self.note else text


_VERBS = {
    "allow": "allows",
    "deny": "denies",
    "unknown": "cannot decide",
    "outside": "is outside the assembly",
    "absent": "has no statement for it",
}


@dataclass(frozen=True)
class CallResult:
    runtime: str
    stack: str
    action: str
    resource: str
    region: str
    endpoint: str | None
    verdict: Verdict
    layers: tuple[Layer, ...]
    reason: str = ""
    environment: str = ""

    def line(self) -> str:
        where = f" through the {self.endpoint} endpoint" if self.endpoint else ""
        text = f"{self.runtime}: {self.action} on {self.resource} in {self.region}{where}"
        return f"{text}: {self.verdict}" + (f": {self.reason}" if self.reason else "")


@dataclass(frozen=True)
class ReadResult:
    """Whether a principal that declares no read of `target` can still read it."""

    target: str
    principal: str
    verdict: Verdict
    reason: str

    def line(self) -> str:
        return f"{self.principal} can read {self.target} but declares no read ({self.reason})"


@dataclass(frozen=True)
class Proof:
    runtimes: int
    calls: tuple[CallResult, ...]
    undeclared_readers: tuple[ReadResult, ...]
    targets: int  # secrets and SecureStrings checked in the negative direction
    order: tuple[str, ...]  # stack-order problems

    def count(self, verdict: Verdict) -> int:
        return sum(1 for result in self.calls if result.verdict == verdict)

    @property
    def ok(self) -> bool:
        return (
            self.count("allowed") == len(self.calls)
            and not self.undeclared_readers
            and not self.order
        )

    def failures(self) -> list[str]:
        lines = [result.line() for result in self.calls if result.verdict != "allowed"]
        lines += [result.line() for result in self.undeclared_readers]
        return lines + list(self.order)

    def summary(self) -> str:
        return (
            f"{self.runtimes} runtimes, {len(self.calls)} calls: {self.count('allowed')} "
            f"allowed, {self.count('denied')} denied, {self.count('unknown')} unknown; "
            f"{self.targets} secrets and SecureStrings, {len(self.undeclared_readers)} "
            f"undeclared readers; {len(self.order)} stack-order problems"
        )


def remove_assembly(directory: Path) -> None:
    """Delete what a synth wrote into `directory`: the files and nested assemblies its manifest
    names, the manifest itself and the asset directories, leaving anything else alone."""
    manifest = directory / "manifest.json"
    try:
        artifacts = json.loads(manifest.read_text(encoding="utf-8")).get("artifacts", {})
    except (OSError, ValueError, AttributeError):
        return
    names = {"manifest.json", "cdk.out", "validation-report.json"}
    for artifact in artifacts.values():
        properties = artifact.get("properties") or {}
        if artifact.get("type") == "cdk:cloud-assembly" and properties.get("directoryName"):
            shutil.rmtree(directory / str(properties["directoryName"]), ignore_errors=True)
        names.update(
            str(value)
            for value in (
                properties.get("templateFile"),
                properties.get("file"),
                artifact.get("additionalMetadataFile"),
            )
            if value
        )
    for name in names:
        (directory / name).unlink(missing_ok=True)
    for path in directory.glob("asset.*"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


def check(directory: Path) -> Proof:
    """The proof over the cloud assembly in `directory` (AssemblyError if it is unreadable)."""
    return prove(Resolver(read_assembly(directory)))


def prove(resolver: Resolver) -> Proof:
    index = _Index(resolver)
    runtimes = list(_declared(resolver))
    results = [
        index.decide(stack, runtime, call) for stack, runtime in runtimes for call in runtime.calls
    ]
    readers, targets = _undeclared_readers(index, runtimes)
    return Proof(
        runtimes=len(runtimes),
        calls=tuple(results),
        undeclared_readers=tuple(readers),
        targets=targets,
        order=tuple(_order_problems(resolver)),
    )


def _declared(resolver: Resolver) -> Iterator[tuple[Stack, Runtime]]:
    """Every runtime declared in the assembly, declarations of one construct and name merged."""
    for stack in resolver.stacks:
        merged: dict[tuple[str, str], Runtime] = {}
        for path, data in stack.metadata(METADATA_TYPE):
            runtime = Runtime.from_data(resolver.resolve_declared(stack, data))
            key = (path, runtime.name)
            if key in merged:
                earlier = merged[key]
                runtime = Runtime(
                    name=earlier.name,
                    kind=earlier.kind,
                    principal=earlier.principal,
                    calls=earlier.calls + runtime.calls,
                    source=earlier.source,
                    modeled_statements=earlier.modeled_statements + runtime.modeled_statements,
                    model=earlier.model,
                )
            merged[key] = runtime
        for runtime in merged.values():
            yield stack, runtime


@dataclass(frozen=True)
class _Endpoint:
    id: str
    vpc: str
    policy: _Policy | None  # None: no policy document, so the default full access


@dataclass
class _Index:
    """The assembly's policies by what they protect, each statement with its origin."""

    resolver: Resolver
    identities: dict[str, _Policy] = field(default_factory=dict)
    resources: dict[str, _Policy] = field(default_factory=dict)
    keys: dict[str, _Policy] = field(default_factory=dict)
    endpoints: dict[tuple[str, str, str], list[_Endpoint]] = field(default_factory=dict)
    condition_keys: set[str] = field(default_factory=set)
    _replicas: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._collect()

    # -- collecting ------------------------------------------------------------------------

    def _policy(self, stack: Stack, logical_id: str, pointer: tuple[str | int, ...]) -> _Policy:
        document: Any = stack.resources[logical_id]
        for step in pointer:
            document = document[step]
        resolved = self.resolver.resolve(stack, document)
        listed = resolved.get("Statement", []) if isinstance(resolved, dict) else []
        template = _template_path(stack)
        if isinstance(listed, dict):
            listed = [listed]
            origins: list[Origin | None] = [Origin(template, logical_id, (*pointer, "Statement"))]
        else:
            origins = [
                Origin(template, logical_id, (*pointer, "Statement", i)) for i in range(len(listed))
            ]
        statements = tuple(_normalized(s) if isinstance(s, dict) else {} for s in listed)
        for statement in statements:
            for operator in (statement.get("Condition") or {}).values():
                if isinstance(operator, dict):
                    self.condition_keys.update(str(key).lower() for key in operator)
        return _Policy(statements, tuple(origins))

    def _collect(self) -> None:
        resolver = self.resolver
        managed: dict[str, _Policy] = {}
        attached: dict[str, _Policy] = defaultdict(_Policy)
        for stack in resolver.stacks:
            for kind in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
                for logical_id, properties in stack.of_type(kind):
                    policy = self._policy(stack, logical_id, ("Properties", "PolicyDocument"))
                    if kind == "AWS::IAM::ManagedPolicy":
                        managed[str(resolver.resolve(stack, {"Ref": logical_id}))] = policy
                    for name in _listed(resolver.resolve(stack, properties.get("Roles", []))):
                        attached[f"{stack.account}/{name}"] += policy
            for logical_id, properties in stack.of_type("AWS::IAM::RolePolicy"):
                policy = self._policy(stack, logical_id, ("Properties", "PolicyDocument"))
                name = resolver.text(stack, properties.get("RoleName"))
                attached[f"{stack.account}/{name}"] += policy
        for stack in resolver.stacks:
            for logical_id, properties in stack.of_type("AWS::IAM::Role"):
                name = resolver.resolve(stack, {"Ref": logical_id})
                policy = attached[f"{stack.account}/{name}"]
                for position, _ in enumerate(properties.get("Policies", [])):
                    policy += self._policy(
                        stack, logical_id, ("Properties", "Policies", position, "PolicyDocument")
                    )
                for arn in _listed(resolver.resolve(stack, properties.get("ManagedPolicyArns"))):
                    if arn in managed:
                        policy += managed[arn]
                    elif arn in KNOWN_AWS_MANAGED_POLICIES:
                        known = KNOWN_AWS_MANAGED_POLICIES[arn]
                        policy += _Policy(tuple(known), (None,) * len(known))
                    else:
                        policy += _Policy(unevaluated=(str(arn),))
                arn = resolver.text(stack, {"Fn::GetAtt": [logical_id, "Arn"]})
                self.identities[arn] = policy
                # Who may assume it is the role's resource policy, for sts:AssumeRole.
                self.resources[arn] = self._policy(
                    stack, logical_id, ("Properties", "AssumeRolePolicyDocument")
                )
            for logical_id, properties in stack.of_type("AWS::SQS::QueuePolicy"):
                policy = self._policy(stack, logical_id, ("Properties", "PolicyDocument"))
                for queue in _listed(properties.get("Queues")):
                    if isinstance(queue, dict) and "Ref" in queue:
                        queue_arn = resolver.text(stack, {"Fn::GetAtt": [queue["Ref"], "Arn"]})
                        self.resources[queue_arn] = (
                            self.resources.get(queue_arn, _Policy()) + policy
                        )
            for logical_id, properties in stack.of_type("AWS::SecretsManager::ResourcePolicy"):
                secret = secret_id_arn(stack, resolver.text(stack, properties.get("SecretId")))
                policy = self._policy(stack, logical_id, ("Properties", "ResourcePolicy"))
                for arn in self._secret_arns(secret):
                    self.resources[arn] = self.resources.get(arn, _Policy()) + policy
            for logical_id, properties in stack.of_type("AWS::SNS::TopicPolicy"):
                policy = self._policy(stack, logical_id, ("Properties", "PolicyDocument"))
                for topic in _listed(resolver.resolve(stack, properties.get("Topics", []))):
                    self.resources[str(topic)] = self.resources.get(str(topic), _Policy()) + policy
            for logical_id, properties in stack.of_type("AWS::Lambda::Permission"):
                self._add_permission(stack, logical_id, properties)
            for kind in ("AWS::KMS::Key", "AWS::KMS::ReplicaKey"):
                for logical_id, _ in stack.of_type(kind):
                    arn = resolver.text(stack, {"Fn::GetAtt": [logical_id, "Arn"]})
                    self.keys[arn] = self._policy(stack, logical_id, ("Properties", "KeyPolicy"))
            for logical_id, properties in stack.of_type("AWS::EC2::VPCEndpoint"):
                service = resolver.text(stack, properties.get("ServiceName"))
                prefix = f"com.amazonaws.{stack.region}."
                if not service.startswith(prefix):
                    continue
                self.endpoints.setdefault(
                    (stack.environment, stack.region, service.removeprefix(prefix)), []
                ).append(
                    _Endpoint(
                        id=resolver.text(stack, {"Ref": logical_id}),
                        vpc=resolver.text(stack, properties.get("VpcId")),
                        policy=self._policy(stack, logical_id, ("Properties", "PolicyDocument"))
                        if "PolicyDocument" in properties
                        else None,
                    )
                )
        for stack in resolver.stacks:  # aliases name the key they target, in their region
            for _, properties in stack.of_type("AWS::KMS::Alias"):
                target = key_arn(stack, resolver.text(stack, properties.get("TargetKeyId")))
                if target in self.keys:
                    alias = resolver.text(stack, properties.get("AliasName"))
                    self.keys[key_arn(stack, alias)] = self.keys[target]

    def _add_permission(self, stack: Stack, logical_id: str, properties: Mapping[str, Any]) -> None:
        """A Lambda permission as the function policy statement Lambda makes of it."""
        resolver = self.resolver
        function = resolver.text(stack, properties.get("FunctionName"))
        if not function.startswith("arn:"):
            function = f"arn:aws:lambda:{stack.region}:{stack.account}:function:{function}"
        principal = resolver.text(stack, properties.get("Principal"))
        conditions: dict[str, dict[str, str]] = {}
        if "SourceArn" in properties:
            conditions["ArnLike"] = {"aws:SourceArn": resolver.text(stack, properties["SourceArn"])}
        if "SourceAccount" in properties:
            conditions["StringEquals"] = {
                "aws:SourceAccount": resolver.text(stack, properties["SourceAccount"])
            }
        statement = {
            "Effect": "Allow",
            "Principal": {"Service" if principal.endswith(".amazonaws.com") else "AWS": principal},
            "Action": resolver.text(stack, properties.get("Action")),
            "Resource": function,
            **({"Condition": conditions} if conditions else {}),
        }
        origin = Origin(_template_path(stack), logical_id, ("Properties",))
        policy = _Policy((statement,), (origin,))
        self.resources[function] = self.resources.get(function, _Policy()) + policy

    def _secret_arns(self, arn: str) -> list[str]:
        """The secret's ARN and its replicas' (same name and suffix, each replica region):
        Secrets Manager replicates the resource policy with the secret."""
        if not self._replicas:
            for stack in self.resolver.stacks:
                for logical_id, properties in stack.of_type("AWS::SecretsManager::Secret"):
                    self._replicas[self.resolver.secret_arn(stack, logical_id)] = [
                        self.resolver.text(stack, replica.get("Region"))
                        for replica in _listed(properties.get("ReplicaRegions"))
                        if isinstance(replica, dict)
                    ]
        return [arn, *(_in_region(arn, region) for region in self._replicas.get(arn, []))]

    # -- deciding --------------------------------------------------------------------------

    def decide(self, stack: Stack, runtime: Runtime, call: Call) -> CallResult:
        region = str(call.region or stack.region)
        principal = str(runtime.principal)
        resource = _text(call.resource)
        result = _Deciding(self, stack, runtime, call, region, principal, resource)
        verdict, layers, reason = result.decide()
        return CallResult(
            runtime=f"{stack.display_name}: {runtime.name}",
            stack=stack.display_name,
            action=call.action,
            resource=resource,
            region=region,
            endpoint=call.endpoint,
            verdict=verdict,
            layers=tuple(layers),
            reason=reason,
            environment=stack.environment,
        )


@dataclass
class _Deciding:
    index: _Index
    stack: Stack
    runtime: Runtime
    call: Call
    region: str
    principal: str
    resource: str

    @property
    def account(self) -> str:
        if self.runtime.kind == "service":
            return str(self.runtime.source.get("aws:SourceAccount", self.stack.account))
        return _account_of(self.principal) or self.stack.account

    def decide(self) -> tuple[Verdict, list[Layer], str]:
        for value in (self.principal, self.resource):
            if is_unresolved(value):
                return "unknown", [], f"{value} is not determined by the templates"
        endpoint, unreachable = self._find_endpoint()
        request = Request(
            caller_arn=self.principal,
            caller_account=self.account,
            action=self.call.action,
            resource=self.resource,
            context=self._context(endpoint),
        )
        identity = self._identity(request)
        resource = self._resource(request)
        through = unreachable or self._endpoint_layer(endpoint, request)
        layers = [layer for layer in (identity, resource, through) if layer is not None]
        for layer in layers:
            if layer.verdict == "deny":
                return "denied", layers, layer.describe()
        for layer in layers:
            if layer.verdict == "unknown":
                return "unknown", layers, layer.describe()
        if through is not None and through.verdict != "allow":
            return "denied", layers, through.describe()
        return self._combine(identity, resource, layers)

    def _find_endpoint(self) -> tuple[_Endpoint | None, Layer | None]:
        service = self.call.endpoint
        if service is None:
            return None, None
        found = self.index.endpoints.get((self.stack.environment, self.region, service), [])
        if not found:
            note = f"no {service} endpoint in {self.region}, and the subnets have no other route"
            return None, Layer("network", "deny", (), (), note)
        return found[0], None

    @staticmethod
    def _endpoint_layer(endpoint: _Endpoint | None, request: Request) -> Layer | None:
        if endpoint is None:
            return None
        if endpoint.policy is None:
            return Layer("endpoint policy", "allow", (), (), "none: full access")
        return _layer("endpoint policy", endpoint.policy, request, resource_based=True)

    def _combine(
        self, identity: Layer | None, resource: Layer | None, layers: list[Layer]
    ) -> tuple[Verdict, list[Layer], str]:
        identity_allows = identity is not None and identity.verdict in ("allow", "outside")
        # Across accounts both sides must allow: the caller's identity policy and the resource's
        # (or key's) policy. The resource's account is its ARN's; "*" is the caller's own.
        same_account = _account_of(self.resource) in ("", self.account)
        service = self.call.action.split(":", 1)[0]
        if service == "kms":
            assert resource is not None  # a key's policy is always a layer of a kms call
            if resource.verdict != "allow":
                return "denied", layers, resource.describe()
            delegated = resource.note == "delegates to the account's IAM"
            if (
                (delegated or not same_account)
                and not identity_allows
                and (self.runtime.kind != "service")
            ):
                why = (
                    "the key policy delegates to IAM"
                    if delegated
                    else "the key is another account's"
                )
                return "denied", layers, f"{why}, and no identity statement allows it"
            return "allowed", layers, ""
        resource_allows = (
            resource is not None
            and resource.verdict == "allow"
            and (resource.note != "delegates to the account's IAM")
        )
        if self.runtime.kind == "service":
            if resource_allows:
                return "allowed", layers, ""
            return "denied", layers, "no resource policy statement allows the service"
        if same_account and (identity_allows or resource_allows):
            return "allowed", layers, ""
        if not same_account and identity_allows and resource_allows:
            return "allowed", layers, ""
        return (
            "denied",
            layers,
            "no identity statement allows it"
            + ("" if resource is None else " and no resource policy statement names the caller"),
        )

    def _context(self, endpoint: _Endpoint | None) -> dict[str, Any]:
        runtime, call = self.runtime, self.call
        is_service = runtime.kind == "service"
        context: dict[str, Any] = {
            "aws:SecureTransport": "true",
            "aws:PrincipalArn": None if is_service else self.principal,
            "aws:PrincipalAccount": None if is_service else self.account,
            "aws:PrincipalIsAWSService": "true" if is_service else "false",
            "aws:PrincipalServiceName": self.principal if is_service else None,
            "aws:SourceArn": runtime.source.get("aws:SourceArn"),
            "aws:SourceAccount": runtime.source.get("aws:SourceAccount"),
            "aws:ViaAWSService": "true" if call.via else "false",
            "aws:SourceVpce": endpoint.id if endpoint else None,
            "aws:SourceVpc": endpoint.vpc if endpoint else None,
        }
        if call.action.startswith("kms:"):
            context["kms:CallerAccount"] = self.account
            context["kms:ViaService"] = (
                f"{call.via}.{self.region}.amazonaws.com" if call.via else None
            )
        # Keys the templates test that this request does not carry are absent, not unknown; a
        # key the calling service always sends but the declaration does not pin stays unknown.
        sent = _SENT_CONTEXT.get(call.via or "", ())
        for key in self.index.condition_keys:
            prefixes = ("kms:encryptioncontext:", "secretsmanager:versionstage")
            if key.startswith(prefixes) and key not in sent:
                context.setdefault(key, None)
        context.update({key: _text(value) for key, value in call.context.items()})
        # Condition keys are case-insensitive: one spelling each, the declared value last.
        return {key.lower(): value for key, value in context.items()}

    def _identity(self, request: Request) -> Layer | None:
        runtime = self.runtime
        if runtime.kind == "service":
            return None
        if runtime.kind == "outside":
            if runtime.model == NO_IDENTITY_POLICY:
                return Layer("identity policy", "absent", (), (), NO_IDENTITY_POLICY)
            if not runtime.modeled_statements:
                return Layer("identity policy", "outside", (), (), "not in the assembly")
            modeled = _Policy(runtime.modeled_statements, (None,) * len(runtime.modeled_statements))
            return _layer(
                "identity policy",
                modeled,
                request,
                resource_based=False,
                note=f"modeled from {runtime.model}",
            )
        policy = self.index.identities.get(self.principal)
        if policy is None:
            return Layer(
                "identity policy",
                "unknown",
                (),
                (),
                f"role {self.principal} is not in the assembly",
            )
        layer = _layer("identity policy", policy, request, resource_based=False)
        # A policy whose text is not known may allow or deny anything.
        if layer.verdict != "deny" and policy.unevaluated:
            return Layer(
                "identity policy",
                "unknown",
                (),
                (),
                "not evaluated: " + ", ".join(policy.unevaluated),
            )
        return layer

    def _resource(self, request: Request) -> Layer | None:
        service = self.call.action.split(":", 1)[0]
        if service == "kms":
            policy = self.index.keys.get(self.resource)
            if policy is None:
                return Layer(
                    "key policy", "unknown", (), (), f"{self.resource} is not in the assembly"
                )
            layer = _layer("key policy", policy, request, resource_based=True)
            return layer
        policy = self.index.resources.get(self.resource)
        if policy is None:
            return None
        return _layer("resource policy", policy, request, resource_based=True)


# The encryption context each service sends with the KMS calls it makes for a caller: Secrets
# Manager the secret's ARN and version id, Parameter Store the parameter's ARN, SNS the topic's.
_SENT_CONTEXT = {
    "secretsmanager": (
        "kms:encryptioncontext:secretarn",
        "kms:encryptioncontext:secretversionid",
    ),
    "ssm": ("kms:encryptioncontext:parameter_arn",),
    "sns": ("kms:encryptioncontext:aws:sns:topicarn",),
}


def _layer(
    name: str, policy: _Policy, request: Request, *, resource_based: bool, note: str = ""
) -> Layer:
    policy = policy.for_action(request.action)
    outcome = evaluate(policy.statements, request, resource_based=resource_based)
    return _as_layer(name, outcome, policy, note)


def _as_layer(name: str, outcome: Outcome, policy: _Policy, note: str) -> Layer:
    origins = tuple(origin for i in outcome.indices if (origin := policy.origins[i]) is not None)
    named = tuple(
        sid + (f" ({policy.origins[i]})" if policy.origins[i] else " (AWS managed)")
        for sid, i in zip(outcome.sids, outcome.indices, strict=True)
    )
    if outcome.effect == "deny":
        return Layer(name, "deny", named, origins, note)
    if outcome.deny_conditions:
        return Layer(name, "unknown", named, origins, "; ".join(outcome.deny_conditions))
    if outcome.effect == "none":
        return Layer(name, "absent", (), (), note or "no statement applies")
    if outcome.allow_conditions:
        return Layer(
            name,
            "unknown",
            named,
            origins,
            "allowed only when " + " or ".join(outcome.allow_conditions),
        )
    if outcome.principal_match is PrincipalMatch.ACCOUNT:
        note = "delegates to the account's IAM"
    return Layer(name, "allow", named, origins, note)


# Every action that returns a secret's or a SecureString's value (GetParametersByPath on any
# path above the parameter; GetParameterHistory returns past values too).
READ_ACTIONS = (
    "secretsmanager:GetSecretValue",
    "ssm:GetParameter",
    "ssm:GetParameters",
    "ssm:GetParameterHistory",
    "ssm:GetParametersByPath",
)
# A principal outside the assembly in the environment's own account is assumed to have no
# identity policy: only what a resource or key policy grants it directly counts.
NO_IDENTITY_POLICY = "assumed to allow nothing"


@dataclass(frozen=True)
class _Target:
    """A value (in one region) that must be readable by its declared readers only."""

    stack: Stack
    arn: str
    key: str | None  # None: the AWS managed key, whose policy is not in the assembly
    kind: Literal["secret", "parameter"]
    region: str
    _probes: dict[str | None, tuple[tuple[Call, ...], ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def probes(self, endpoint: str | None) -> tuple[tuple[Call, ...], ...]:
        """Each way of reading the value: the read call and the decryption it causes."""
        if endpoint not in self._probes:
            self._probes[endpoint] = tuple(self._ways(endpoint))
        return self._probes[endpoint]

    def _ways(self, endpoint: str | None) -> Iterator[tuple[Call, ...]]:
        if self.kind == "secret":
            reads = secret_read(self.arn, self.key, endpoint=endpoint)
            calls = reads if self.key is not None else reads[:1]
            yield tuple(dataclasses.replace(call, region=self.region) for call in calls)
            return
        name = self.arn.split(":parameter", 1)[1]
        paths = ["/".join(name.split("/")[:depth]) for depth in range(2, name.count("/") + 1)]
        prefix = self.arn.split(":parameter", 1)[0] + ":parameter"
        resources = [(action, self.arn) for action in READ_ACTIONS[1:4]]
        resources += [("ssm:GetParametersByPath", prefix + path) for path in paths]
        for action, resource in resources:
            read = Call(action, resource, region=self.region, endpoint=endpoint)
            decrypt = parameter_read(self.arn, self.key, endpoint=endpoint, action=action)[1]
            yield (read, dataclasses.replace(decrypt, region=self.region))


def _undeclared_readers(
    index: _Index, runtimes: Sequence[tuple[Stack, Runtime]]
) -> tuple[list[ReadResult], int]:
    """Every role of the assembly, every principal a target's policies name and a principal of
    each account they grant by condition, that can read a secret (in any of its regions) or a
    SecureString it does not declare reading."""
    declared = {
        (str(runtime.principal), _text(call.resource))
        for _, runtime in runtimes
        for call in runtime.calls
        if call.action in READ_ACTIONS
    }
    targets = list(_targets(index))
    found = []
    for target in targets:
        candidates = [(arn, "role") for arn in index.identities]
        candidates += _named_elsewhere(index, target)
        for principal, kind in candidates:
            account = _account_of(principal)
            if {(principal, target.arn), (f"arn:aws:iam::{account}:root", target.arn)} & declared:
                continue
            if kind == "role" and not _may_read(index, principal, target):
                continue
            # Outside the assembly a principal reads only what a resource policy grants it.
            if kind != "role" and not _resource_may_grant(index, target):
                continue
            verdict, reason = _reads(index, target, principal, kind)
            if verdict != "denied":
                found.append(ReadResult(target.arn, principal, verdict, reason))
    return found, len(targets)


def _may_read(index: _Index, role: str, target: _Target) -> bool:
    """False when neither the role's own policy nor the target's resource policy has any Allow
    for a read action that could apply to it: then no layer allows the read, whatever the rest
    says. The full evaluation decides every other case."""
    identity = index.identities.get(role)
    if identity is None or identity.unevaluated:
        return True
    resource = index.resources.get(target.arn)
    for probe in target.probes(None):
        read = probe[0]
        if any(allows_on(s, read.resource) for s in identity.for_action(read.action).statements):
            return True
        if resource is not None and any(
            s.get("Effect") == "Allow" for s in resource.for_action(read.action).statements
        ):
            return True
    return False


def _resource_may_grant(index: _Index, target: _Target) -> bool:
    """Whether the target's resource policy has any Allow for a read action (without one, a
    principal whose identity policy does not count, or of another account, cannot read)."""
    resource = index.resources.get(target.arn)
    return resource is not None and any(
        statement.get("Effect") == "Allow"
        for probe in target.probes(None)
        for statement in resource.for_action(probe[0].action).statements
    )


def _targets(index: _Index) -> Iterator[_Target]:
    resolver = index.resolver
    for stack in resolver.stacks:
        for logical_id, properties in stack.of_type("AWS::SecretsManager::Secret"):
            key = properties.get("KmsKeyId")
            arn = resolver.secret_arn(stack, logical_id)
            yield _Target(
                stack,
                arn,
                key_arn(stack, resolver.text(stack, key)) if key is not None else None,
                "secret",
                stack.region,
            )
            for replica in _listed(properties.get("ReplicaRegions")):
                if isinstance(replica, dict):
                    region = resolver.text(stack, replica.get("Region"))
                    key = replica.get("KmsKeyId")
                    yield _Target(
                        stack,
                        _in_region(arn, region),
                        resolver.text(stack, key) if key is not None else None,
                        "secret",
                        region,
                    )
        for _, properties in stack.of_type("Custom::SecureStringParameter"):
            name = resolver.text(stack, properties.get("ParameterName"))
            yield _Target(
                stack,
                f"arn:aws:ssm:{stack.region}:{stack.account}:parameter{name}",
                key_arn(stack, resolver.text(stack, properties.get("KeyId"))),
                "parameter",
                stack.region,
            )


def _named_elsewhere(index: _Index, target: _Target) -> list[tuple[str, str]]:
    """Principals outside the assembly that the target's resource or key policy names, and one
    principal of every account a wildcard statement's conditions name (and of an account none
    names): their identity policies are not in the assembly, so only these layers can stop
    them. Those of the target's own account are assumed to have no identity policy."""
    policies = [index.resources.get(target.arn), index.keys.get(target.key or "")]
    named: dict[str, str] = {"arn:aws:iam::999999999999:role/any-principal": "outside"}
    own = target.stack.account
    for policy in policies:
        for statement in policy.statements if policy else ():
            if statement.get("Effect") != "Allow":
                continue
            principal = statement.get("Principal")
            names = _listed(principal.get("AWS")) if isinstance(principal, dict) else []
            if principal == "*" or "*" in names:
                accounts = re.findall(r"\b[0-9]{12}\b", json.dumps(statement.get("Condition")))
                names += [f"arn:aws:iam::{account}:role/any-principal" for account in accounts]
            for name in map(str, names):
                account = _account_of(name)
                if name == "*" or name in index.identities or not account:
                    continue
                if name in (own, f"arn:aws:iam::{own}:root"):
                    continue  # the account delegating to its IAM: roles are checked one by one
                named.setdefault(name, "own account" if account == own else "outside")
    return list(named.items())


def _reads(index: _Index, target: _Target, principal: str, kind: str) -> tuple[Verdict, str]:
    """Whether `principal` can read `target` by any read action, from inside the VPC (through
    the environment's endpoint) or from anywhere else; the first way that works is the reason."""
    service = "ssm" if target.kind == "parameter" else "secretsmanager"
    if kind == "role":
        runtime = Runtime("probe", "role", principal, ())
    else:
        model = NO_IDENTITY_POLICY if kind == "own account" else ""
        runtime = Runtime("probe", "outside", principal, (), model=model)
    reason = ""
    undecided = False
    for endpoint in (None, service):
        for probe in target.probes(endpoint):
            results = [index.decide(target.stack, runtime, call) for call in probe]
            if all(result.verdict == "allowed" for result in results):
                return "allowed", "; ".join(
                    f"{result.action} on {result.resource}: "
                    + ", ".join(layer.describe() for layer in result.layers)
                    for result in results
                )
            if not undecided and all(result.verdict != "denied" for result in results):
                undecided = True
                reason = next(r for r in results if r.verdict == "unknown").reason
    return ("unknown", reason) if undecided else ("denied", "")


def _order_problems(resolver: Resolver) -> Iterator[str]:
    """Stacks that name another stack's resource without being deployed after it, and ECS
    services that can start before their roles' policies are attached."""
    by_id = {stack.artifact_id: stack for stack in resolver.stacks}
    owners: dict[str, tuple[Stack, str]] = {}
    for stack in resolver.stacks:
        for logical_id, _ in stack.of_type("AWS::SSM::Parameter"):
            _own(owners, stack, resolver.text(stack, {"Ref": logical_id}))
        for _, properties in stack.of_type("Custom::SecureStringParameter"):
            _own(owners, stack, resolver.text(stack, properties.get("ParameterName")))
        for logical_id, _ in stack.of_type("AWS::SecretsManager::Secret"):
            owners[resolver.secret_name(stack, logical_id)] = (stack, "secret")
    for stack in resolver.stacks:
        after = _deployed_after(stack, by_id)
        needs: dict[str, str] = {}
        for value in _walk(stack.template.get("Resources", {})):
            if isinstance(value, str):
                # A name as the whole value, or in a dynamic reference ({{resolve:ssm:/a/b}}).
                for name in (value, *_DYNAMIC_REFERENCE.findall(value)):
                    owner = owners.get(name)
                    if owner is not None and owner[0] is not stack:
                        needs.setdefault(owner[0].artifact_id, f"{owner[1]} {name}")
            elif "Fn::ImportValue" in value:
                export = resolver.text(stack, value["Fn::ImportValue"])
                source = resolver.exporter(stack, export)
                if source is not None and source is not stack:
                    needs.setdefault(source.artifact_id, f"export {export}")
            elif "Fn::GetStackOutput" in value:
                argument = value["Fn::GetStackOutput"]
                region = resolver.text(stack, argument.get("Region", stack.region))
                name = resolver.text(stack, argument.get("StackName"))
                source = resolver.stack_named(stack.account, region, name)
                if source is not None and source is not stack:
                    needs.setdefault(source.artifact_id, f"output {argument.get('OutputName')}")
        for artifact_id, what in needs.items():
            if artifact_id not in after:
                yield (
                    f"{stack.display_name} names {what} of {by_id[artifact_id].display_name} "
                    "but is not deployed after it (add a stack dependency)"
                )
        yield from _service_order(stack)


# The name a CloudFormation dynamic reference reads: {{resolve:ssm:NAME}}, {{resolve:ssm-secure:
# NAME:1}}, {{resolve:secretsmanager:NAME:SecretString:field::}}.
_DYNAMIC_REFERENCE = re.compile(r"\{\{resolve:(?:ssm|ssm-secure|secretsmanager):([^:}]+)")


def _own(owners: dict[str, tuple[Stack, str]], stack: Stack, name: str) -> None:
    what = "parameter"
    owners[name] = (stack, what)
    owners[f"arn:aws:ssm:{stack.region}:{stack.account}:parameter{name}"] = (stack, what)


def _deployed_after(stack: Stack, by_id: Mapping[str, Stack]) -> set[str]:
    seen: set[str] = set()
    pending = list(stack.dependencies)
    while pending:
        artifact_id = pending.pop()
        if artifact_id in seen or artifact_id not in by_id:
            continue
        seen.add(artifact_id)
        pending.extend(by_id[artifact_id].dependencies)
    return seen


def _walk(value: Any) -> Iterator[Any]:
    """Every string and every object of a template value, depth first."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _service_order(stack: Stack) -> Iterator[str]:
    resources = stack.resources
    attached: dict[str, set[str]] = defaultdict(set)  # role logical id -> policy logical ids
    for logical_id, resource in resources.items():
        if resource.get("Type") in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for role in _listed(resource.get("Properties", {}).get("Roles")):
                if isinstance(role, dict) and "Ref" in role:
                    attached[str(role["Ref"])].add(logical_id)
        if resource.get("Type") == "AWS::IAM::Role":
            for arn in _listed(resource.get("Properties", {}).get("ManagedPolicyArns")):
                if isinstance(arn, dict) and str(arn.get("Ref")) in resources:
                    attached[logical_id].add(str(arn["Ref"]))
    for logical_id, properties in stack.of_type("AWS::ECS::Service"):
        definition = resources.get(str((properties.get("TaskDefinition") or {}).get("Ref")), {})
        depends = set(_listed(resources[logical_id].get("DependsOn")))
        for role_key in ("TaskRoleArn", "ExecutionRoleArn"):
            role = definition.get("Properties", {}).get(role_key)
            if not (isinstance(role, dict) and "Fn::GetAtt" in role):
                continue
            role_id = str(role["Fn::GetAtt"][0])
            for policy in sorted(attached[role_id] - depends):
                yield (
                    f"{stack.display_name}: ECS service {logical_id} can start tasks before "
                    f"{policy}, a policy of its {role_key[:-3]}, is attached (add DependsOn)"
                )


def _normalized(statement: Mapping[str, Any]) -> dict[str, Any]:
    """The statement with its Action, Resource and their Not forms as tuples of text, which the
    evaluator reads as they are instead of converting them on every request."""
    found = dict(statement)
    for element in ("Action", "NotAction", "Resource", "NotResource"):
        if element in found:
            found[element] = strings(found[element])
    return found


def _template_path(stack: Stack) -> Path:
    if stack.template_path is None:
        raise ValueError(f"{stack.display_name}: no template file")
    return stack.template_path


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def _account_of(arn: str) -> str:
    """The account of an ARN or of a bare 12-digit account id; "" when it names none (S3)."""
    if re.fullmatch(r"[0-9]{12}", arn):
        return arn
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[0] == "arn" else ""


def _in_region(arn: str, region: str) -> str:
    parts = arn.split(":")
    parts[3] = region
    return ":".join(parts)
