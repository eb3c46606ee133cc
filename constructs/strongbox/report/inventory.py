"""What each environment of an assembly holds: secrets, keys, parameters, endpoints, readers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from strongbox.access.policy import KNOWN_AWS_MANAGED_POLICIES, PrincipalMatch, Request, evaluate
from strongbox.assembly.resolver import Resolver, Stack, is_unresolved, key_arn, secret_id_arn

READ_ACTION = "secretsmanager:GetSecretValue"
DECRYPT_ACTION = "kms:Decrypt"
AWS_MANAGED_KEY = "aws/secretsmanager (AWS managed key)"


@dataclass(frozen=True)
class Role:
    """An IAM role of the assembly with the identity policy statements attached to it."""

    arn: str
    account: str
    stack: str
    logical_id: str
    trusted: tuple[str, ...]
    statements: tuple[Mapping[str, Any], ...]
    unevaluated_policies: tuple[str, ...]
    application: str | None


@dataclass(frozen=True)
class Reader:
    """A principal that can obtain a secret's plaintext, and what it takes."""

    principal: str
    kind: Literal["role", "account", "service"]
    account: str
    conditions: tuple[str, ...]
    flags: tuple[str, ...]


@dataclass(frozen=True)
class Replica:
    region: str
    key: str


@dataclass(frozen=True)
class Secret:
    environment: str
    stack: str
    logical_id: str
    name: str
    arn: str
    account: str
    region: str
    kind: str
    tags: Mapping[str, str]
    key: str
    replicas: tuple[Replica, ...]
    rotation: str
    rotates: bool
    resource_policy: tuple[str, ...]  # each statement in full, one line each
    resource_policy_outline: tuple[str, ...]  # each statement's effect and Sid
    readers: tuple[Reader, ...]
    delegated_accounts: tuple[str, ...]

    @property
    def cross_account_readers(self) -> tuple[str, ...]:
        return tuple(
            sorted({reader.account for reader in self.readers if reader.account != self.account})
        )


@dataclass(frozen=True)
class Parameter:
    environment: str
    stack: str
    region: str
    name: str
    type: str
    tier: str


@dataclass(frozen=True)
class Key:
    environment: str
    arn: str
    aliases: tuple[str, ...]
    multi_region: bool
    replica_of: str | None
    region: str


@dataclass(frozen=True)
class Endpoint:
    environment: str
    service: str
    region: str
    availability_zones: int
    restricted_by_policy: bool


@dataclass(frozen=True)
class Environment:
    name: str
    accounts: tuple[str, ...]
    regions: tuple[str, ...]
    secrets: tuple[Secret, ...]
    parameters: tuple[Parameter, ...]
    keys: tuple[Key, ...]
    endpoints: tuple[Endpoint, ...]


def environments(resolver: Resolver) -> tuple[Environment, ...]:
    """Every environment of the assembly (a stage, or the account/region of top-level stacks)."""
    roles = _roles(resolver)
    rotations = _rotations(resolver)
    policies = _resource_policies(resolver)
    key_policies = _key_policies(resolver)
    uses = _declared_uses(resolver, rotations)
    grouped: dict[str, list[Stack]] = defaultdict(list)
    for stack in resolver.stacks:
        grouped[stack.environment].append(stack)
    return tuple(
        Environment(
            name=name,
            accounts=tuple(sorted({stack.account for stack in stacks})),
            regions=tuple(sorted({stack.region for stack in stacks})),
            secrets=tuple(
                _secret(resolver, stack, logical_id, roles, rotations, policies, key_policies, uses)
                for stack in stacks
                for logical_id, _ in stack.of_type("AWS::SecretsManager::Secret")
            ),
            parameters=tuple(_parameters(resolver, stacks)),
            keys=tuple(_keys(resolver, stacks)),
            endpoints=tuple(_endpoints(resolver, stacks)),
        )
        for name, stacks in grouped.items()
    )


