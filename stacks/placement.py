"""Which Secrets and Parameters stack holds each secret and parameter: recorded once, never moved.

CloudFormation replaces a resource that moves to another stack: a secret gets a new value, and a
parameter created in its new stack while the old stack still holds its name fails. So an item's
stack is decided when it first appears and recorded, like a lock file: secrets (by purpose) in
`secret-placement.json`, parameters (by name) in `parameter-placement.json`. A new item goes to
the first stack of its environment with room (Secrets, Secrets2, Secrets3, ... or Parameters,
Parameters2, ...), and a stack is added when none has room. Removing an item frees its room.
Whatever order the config lists items in, and wherever a new one is inserted, a recorded item
keeps its stack.

    python -m stacks.placement   (or `make place`) records the placement of new ones

Synth places unrecorded items by the same rule (new ones in sorted order), so it works before
they are recorded; `tests/test_scale.py::test_the_shipped_placement_is_recorded` and
`tests/test_parameter_placement.py::test_the_shipped_parameter_placement_is_recorded` fail until
they are.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stacks.config import (
    MAX_ROLE_NAME,
    ConfigError,
    EnvironmentConfig,
    ParameterConfig,
    SecretConfig,
    StrongboxConfig,
)
from strongbox.alerts import EVENT_PATTERN_LIMIT
from strongbox.naming import pascal_case
from strongbox.secrets import DatabaseFields

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Shards:
    """An environment's stacks of one kind, `prefix`, `prefix`2, `prefix`3, ...: each holds items
    while the sum of their costs stays within `room`, one figure per measure (resources, bytes,
    ...). A recorded placement (environment -> `key` -> stack id) lives in `file`."""

    prefix: str
    room: tuple[int, ...]
    file: Path
    kind: str  # "secret": what the messages call an item
    key: str  # "purpose": what names an item in the file

    def stack_id(self, index: int) -> str:
        """0 -> "Secrets" (the stack of every small environment), 1 -> "Secrets2", ..."""
        return self.prefix if index == 0 else f"{self.prefix}{index + 1}"

    def place(
        self,
        costs: Mapping[str, Sequence[int]],
        recorded: Mapping[str, str],
        *,
        shared: Mapping[str, tuple[str, Sequence[int]]] | None = None,
        reserved: Sequence[int] | None = None,
    ) -> dict[str, str]:
        """Item -> stack id: recorded items where they are, new ones (by their `costs`, one
        figure per measure of `room`) first-fit in sorted order. `shared` gives some items a
        group and its cost, which a stack pays once for all of its items of that group (the
        rotation function they share); `reserved` is what the first stack holds besides its
        items (the environment's alerts). A stack without items takes any item, so one that
        alone exceeds the room still gets a stack of its own."""
        shared = shared or {}
        placement: dict[str, str] = {}
        used: dict[str, list[int]] = {self.stack_id(0): list(reserved or [0] * len(self.room))}
        groups: dict[str, set[str]] = {}
        members: dict[str, int] = {}

        def cost(name: str, stack: str) -> list[int]:
            """What `name` adds to `stack`: its own cost and, if it is the first of its group
            there, the group's."""
            group, group_cost = shared.get(name, ("", ()))
            added = list(costs[name])
            if group and group not in groups.get(stack, set()):
                added = [own + extra for own, extra in zip(added, group_cost, strict=True)]
            return added

        def put(name: str, stack: str) -> None:
            total = used.setdefault(stack, [0] * len(self.room))
            for measure, figure in enumerate(cost(name, stack)):
                total[measure] += figure
            if name in shared:
                groups.setdefault(stack, set()).add(shared[name][0])
            members[stack] = members.get(stack, 0) + 1
            placement[name] = stack

        def fits(name: str, stack: str) -> bool:
            if not members.get(stack):
                return True
            return all(
                total + figure <= room
                for total, figure, room in zip(
                    used[stack], cost(name, stack), self.room, strict=True
                )
            )

        for name in sorted(costs):
            if name in recorded:
                put(name, recorded[name])
        for name in sorted(set(costs) - set(placement)):
            index = 0
            while not fits(name, self.stack_id(index)):
                index += 1
            put(name, self.stack_id(index))
        return dict(sorted(placement.items()))

    def order(self, placement: Mapping[str, str]) -> list[str]:
        """The environment's stacks of this kind in index order; the first always exists."""
        ids = set(placement.values()) | {self.stack_id(0)}
        return sorted(ids, key=lambda name: int(name.removeprefix(self.prefix) or "1"))

    def parse_recorded(self, value: Any, where: str) -> dict[str, dict[str, str]]:
        """A recorded placement (environment -> item -> stack id) read from `where` (the file,
        or a context value), or a ConfigError naming the bad entry."""
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as error:
                raise ConfigError(where, f"is not valid JSON: {error}") from None
        if not isinstance(value, dict):
            raise ConfigError(
                where, f"must be an object: environment -> {self.kind} {self.key} -> stack id"
            )
        allowed = re.compile(rf"^{self.prefix}([2-9]|[1-9][0-9]+)?$")
        for environment, items in value.items():
            if not isinstance(items, dict):
                raise ConfigError(
                    f"{where}.{environment}", f"must be an object: {self.key} -> stack id"
                )
            for name, stack in items.items():
                if not isinstance(stack, str) or not allowed.match(stack):
                    raise ConfigError(
                        f"{where}.{environment}.{name}",
                        f"{stack!r} is not allowed; expected {self.prefix}, {self.prefix}2, "
                        f"{self.prefix}3, ...",
                    )
        return value

    def load(self, path: Path | None = None) -> dict[str, dict[str, str]]:
        """Environment -> item -> stack id, as recorded (empty when there is no file)."""
        path = path or self.file
        if not path.exists():
            return {}
        return self.parse_recorded(path.read_text(), path.name)


# Room in one Secrets stack, for three limits:
# - 80 secrets, and CloudFormation's 200 outputs: a secret has at most 2 (its ARN for consumers,
#   and for the Database stack).
# - CloudFormation's 500 resources: a secret costs up to 4 (secret, resource policy, rotation
#   schedule, invoke permission), a rotation function 8 in the stack that holds it (function,
#   role, policy, log group, queue and its policy, security group, and policies for its secrets
#   past the first forty or so), the alerts 5 in the first stack plus one a subscribed email and
#   one a rotation function's alarm. At most 400 keeps room for the CDK's metadata and the
#   hosted rotation's security group.
# - CloudFormation's 1,048,576-byte template: a secret costs `secret_template_bytes`' estimate,
#   a rotation function ROTATION_FUNCTION_BYTES in the stack that holds it, the alerts
#   `alerts_cost`'s in the first stack, the stack's own part SECRETS_STACK_BYTES; each stack
#   stays under 800,000 in all, far enough from the limit for the estimates to err.
MAX_SECRETS_PER_STACK = 80
MAX_RESOURCES_PER_STACK = 400
SECRETS_STACK_BYTES, MAX_SECRETS_TEMPLATE_BYTES = 3_000, 800_000
SECRETS = Shards(
    "Secrets",
    (
        MAX_SECRETS_PER_STACK,
        MAX_RESOURCES_PER_STACK,
        MAX_SECRETS_TEMPLATE_BYTES - SECRETS_STACK_BYTES,
    ),
    ROOT / "secret-placement.json",
    kind="secret",
    key="purpose",
)

# Room in one Parameters stack, for three limits:
# - CloudFormation's 500 resources: a parameter is one; the stack's own are the SecureString
#   provider's seven (function, role, policy, log group, queue and its policy, security group)
#   and the CDK's metadata. 12 are spare.
# - CloudFormation's 1,048,576-byte template: a parameter costs `parameter_cost`'s estimate, the
#   stack's own part 16,000 bytes (the shipped prod stack is 14,444 with three parameters), and
#   each stack stays under 800,000 in all, far enough from the limit for the estimate to err.
# - IAM's 6,144 characters of the provider's one managed policy, which names each SecureString's
#   ARN twice (its statement and the KMS encryption-context condition) and, for a copy, reads
#   its secret: about 1,400 are the policy's own, the rest is the SecureStrings'.
MAX_PARAMETERS_PER_STACK = 500 - 8 - 12
PARAMETERS_STACK_BYTES, MAX_PARAMETERS_TEMPLATE_BYTES = 16_000, 800_000
PROVIDER_POLICY_CHARACTERS, MAX_PROVIDER_POLICY = 1_400, 6_144 - 600
# A copied SecureString's part of the provider's policy: the secret's ARN (a cross-stack
# reference) in GetSecretValue, its key in a kms:Decrypt statement and their conditions, counted
# whole for every copy although copies of one secret share them.
COPY_POLICY_CHARACTERS = 600
PARAMETERS = Shards(
    "Parameters",
    (
        MAX_PARAMETERS_PER_STACK,
        MAX_PARAMETERS_TEMPLATE_BYTES - PARAMETERS_STACK_BYTES,
        MAX_PROVIDER_POLICY - PROVIDER_POLICY_CHARACTERS,
    ),
    ROOT / "parameter-placement.json",
    kind="parameter",
    key="name",
)

PLACEMENT_FILE = SECRETS.file
PARAMETER_PLACEMENT_FILE = PARAMETERS.file


def stack_id(index: int) -> str:
    """0 -> "Secrets", 1 -> "Secrets2", ..."""
    return SECRETS.stack_id(index)


def resource_cost(secret: SecretConfig) -> int:
    """Resources a secret adds to its stack."""
    rotation = secret.rotation
    if not rotation.enabled:
        return 2
    return 4 if rotation.strategy == "token" else 3


# Template bytes, measured on synthesized templates (tests/test_secret_placement.py holds the
# estimates above the real sizes): what a secret, a rotation function and the alerts add besides
# the text named beside each in `secret_template_bytes`, `rotation_function_cost` and
# `alerts_cost`, rounded up. The CDK writes templates indented by one space a level, so every
# figure includes its lines' indentation.
SECRET_BYTES = 1_750  # the secret, its resource policy and an output naming it
TAG_BYTES = 45  # a tag besides its key and value
REFERENCE_BYTES = 250  # a reference to another stack's output besides its stack and region
REPLICA_BYTES = 120  # a replica region's entry besides its key's reference
PRINCIPAL_BYTES = 14  # an ARN in the resource policy's list of exempt principals
READER_BYTES = 260  # a cross-account reader's statement besides its principal and Sid
VPC_ENDPOINT_BYTES = 700  # the endpoint statement besides its principals and endpoints
DISABLED_BYTES = 80  # the metadata saying why it does not rotate besides the reason
TOKEN_BYTES = 1_100  # schedule, invoke permission and the function policy's entry
HOSTED_BYTES = 400  # the schedule of a hosted rotation besides its references
ROTATION_FUNCTION_BYTES = 9_000  # a function with its first policy, both KMS statements
ROTATION_FUNCTION_REGION_BYTES = 450  # a replica region in the function's KMS statements
ALERTS_BYTES = 8_000  # topic, its policy and both rules, the read pattern's other roles
EMAIL_BYTES = 250  # a subscription besides its address (which its logical id repeats)
# A function's alarm, its ARN in the topic's policy and its role (a reference to another
# stack's output) in the read pattern, besides the stage's name in each.
ALARM_BYTES = 1_300
# The most rotation functions an environment can have: the unexpected-read pattern names each
# one's role, its name generated at IAM's longest, quoted and comma-separated, within
# EventBridge's 2,048 characters (stacks/stage.py refuses more).
MAX_ROTATION_FUNCTIONS = EVENT_PATTERN_LIMIT // (
    len("arn:aws:iam::") + 12 + len(":role/") + MAX_ROLE_NAME + 3
)


