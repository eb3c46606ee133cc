"""Which Secrets stack holds each secret: recorded once, never moved.

CloudFormation replaces a secret that moves to another stack (a new secret with a new value), so
a secret's stack is decided when it first appears and recorded in `secret-placement.json`, like
a lock file. A new secret goes to the first stack of its environment with room (in the order
Secrets, Secrets2, Secrets3, ...), and a stack is added when none has room. Removing a secret
frees its room. Whatever order the config lists secrets in, and wherever a new one is inserted,
a recorded secret keeps its stack.

    python -m stacks.placement   (or `make place`) records the placement of new secrets

Synth places unrecorded secrets by the same rule (new secrets in sorted order), so it works
before they are recorded; `tests/test_scale.py::test_the_shipped_placement_is_recorded` fails
until they are.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stacks.config import ConfigError, SecretConfig, StrongboxConfig

PLACEMENT_FILE = Path(__file__).resolve().parent.parent / "secret-placement.json"
# Room in one Secrets stack. CloudFormation allows 500 resources and 200 outputs per stack; a
# secret costs up to 4 resources (secret, resource policy, rotation schedule, invoke permission)
# and up to 2 outputs (its ARN for consumers, and for the Database stack), and each stack keeps
# room for its rotation functions and alerts.
MAX_SECRETS_PER_STACK = 80
MAX_RESOURCES_PER_STACK = 400
_STACK_ID = re.compile(r"^Secrets([2-9]|[1-9][0-9]+)?$")


def stack_id(index: int) -> str:
    """0 -> "Secrets" (the stack of every small environment), 1 -> "Secrets2", ..."""
    return "Secrets" if index == 0 else f"Secrets{index + 1}"


def resource_cost(secret: SecretConfig) -> int:
    """Resources a secret adds to its stack."""
    rotation = secret.rotation
    if not rotation.enabled:
        return 2
    return 4 if rotation.strategy == "token" else 3


def place(secrets: Sequence[SecretConfig], recorded: Mapping[str, str]) -> dict[str, str]:
    """Purpose -> stack id: recorded secrets where they are, new ones first-fit in sorted order."""
    by_purpose = {secret.purpose: secret for secret in secrets}
    placement = {p: recorded[p] for p in sorted(by_purpose) if p in recorded}
    count: dict[str, int] = {}
    cost: dict[str, int] = {}
    for purpose, stack in placement.items():
        count[stack] = count.get(stack, 0) + 1
        cost[stack] = cost.get(stack, 0) + resource_cost(by_purpose[purpose])
    for purpose in sorted(set(by_purpose) - set(placement)):
        needed = resource_cost(by_purpose[purpose])
        index = 0
        while (
            count.get(stack_id(index), 0) >= MAX_SECRETS_PER_STACK
            or cost.get(stack_id(index), 0) + needed > MAX_RESOURCES_PER_STACK
        ):
            index += 1
        stack = stack_id(index)
        placement[purpose] = stack
        count[stack] = count.get(stack, 0) + 1
        cost[stack] = cost.get(stack, 0) + needed
    return dict(sorted(placement.items()))


def stack_order(placement: Mapping[str, str]) -> list[str]:
    """The environment's Secrets stacks in index order."""
    ids = set(placement.values()) | {stack_id(0)}
    return sorted(ids, key=lambda name: int(name.removeprefix("Secrets") or "1"))


def parse_recorded(value: Any, where: str) -> dict[str, dict[str, str]]:
    """A recorded placement (environment -> purpose -> stack id) read from `where` (the file, or
    the `strongbox-placement` context), or a ConfigError naming the bad entry."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ConfigError(where, f"is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise ConfigError(where, "must be an object: environment -> secret purpose -> stack id")
    for environment, secrets in value.items():
        if not isinstance(secrets, dict):
            raise ConfigError(f"{where}.{environment}", "must be an object: purpose -> stack id")
        for purpose, stack in secrets.items():
            if not isinstance(stack, str) or not _STACK_ID.match(stack):
                raise ConfigError(
                    f"{where}.{environment}.{purpose}",
                    f"{stack!r} is not allowed; expected Secrets, Secrets2, Secrets3, ...",
                )
    return value


def load(path: Path = PLACEMENT_FILE) -> dict[str, dict[str, str]]:
    """Environment -> purpose -> stack id, as recorded (empty when there is no file)."""
    if not path.exists():
        return {}
    return parse_recorded(path.read_text(), path.name)


def record(config: StrongboxConfig, path: Path = PLACEMENT_FILE) -> dict[str, dict[str, str]]:
    """Place every environment's secrets, keeping what is recorded, and write the file."""
    recorded = load(path)
    placement = {
        environment.name: place(environment.secrets, recorded.get(environment.name, {}))
        for environment in config.environments
    }
    path.write_text(json.dumps(placement, indent=2) + "\n")
    return placement


def main() -> int:
    from stacks.config import ConfigError, check_cdk_json, parse_config

    cdk_json = PLACEMENT_FILE.parent / "cdk.json"
    try:
        check_cdk_json(cdk_json)
        config = parse_config(json.loads(cdk_json.read_text())["context"].get("strongbox"))
    except ConfigError as error:
        print(f"strongbox: invalid configuration: {error}", file=sys.stderr)
        return 2
    for name, secrets in record(config).items():
        print(f"{name}: {len(secrets)} secrets in {len(set(secrets.values()))} stack(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