def _roles(resolver: Resolver) -> tuple[Role, ...]:
    managed: dict[str, Mapping[str, Any]] = {}
    attached: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for stack in resolver.stacks:
        for kind in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
            for logical_id, properties in stack.of_type(kind):
                document = resolver.resolve(stack, properties.get("PolicyDocument", {}))
                if kind == "AWS::IAM::ManagedPolicy":
                    managed[resolver.resolve(stack, {"Ref": logical_id})] = document
                for role_name in resolver.resolve(stack, properties.get("Roles", [])):
                    attached[f"{stack.account}/{role_name}"].append(document)
    roles = []
    for stack in resolver.stacks:
        for logical_id, properties in stack.of_type("AWS::IAM::Role"):
            name = resolver.resolve(stack, {"Ref": logical_id})
            documents = [
                resolver.resolve(stack, policy.get("PolicyDocument", {}))
                for policy in properties.get("Policies", [])
            ] + attached[f"{stack.account}/{name}"]
            statements: list[Mapping[str, Any]] = []
            unevaluated = []
            for arn in resolver.resolve(stack, properties.get("ManagedPolicyArns", [])):
                if arn in managed:
                    documents.append(managed[arn])
                elif arn in KNOWN_AWS_MANAGED_POLICIES:
                    statements.extend(KNOWN_AWS_MANAGED_POLICIES[arn])
                else:
                    unevaluated.append(str(arn))
            for document in documents:
                statements.extend(_statements(document))
            trust = resolver.resolve(stack, properties.get("AssumeRolePolicyDocument", {}))
            roles.append(
                Role(
                    arn=resolver.text(stack, {"Fn::GetAtt": [logical_id, "Arn"]}),
                    account=stack.account,
                    stack=stack.display_name,
                    logical_id=logical_id,
                    trusted=tuple(_trusted(trust)),
                    statements=tuple(statements),
                    unevaluated_policies=tuple(unevaluated),
                    application=_tags(resolver, stack, properties).get("Application"),
                )
            )
    return tuple(roles)


def _statements(document: Any) -> list[Mapping[str, Any]]:
    statement = document.get("Statement", []) if isinstance(document, dict) else []
    statements = [statement] if isinstance(statement, dict) else statement
    return [s for s in statements if isinstance(s, dict)] if isinstance(statements, list) else []


def _trusted(trust: Any) -> Iterator[str]:
    for statement in _statements(trust):
        principal = statement.get("Principal", {})
        if not isinstance(principal, dict):
            yield str(principal)
            continue
        for values in principal.values():
            yield from _texts(values)


def _tags(resolver: Resolver, stack: Stack, properties: Mapping[str, Any]) -> dict[str, str]:
    tags = resolver.resolve(stack, properties.get("Tags", []))
    if isinstance(tags, dict):
        return {str(key): str(value) for key, value in tags.items()}
    return {str(tag.get("Key")): str(tag.get("Value")) for tag in tags if isinstance(tag, dict)}


@dataclass(frozen=True)
class _Rotation:
    schedule: str
    function_role: str | None


def _rotations(resolver: Resolver) -> dict[str, _Rotation]:
    """Rotation schedules by the ARN of the secret they rotate, wherever they are declared."""
    functions = {
        resolver.resolve(stack, {"Fn::GetAtt": [logical_id, "Arn"]}): resolver.text(
            stack, properties.get("Role")
        )
        for stack in resolver.stacks
        for logical_id, properties in stack.of_type("AWS::Lambda::Function")
    }
    found = {}
    for stack in resolver.stacks:
        for _, properties in stack.of_type("AWS::SecretsManager::RotationSchedule"):
            rules = properties.get("RotationRules", {})
            every = rules.get("ScheduleExpression") or (
                f"every {rules['AutomaticallyAfterDays']} days"
                if "AutomaticallyAfterDays" in rules
                else "on demand only"
            )
            hosted = properties.get("HostedRotationLambda")
            if hosted is not None:
                how = f"AWS hosted rotation ({hosted.get('RotationType', 'unknown type')})"
                function_role = None
            else:
                function = resolver.text(stack, properties.get("RotationLambdaARN"))
                how = f"Lambda {function.rsplit(':', 1)[-1]}"
                function_role = functions.get(function)
            secret_arn = secret_id_arn(stack, resolver.text(stack, properties.get("SecretId")))
            found[secret_arn] = _Rotation(f"{resolver.text(stack, every)}, {how}", function_role)
    return found


def _resource_policies(resolver: Resolver) -> dict[str, list[Mapping[str, Any]]]:
    found: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for stack in resolver.stacks:
        for _, properties in stack.of_type("AWS::SecretsManager::ResourcePolicy"):
            secret_arn = secret_id_arn(stack, resolver.text(stack, properties.get("SecretId")))
            document = resolver.resolve(stack, properties.get("ResourcePolicy", {}))
            found[secret_arn].extend(_statements(document))
    return found


@dataclass(frozen=True)
class _KeyPolicy:
    arn: str  # the key's own ARN: what IAM policies and kms:Decrypt requests name
    statements: tuple[Mapping[str, Any], ...]