def _json_bytes(value: str) -> int:
    """Bytes of `value` as a JSON string in a template (UTF-8, quotes and escapes included)."""
    return len(json.dumps(value, ensure_ascii=False).encode())


def secret_template_bytes(
    application: str, environment: EnvironmentConfig, secret: SecretConfig
) -> int:
    """What a secret adds to its Secrets stack's template, an upper bound: SECRET_BYTES besides
    the text of its config (name, description, owner, tags, generation, template, rotation) and
    its environment's (replica regions, the principals of its resource policy, cross-stack
    references), its logical id as often as the template repeats it, and the resources its
    rotation adds (the function itself is `rotation_function_cost`'s)."""
    rotation, generation = secret.rotation, secret.generation.resolved(secret.kind)
    stage, region, account = environment.stage_name, environment.region, environment.account
    reference = REFERENCE_BYTES + len(stage) + len(region)
    # The id is the secret's, its resource policy's, its output's and (rotated) its schedule's
    # and invoke permission's, each named and referenced.
    logical_id = len(pascal_case(secret.purpose))
    total = SECRET_BYTES + reference + (5 + 6 * (rotation.strategy == "token")) * logical_id
    total += sum(
        _json_bytes(text)
        for text in (
            f"{environment.name}/{application}/{secret.purpose}",
            secret.description,
            secret.owner,
            application,
            secret.purpose,
            environment.name,
            secret.kind,
        )
    )
    total += sum(
        TAG_BYTES + _json_bytes(key) + _json_bytes(value) for key, value in secret.tags.items()
    )
    template, generated_key = _value_template(application, secret)
    if template is not None:
        total += _json_bytes(json.dumps(template, sort_keys=True)) + _json_bytes(generated_key)
    excluded = _json_bytes(generation.exclude_characters) if generation.exclude_characters else 0
    total += excluded
    if secret.replicate:
        total += len(environment.replica_regions) * (REPLICA_BYTES + reference + 2 * len(region))
    principals = [
        f"arn:aws:iam::{account}:root",
        f"arn:aws:iam::{account}:role/cdk-hnb659fds-cfn-exec-role-{account}-{region}",
        *environment.key_administrators,
    ]
    # Listed once, and again in the endpoint statement.
    total += (1 + secret.vpc_endpoint_only) * sum(
        PRINCIPAL_BYTES + _json_bytes(principal) for principal in principals
    )
    # A reader's Sid names its account (and role); its principal is its ARN or its account's root.
    total += sum(
        READER_BYTES + 2 * _json_bytes(reader) + 20
        for reader in dict.fromkeys(secret.cross_account_readers)
    )
    if secret.vpc_endpoint_only:
        created = "secretsmanager" in environment.network.endpoints
        total += VPC_ENDPOINT_BYTES + reference * created
        total += sum(
            PRINCIPAL_BYTES + _json_bytes(endpoint)
            for endpoint in environment.network.vpc_endpoint_ids
        )
    if not rotation.enabled:
        return total + DISABLED_BYTES + _json_bytes(rotation.disabled_reason or "")
    # Its schedule, in the rules and in the metadata with the stack's name.
    total += 2 * _json_bytes(rotation.schedule or "") + _json_bytes(rotation.window or "")
    total += len(stage) + len("-Secrets") + 5
    workload = environment.workload
    if workload and workload.database and workload.database.credentials == secret.purpose:
        return total  # the Database stack rotates them, once attached
    if rotation.strategy == "token":
        return total + TOKEN_BYTES
    # Hosted rotation: the key twice, the subnets, the characters it excludes, a master secret.
    subnets = len(environment.availability_zones)
    master = rotation.master_secret
    total += HOSTED_BYTES + (2 + subnets) * reference + excluded + 2 * logical_id
    return total + (reference + len(pascal_case(master)) if master else 0)


