"""Fixed names for the workload's reading roles, so the Secrets stack's alert rule can name
them before the Workload stack creates them (and a role outside this list alerts)."""

from __future__ import annotations

from dataclasses import dataclass

from stacks.config import EnvironmentConfig, reader_role_name


@dataclass(frozen=True)
class ReaderRole:
    path: str  # "/strongbox/<application>/"
    name: str  # "<application>-<environment>-<consumer>-<kind>"

    def arn(self, partition: str, account: str) -> str:
        return f"arn:{partition}:iam::{account}:role{self.path}{self.name}"


def reader_role(application: str, environment: str, consumer: str, kind: str) -> ReaderRole:
    """`kind`: execution (an ECS task's), function (a Lambda's) or instance (an EC2 profile's)."""
    return ReaderRole(
        f"/strongbox/{application}/", reader_role_name(application, environment, consumer, kind)
    )


def reader_roles(application: str, environment: EnvironmentConfig) -> list[ReaderRole]:
    """Every role of the environment's workload that reads secrets."""
    workload = environment.workload
    if workload is None:
        return []
    return [
        reader_role(application, environment.name, name, kind)
        for _, name, kind in workload.reading_roles
    ]