def _key_policies(resolver: Resolver) -> dict[str, _KeyPolicy]:
    """Each key's policy by the key's ARN and by the ARNs of its aliases."""
    found: dict[str, _KeyPolicy] = {}
    for stack, _, properties, arn in _kms_keys(resolver, resolver.stacks):
        document = resolver.resolve(stack, properties.get("KeyPolicy", {}))
        found[arn] = _KeyPolicy(arn, tuple(_statements(document)))
    for stack, target, alias in _aliases(resolver, resolver.stacks):
        if target in found:
            found[key_arn(stack, alias)] = found[target]
    return found


def _kms_keys(
    resolver: Resolver, stacks: Sequence[Stack]
) -> Iterator[tuple[Stack, str, Mapping[str, Any], str]]:
    """Every key and replica key of `stacks`: (stack, resource type, properties, ARN)."""
    for stack in stacks:
        for kind in ("AWS::KMS::Key", "AWS::KMS::ReplicaKey"):
            for logical_id, properties in stack.of_type(kind):
                arn = resolver.text(stack, {"Fn::GetAtt": [logical_id, "Arn"]})
                yield stack, kind, properties, arn


def _aliases(resolver: Resolver, stacks: Sequence[Stack]) -> Iterator[tuple[Stack, str, str]]:
    """Every alias of `stacks`: (stack, the ARN of the key it targets, alias name)."""
    for stack in stacks:
        for _, properties in stack.of_type("AWS::KMS::Alias"):
            # Multi-region keys share their key id: the alias's own region decides which it is.
            target = key_arn(stack, resolver.text(stack, properties.get("TargetKeyId")))
            yield stack, target, resolver.text(stack, properties.get("AliasName"))


def _declared_uses(resolver: Resolver, rotations: Mapping[str, _Rotation]) -> dict[str, set[str]]:
    """What each workload role is declared to use: task definition secrets, function env, rotation.

    A role absent from the result has no declaration in the templates (an EC2 instance role), so
    nothing can be said about whether it reads more than it uses.
    """
    uses: dict[str, set[str]] = defaultdict(set)
    for stack in resolver.stacks:
        for _, properties in stack.of_type("AWS::ECS::TaskDefinition"):
            role = resolver.text(stack, properties.get("ExecutionRoleArn"))
            uses[role].update(
                resolver.text(stack, secret.get("ValueFrom"))
                for container in properties.get("ContainerDefinitions", [])
                for secret in container.get("Secrets", [])
            )
        for _, properties in stack.of_type("AWS::Lambda::Function"):
            role = resolver.text(stack, properties.get("Role"))
            variables = properties.get("Environment", {}).get("Variables", {})
            uses[role].update(resolver.text(stack, value) for value in variables.values())
    for secret_arn, rotation in rotations.items():
        if rotation.function_role is not None:
            uses[rotation.function_role].add(secret_arn)
    return uses


def _secret(
    resolver: Resolver,
    stack: Stack,
    logical_id: str,
    roles: Sequence[Role],
    rotations: Mapping[str, _Rotation],
    resource_policies: Mapping[str, Sequence[Mapping[str, Any]]],
    key_policies: Mapping[str, _KeyPolicy],
    uses: Mapping[str, set[str]],
) -> Secret:
    resource = stack.resources[logical_id]
    properties = resource.get("Properties", {})
    arn = resolver.secret_arn(stack, logical_id)
    tags = _tags(resolver, stack, properties)
    key = (
        key_arn(stack, resolver.text(stack, properties["KmsKeyId"]))
        if "KmsKeyId" in properties
        else None
    )
    rotation = rotations.get(arn)
    recorded = resource.get("Metadata", {}).get("StrongboxRotation", {})
    if rotation is not None:
        rotation_text = rotation.schedule
    elif "DisabledReason" in recorded:
        rotation_text = f"off: {recorded['DisabledReason']}"
    else:
        rotation_text = "off: no rotation schedule and no reason recorded"
    statements = resource_policies.get(arn, [])
    access = _Access(stack, arn, tags.get("Application"), statements)
    # An alias names the key; IAM policies and the decrypt request name the key's own ARN.
    policy = key_policies.get(key) if key else None
    readers, delegated = access.readers(
        roles,
        policy.arn if policy else key,
        policy.statements if policy else (None if key is None else ()),
        uses,
    )
    if rotation is not None and rotation.function_role is None:
        readers.append(
            Reader(
                principal="hosted rotation function (created at deploy time by its transform)",
                kind="service",
                account=stack.account,
                conditions=(),
                flags=(),
            )
        )
    return Secret(
        environment=stack.environment,
        stack=stack.display_name,
        logical_id=logical_id,
        name=resolver.secret_name(stack, logical_id),
        arn=arn,
        account=stack.account,
        region=stack.region,
        kind=tags.get("SecretKind", "unknown"),
        tags=tags,
        key=key or AWS_MANAGED_KEY,
        replicas=tuple(
            Replica(
                region=resolver.text(stack, replica.get("Region")),
                key=resolver.text(stack, replica["KmsKeyId"])
                if "KmsKeyId" in replica
                else AWS_MANAGED_KEY,
            )
            for replica in _list_of_objects(properties.get("ReplicaRegions"))
        ),
        rotation=rotation_text,
        rotates=rotation is not None,
        resource_policy=tuple(_summary(statement) for statement in statements),
        resource_policy_outline=tuple(
            f"{statement.get('Effect')} {statement.get('Sid', '(no Sid)')}"
            for statement in statements
        ),
        readers=tuple(readers),
        delegated_accounts=delegated,
    )