def _value_template(
    application: str, secret: SecretConfig
) -> tuple[dict[str, str | int | bool] | None, str]:
    """The fields a secret's value is generated into (as `ManagedSecret` writes them in
    SecretStringTemplate) and the key of the generated one."""
    if secret.kind == "database" and secret.database is not None:
        database = secret.database
        fields = DatabaseFields(
            engine=database.engine,
            username=database.username,
            dbname=database.dbname or application.replace("-", "_"),
            port=database.port,
        )
        return dict(fields.template()), "password"
    if secret.kind == "json":
        return dict(secret.template or {}), secret.generate_key or "value"
    return None, ""


def rotation_function(secret: SecretConfig) -> str | None:
    """The rotation function a token-rotated secret shares with the others of its stack that
    generate alike (SecretsStack makes one per generation and generated field), else None."""
    if secret.rotation.strategy != "token":
        return None
    field = (secret.generate_key or "value") if secret.kind == "json" else None
    return repr((secret.generation.resolved(secret.kind), field))


def rotation_function_cost(environment: EnvironmentConfig) -> tuple[int, int, int]:
    """What a rotation function adds to the stack that holds it: no secret, its resources and
    its template bytes (its KMS statements name every region)."""
    regions = len(environment.replica_regions)
    return 0, 8, ROTATION_FUNCTION_BYTES + regions * ROTATION_FUNCTION_REGION_BYTES


