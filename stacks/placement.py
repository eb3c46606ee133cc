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
    ConfigError,
    EnvironmentConfig,
    ParameterConfig,
    SecretConfig,
    StrongboxConfig,
)

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
        self, costs: Mapping[str, Sequence[int]], recorded: Mapping[str, str]
    ) -> dict[str, str]:
        """Item -> stack id: recorded items where they are, new ones (by their `costs`, one
        figure per measure of `room`) first-fit in sorted order. An empty stack takes any item,
        so one that alone exceeds the room still gets a stack of its own."""
        placement: dict[str, str] = {}
        used: dict[str, list[int]] = {}

        def put(name: str, stack: str) -> None:
            total = used.setdefault(stack, [0] * len(self.room))
            for measure, cost in enumerate(costs[name]):
                total[measure] += cost
            placement[name] = stack

        for name in sorted(costs):
            if name in recorded:
                put(name, recorded[name])
        for name in sorted(set(costs) - set(placement)):
            index = 0
            while self.stack_id(index) in used and any(
                total + cost > room
                for total, cost, room in zip(
                    used[self.stack_id(index)], costs[name], self.room, strict=True
                )
            ):
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


# Room in one Secrets stack. CloudFormation allows 500 resources and 200 outputs per stack; a
# secret costs up to 4 resources (secret, resource policy, rotation schedule, invoke permission)
# and up to 2 outputs (its ARN for consumers, and for the Database stack), and each stack keeps
# room for its rotation functions and alerts.
MAX_SECRETS_PER_STACK = 80
MAX_RESOURCES_PER_STACK = 400
SECRETS = Shards(
    "Secrets",
    (MAX_SECRETS_PER_STACK, MAX_RESOURCES_PER_STACK),
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


def place(secrets: Sequence[SecretConfig], recorded: Mapping[str, str]) -> dict[str, str]:
    """Purpose -> Secrets stack id: recorded secrets where they are, new ones first-fit (at most
    80 secrets and 400 resources a stack) in sorted order."""
    return SECRETS.place({s.purpose: (1, resource_cost(s)) for s in secrets}, recorded)


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
        environment.name: place(environment.secrets, recorded.get(environment.name, {}))
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