class _Access:
    """Who can read one secret: identity policy, resource policy and key policy together."""

    def __init__(
        self,
        stack: Stack,
        arn: str,
        application: str | None,
        resource_statements: Sequence[Mapping[str, Any]],
    ) -> None:
        self.stack = stack
        self.arn = arn
        self.application = application
        self.resource_statements = resource_statements

    def _read(self, caller: str, account: str) -> Request:
        return Request(
            caller_arn=caller,
            caller_account=account,
            action=READ_ACTION,
            resource=self.arn,
            context={"aws:PrincipalArn": caller, "aws:PrincipalAccount": account},
        )

    def _decrypt(self, caller: str, account: str, key: str) -> Request:
        return Request(
            caller_arn=caller,
            caller_account=account,
            action=DECRYPT_ACTION,
            resource=key,
            context={
                "aws:PrincipalArn": caller,
                "aws:PrincipalAccount": account,
                "kms:CallerAccount": account,
                "kms:ViaService": f"secretsmanager.{self.stack.region}.amazonaws.com",
                "kms:EncryptionContext:SecretARN": self.arn,
            },
        )

    def readers(
        self,
        roles: Sequence[Role],
        key: str | None,
        key_statements: Sequence[Mapping[str, Any]] | None,
        uses: Mapping[str, set[str]],
    ) -> tuple[list[Reader], tuple[str, ...]]:
        readers = [
            reader
            for role in roles
            if (reader := self._role_reader(role, key, key_statements, uses)) is not None
        ]
        readers.extend(self._external_readers(roles, key, key_statements))
        return readers, self._delegated_accounts(key, key_statements)

    def _role_reader(
        self,
        role: Role,
        key: str | None,
        key_statements: Sequence[Mapping[str, Any]] | None,
        uses: Mapping[str, set[str]],
    ) -> Reader | None:
        read = self._read(role.arn, role.account)
        identity = evaluate(role.statements, read, resource_based=False)
        resource = evaluate(self.resource_statements, read, resource_based=True)
        if "deny" in (identity.effect, resource.effect):
            return None
        same_account = role.account == self.stack.account
        named = resource.effect == "allow" and resource.principal_match in (
            PrincipalMatch.PRINCIPAL,
            PrincipalMatch.ANYONE,
        )
        if same_account:
            # Same account: the identity policy or a resource policy naming the role suffices.
            if identity.effect != "allow" and not named:
                return None
        elif identity.effect != "allow" or resource.effect != "allow":
            return None
        conditions = [*identity.allow_conditions, *identity.deny_conditions]
        conditions += [*resource.deny_conditions]
        if resource.effect == "allow" and identity.effect != "allow":
            conditions += resource.allow_conditions
        key_conditions = self._key_conditions(role, key, key_statements)
        if key_conditions is None:
            return None
        flags = list(self._flags(role, read, uses))
        return Reader(
            principal=role.arn,
            kind="role",
            account=role.account,
            conditions=tuple(dict.fromkeys([*conditions, *key_conditions])),
            flags=tuple(flags),
        )

    def _key_conditions(
        self,
        role: Role,
        key: str | None,
        key_statements: Sequence[Mapping[str, Any]] | None,
    ) -> list[str] | None:
        """The key layer: None when the key refuses this role, else its open conditions."""
        decrypt = self._decrypt(role.arn, role.account, key or AWS_MANAGED_KEY)
        identity = evaluate(role.statements, decrypt, resource_based=False)
        if identity.effect == "deny":
            return None  # an explicit Deny of kms:Decrypt in the role's own policy
        if key is None:
            # The AWS managed key is usable through Secrets Manager by its own account only.
            return [*identity.deny_conditions] if role.account == self.stack.account else None
        if key_statements is None or not key_statements:
            return [f"key {key}: policy not in the assembly, not evaluated"]
        outcome = evaluate(key_statements, decrypt, resource_based=True)
        if outcome.effect != "allow":
            return None
        conditions = [*outcome.allow_conditions, *outcome.deny_conditions]
        # A key policy that delegates to the account, or a caller of another account: the
        # role's own policy must allow kms:Decrypt too.
        if outcome.principal_match is PrincipalMatch.ACCOUNT or role.account != self.stack.account:
            if identity.effect != "allow":
                return None
            conditions += identity.allow_conditions
        return [*conditions, *identity.deny_conditions]

    def _flags(self, role: Role, read: Request, uses: Mapping[str, set[str]]) -> Iterator[str]:
        for statement in role.statements:
            if statement.get("Effect") != "Allow":
                continue
            resources = statement.get("Resource", [])
            for resource in [resources] if isinstance(resources, str) else resources or []:
                if not isinstance(resource, str):
                    continue
                # Only the pattern that grants this secret; exact ARNs end in '??????' too.
                if resource == self.arn or not _grants({**statement, "Resource": resource}, read):
                    continue
                if "*" in resource or "?" in resource:
                    yield f"wildcard grant: {resource}"
        if self.application and role.application and role.application != self.application:
            yield f"role of application {role.application}, secret of {self.application}"
        if role.arn in uses and not any(self._refers(value) for value in uses[role.arn]):
            yield "its workload does not reference this secret"
        if role.unevaluated_policies:
            yield "not evaluated: " + ", ".join(role.unevaluated_policies)

    def _refers(self, value: str) -> bool:
        # An ECS valueFrom may add ":field:stage:version" after the ARN.
        return value == self.arn or value.startswith(self.arn + ":")

    def _external_readers(
        self,
        roles: Sequence[Role],
        key: str | None,
        key_statements: Sequence[Mapping[str, Any]] | None,
    ) -> Iterator[Reader]:
        """Principals of other accounts that the resource policy names and the templates omit."""
        known = {role.arn for role in roles}
        named = dict.fromkeys(  # each principal once, however many statements name it
            principal
            for statement in self.resource_statements
            if statement.get("Effect") == "Allow"
            for principal in _aws_principals(statement.get("Principal", {}))
        )
        for principal in named:
            account = _account_of(principal)
            if principal in known or account == self.stack.account:
                continue
            read = self._read(principal, account)
            resource = evaluate(self.resource_statements, read, resource_based=True)
            if resource.effect != "allow":
                continue
            if key is None:
                continue  # an AWS managed key cannot be used by another account
            decrypt = self._decrypt(principal, account, key)
            on_key = evaluate(key_statements or [], decrypt, resource_based=True)
            if on_key.effect != "allow":
                continue
            yield Reader(
                principal=principal,
                kind="account",
                account=account,
                conditions=tuple(
                    dict.fromkeys(
                        [
                            *resource.allow_conditions,
                            *resource.deny_conditions,
                            *on_key.allow_conditions,
                            *on_key.deny_conditions,
                            f"and account {account}'s own IAM policies allow "
                            f"{READ_ACTION} and {DECRYPT_ACTION}",
                        ]
                    )
                ),
                flags=("any principal of that account its IAM allows",)
                if principal.endswith(":root") or principal == account
                else (),
            )

    def _delegated_accounts(
        self, key: str | None, key_statements: Sequence[Mapping[str, Any]] | None
    ) -> tuple[str, ...]:
        """Accounts whose IAM decides, for principals outside the assembly, if they can read."""
        if key is None:
            return (self.stack.account,)
        probe = f"arn:aws:iam::{self.stack.account}:role/principal-outside-the-assembly"
        outcome = evaluate(
            key_statements or [],
            self._decrypt(probe, self.stack.account, key),
            resource_based=True,
        )
        if outcome.effect == "allow" and outcome.principal_match is PrincipalMatch.ACCOUNT:
            return (self.stack.account,)
        return ()