def alerts_cost(environment: EnvironmentConfig) -> tuple[int, int, int]:
    """What the environment's alerts add to its first Secrets stack: no secret, resources and
    template bytes, with an alarm for as many rotation functions as the environment can have."""
    emails = environment.alerts.emails
    return (
        0,
        5 + len(emails) + MAX_ROTATION_FUNCTIONS,
        ALERTS_BYTES
        + sum(EMAIL_BYTES + 2 * _json_bytes(email) for email in emails)
        + MAX_ROTATION_FUNCTIONS * (ALARM_BYTES + 3 * len(environment.stage_name)),
    )


def secret_cost(
    application: str, environment: EnvironmentConfig, secret: SecretConfig
) -> tuple[int, int, int]:
    """What a secret adds to its Secrets stack: one secret, its resources and template bytes."""
    return 1, resource_cost(secret), secret_template_bytes(application, environment, secret)


def place(
    secrets: Sequence[SecretConfig],
    recorded: Mapping[str, str],
    *,
    application: str = "",
    environment: EnvironmentConfig | None = None,
) -> dict[str, str]:
    """Purpose -> Secrets stack id: recorded secrets where they are, new ones first-fit in
    sorted order within each stack's room: at most 80 secrets and 400 resources and, given the
    environment and application the secrets belong to (as synth and `make place` give them),
    800,000 template bytes with the rotation functions and alerts. Without an environment
    secrets are placed by counts alone (a bare list has no policies or replicas to measure)."""
    if environment is None:
        return SECRETS.place({s.purpose: (1, resource_cost(s), 0) for s in secrets}, recorded)
    function = rotation_function_cost(environment)
    return SECRETS.place(
        {s.purpose: secret_cost(application, environment, s) for s in secrets},
        recorded,
        shared={
            s.purpose: (group, function)
            for s in secrets
            if (group := rotation_function(s)) is not None
        },
        reserved=alerts_cost(environment),
    )


