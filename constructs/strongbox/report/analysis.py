"""The report's content per environment: inventory, readers, cost, advice, controls, findings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from strongbox.access.proof import CallResult, prove
from strongbox.assembly.resolver import Resolver, read_assembly
from strongbox.credentials import looks_like_credential
from strongbox.report.controls import Control, controls
from strongbox.report.cost import (
    Advice,
    Assumptions,
    CostEstimate,
    Footprint,
    PriceBook,
    SecretTraits,
    estimate_by_region,
    secure_string_advice,
)
from strongbox.report.cost import Endpoint as PricedEndpoint
from strongbox.report.inventory import AWS_MANAGED_KEY, Environment, environments


@dataclass(frozen=True)
class EnvironmentReport:
    environment: Environment
    cost: CostEstimate
    advice: tuple[Advice, ...]
    findings: tuple[str, ...]
    call_paths: tuple[CallResult, ...]  # each declared call of the environment, decided
    controls: tuple[Control, ...]  # Security Hub's controls, decided from the templates


@dataclass(frozen=True)
class Report:
    assembly: str
    prices: PriceBook
    environments: tuple[EnvironmentReport, ...]


def analyse(directory: Path, assumptions: Assumptions, prices: PriceBook) -> Report:
    """The report for the cloud assembly in `directory`; AssemblyError if it is unreadable."""
    resolver = Resolver(read_assembly(directory))
    proof = prove(resolver)
    return Report(
        assembly=str(directory),
        prices=prices,
        environments=tuple(
            EnvironmentReport(
                environment=environment,
                cost=estimate_by_region(footprints(environment), assumptions, prices),
                advice=tuple(
                    advice
                    for secret in environment.secrets
                    for advice in secure_string_advice(
                        [
                            SecretTraits(
                                name=secret.name,
                                rotates=secret.rotates,
                                replicas=len(secret.replicas),
                                cross_account_readers=secret.cross_account_readers,
                            )
                        ],
                        assumptions,
                        prices.for_region(secret.region),
                    )
                ),
                findings=tuple(findings(environment))
                + tuple(
                    f"call path: {call.line()}"
                    for call in proof.calls
                    if call.environment == environment.name and call.verdict != "allowed"
                ),
                call_paths=tuple(
                    call for call in proof.calls if call.environment == environment.name
                ),
                controls=controls(resolver, environment),
            )
            for environment in environments(resolver)
        ),
    )


def footprints(environment: Environment) -> dict[str, Footprint]:
    """What the environment deploys that has a price, counted from its templates, by the region
    it is billed in: a replica and its key in the replica's region, the rest where its stack is.
    Regions come in the order the environment's secrets, keys, endpoints and parameters name
    them, then any other region of its stacks (with nothing priced there)."""
    regions = dict.fromkeys(
        [
            *(secret.region for secret in environment.secrets),
            *(replica.region for secret in environment.secrets for replica in secret.replicas),
            *(key.region for key in environment.keys),
            *(endpoint.region for endpoint in environment.endpoints),
            *(parameter.region for parameter in environment.parameters),
            *environment.regions,
        ]
    )
    return {region: _footprint(environment, region) for region in regions}


def _footprint(environment: Environment, region: str) -> Footprint:
    secrets = [secret for secret in environment.secrets if secret.region == region]
    keys = [key for key in environment.keys if key.region == region]
    parameters = [p for p in environment.parameters if p.region == region]
    return Footprint(
        secrets=len(secrets),
        replicas=sum(
            1
            for secret in environment.secrets
            for replica in secret.replicas
            if replica.region == region
        ),
        keys=sum(1 for key in keys if key.replica_of is None),
        replica_keys=sum(1 for key in keys if key.replica_of is not None),
        endpoints=tuple(
            PricedEndpoint(service=endpoint.service, availability_zones=endpoint.availability_zones)
            for endpoint in environment.endpoints
            if endpoint.region == region
        ),
        standard_parameters=sum(1 for p in parameters if p.tier != "Advanced"),
        advanced_parameters=sum(1 for p in parameters if p.tier == "Advanced"),
        secure_string_parameters=sum(1 for p in parameters if p.type == "SecureString"),
    )


def findings(environment: Environment) -> list[str]:
    """What a security reviewer should look at, one line each."""
    found = []
    for secret in environment.secrets:
        if secret.key == AWS_MANAGED_KEY:
            found.append(f"secret {secret.name}: encrypted with the AWS managed key, not a CMK")
        if not secret.rotates and secret.rotation.endswith("no reason recorded"):
            found.append(f"secret {secret.name}: does not rotate and says not why")
        for reader in secret.readers:
            found.extend(
                f"secret {secret.name}: reader {reader.principal}: {flag}" for flag in reader.flags
            )
    for parameter in environment.parameters:
        if parameter.type in ("String", "StringList"):
            reason = looks_like_credential(parameter.name)
            if reason:
                found.append(f"parameter {parameter.name} ({parameter.type}): {reason}")
    return found