def _grants(statement: Mapping[str, Any], request: Request) -> bool:
    return evaluate([statement], request, resource_based=False).effect == "allow"


def _texts(value: Any) -> list[str]:
    return [str(item) for item in (value if isinstance(value, list) else [value])]


def _list_of_objects(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _aws_principals(principal: Any) -> list[str]:
    if principal == "*":
        return ["*"]
    if not isinstance(principal, dict):
        return []
    return _texts(principal.get("AWS", []))


def _account_of(principal: str) -> str:
    if principal.isdigit():
        return principal
    parts = principal.split(":")
    return parts[4] if len(parts) > 4 and parts[4] else principal


def _summary(statement: Mapping[str, Any]) -> str:
    """One line per resource policy statement: who may (or may not) do what, and when."""
    actions = statement.get("Action", statement.get("NotAction", []))
    verb = "not " if "NotAction" in statement else ""
    principal = statement.get("Principal", {})
    who = ", ".join(_aws_principals(principal)) or str(principal)
    text = (
        f"{statement.get('Sid', '(no Sid)')}: {statement.get('Effect')} {who} "
        f"{verb}{', '.join(_texts(actions))}"
    )
    conditions = statement.get("Condition")
    if isinstance(conditions, dict):
        text += " when " + "; ".join(
            f"{operator} {key} {'|'.join(_texts(values))}"
            for operator, pairs in conditions.items()
            for key, values in (pairs.items() if isinstance(pairs, dict) else [("", pairs)])
        )
    elif conditions:
        text += f" when {conditions}"
    return text


def _parameters(resolver: Resolver, stacks: Sequence[Stack]) -> Iterator[Parameter]:
    for stack in stacks:
        for logical_id, properties in stack.of_type("AWS::SSM::Parameter"):
            yield Parameter(
                environment=stack.environment,
                stack=stack.display_name,
                region=stack.region,
                name=resolver.text(stack, {"Ref": logical_id}),
                type=resolver.text(stack, properties.get("Type", "String")),
                tier=resolver.text(stack, properties.get("Tier", "Standard")),
            )
        # CloudFormation cannot create SecureString parameters; Strongbox's provider can.
        for _, properties in stack.of_type("Custom::SecureStringParameter"):
            yield Parameter(
                environment=stack.environment,
                stack=stack.display_name,
                region=stack.region,
                name=resolver.text(stack, properties.get("ParameterName")),
                type="SecureString",
                tier=resolver.text(stack, properties.get("Tier", "Standard")),
            )


def _keys(resolver: Resolver, stacks: Sequence[Stack]) -> Iterator[Key]:
    aliases: dict[str, list[str]] = defaultdict(list)
    for _, target, alias in _aliases(resolver, stacks):
        aliases[target].append(alias)
    for stack, kind, properties, arn in _kms_keys(resolver, stacks):
        yield Key(
            environment=stack.environment,
            arn=arn,
            aliases=tuple(aliases[arn]),
            multi_region=kind == "AWS::KMS::ReplicaKey" or properties.get("MultiRegion") is True,
            replica_of=resolver.text(stack, properties.get("PrimaryKeyArn"))
            if kind == "AWS::KMS::ReplicaKey"
            else None,
            region=stack.region,
        )


def _endpoints(resolver: Resolver, stacks: Sequence[Stack]) -> Iterator[Endpoint]:
    for stack in stacks:
        for _, properties in stack.of_type("AWS::EC2::VPCEndpoint"):
            if properties.get("VpcEndpointType", "Gateway") != "Interface":
                continue  # gateway endpoints (S3, DynamoDB) cost nothing
            service = resolver.text(stack, properties.get("ServiceName"))
            subnets = resolver.resolve(stack, properties.get("SubnetIds", []))
            yield Endpoint(
                environment=stack.environment,
                service=_service_of(service, stack.region),
                region=stack.region,
                # One subnet per availability zone, as interface endpoints require.
                # At least one: an endpoint without subnets listed here still runs somewhere.
                availability_zones=max(1, len(subnets)) if isinstance(subnets, list) else 1,
                restricted_by_policy="PolicyDocument" in properties,
            )


def _service_of(service_name: str, region: str) -> str:
    """What follows the region in an endpoint's ServiceName: `com.amazonaws.eu-west-1.ecr.api` is
    `ecr.api`. A name without that region (another region's service, or unresolved) stays whole."""
    _, found, service = service_name.partition(f".{region}.")
    return service if found and not is_unresolved(service_name) else service_name