def place_secrets(
    application: str, environment: EnvironmentConfig, recorded: Mapping[str, str]
) -> dict[str, str]:
    """Purpose -> Secrets stack id of every secret of `environment`: `place` with every
    measure."""
    return place(environment.secrets, recorded, application=application, environment=environment)


def rotation_functions(
    application: str, environment: EnvironmentConfig, recorded: Mapping[str, str]
) -> set[tuple[str, str]]:
    """(Secrets stack id, generation) of each rotation function of the environment: a stack
    has one for each generation (and generated field) its token-rotated secrets use."""
    placement = place_secrets(application, environment, recorded)
    return {
        (placement[s.purpose], group)
        for s in environment.secrets
        if (group := rotation_function(s)) is not None
    }


def rotation_function_count(
    application: str, environment: EnvironmentConfig, recorded: Mapping[str, str]
) -> int:
    """How many rotation functions the environment's Secrets stacks hold, each a role the
    unexpected-read rule names (`recorded`: the environment's recorded secret placement)."""
    return len(rotation_functions(application, environment, recorded))


def stack_order(placement: Mapping[str, str]) -> list[str]:
    """The environment's Secrets stacks in index order."""
    return SECRETS.order(placement)


def parse_recorded(value: Any, where: str) -> dict[str, dict[str, str]]:
    """A recorded secret placement (environment -> purpose -> stack id) read from `where` (the
    file, or the `strongbox-placement` context), or a ConfigError naming the bad entry."""
    return SECRETS.parse_recorded(value, where)


def load(path: Path = PLACEMENT_FILE) -> dict[str, dict[str, str]]:
    """Environment -> purpose -> Secrets stack id, as recorded (empty when there is no file)."""
    return SECRETS.load(path)


def parameter_cost(
    application: str, environment: EnvironmentConfig, parameter: ParameterConfig
) -> tuple[int, int, int]:
    """What a parameter adds to its Parameters stack: one resource; template bytes, an upper
    bound (the resource as the CDK writes it is under 600 bytes besides its full name, twice,
    description and value; a SecureString adds its ARN to the provider's policy); and characters
    of the provider's policy."""
    full_name = f"/{application}/{environment.name}/{parameter.name}"
    template = (
        600
        + 2 * len(full_name)
        + len(json.dumps(parameter.description))
        + len(json.dumps(parameter.value or ""))
    )
    policy = 0
    if parameter.type == "SecureString":
        arn = f"arn:aws:ssm:{environment.region}:{environment.account}:parameter{full_name}"
        copied = parameter.source is not None and parameter.source.secret is not None
        policy = 2 * (len(arn) + 3) + (COPY_POLICY_CHARACTERS if copied else 0)
        template += 2 * policy  # the policy as the template indents it
    return 1, template, policy


def place_parameters(
    application: str, environment: EnvironmentConfig, recorded: Mapping[str, str]
) -> dict[str, str]:
    """Name -> Parameters stack id: recorded parameters where they are, new ones first-fit in
    sorted order within each stack's room (resources, template bytes, the provider's policy)."""
    return PARAMETERS.place(
        {p.name: parameter_cost(application, environment, p) for p in environment.parameters},
        recorded,
    )


def record(
    config: StrongboxConfig,
    path: Path = PLACEMENT_FILE,
    parameter_path: Path = PARAMETER_PLACEMENT_FILE,
) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """Place every environment's secrets and parameters, keeping what is recorded, and write
    both files."""
    recorded, recorded_parameters = load(path), PARAMETERS.load(parameter_path)
    secrets = {
        environment.name: place_secrets(
            config.application, environment, recorded.get(environment.name, {})
        )
        for environment in config.environments
    }
    parameters = {
        environment.name: place_parameters(
            config.application, environment, recorded_parameters.get(environment.name, {})
        )
        for environment in config.environments
    }
    path.write_text(json.dumps(secrets, indent=2) + "\n")
    parameter_path.write_text(json.dumps(parameters, indent=2) + "\n")
    return secrets, parameters


def main() -> int:
    from stacks.config import ConfigError, check_cdk_json, parse_config

    cdk_json = ROOT / "cdk.json"
    try:
        check_cdk_json(cdk_json)
        config = parse_config(json.loads(cdk_json.read_text())["context"].get("strongbox"))
    except ConfigError as error:
        print(f"strongbox: invalid configuration: {error}", file=sys.stderr)
        return 2
    secrets, parameters = record(config)
    for name in secrets:
        print(
            f"{name}: {len(secrets[name])} secrets in {len(set(secrets[name].values()))} "
            f"stack(s), {len(parameters[name])} parameters in "
            f"{len(PARAMETERS.order(parameters[name]))} stack(s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
