"""Fixed names for the workload's reading roles, so the Secrets stack's alert rule can name
them before the Workload stack creates them (and a role outside this list alerts)."""

from __future__ import annotations

from dataclasses import dataclass

from stacks.config import EnvironmentConfig


@dataclass(frozen=True)
class ReaderRole:
    path: str  # "/strongbox/<application>/"
    name: str  # "<environment>-<consumer>-<kind>", at most 63 characters

    def arn(self, partition: str, account: str) -> str:
        return f"arn:{partition}:iam::{account}:role{self.path}{self.name}"


def reader_role(application: str, environment: str, consumer: str, kind: str) -> ReaderRole:
    """`kind`: execution (an ECS task's), function (a Lambda's) or instance (an EC2 profile's)."""
    return ReaderRole(f"/strongbox/{application}/", f"{environment}-{consumer}-{kind}")


def reader_roles(application: str, environment: EnvironmentConfig) -> list[ReaderRole]:
    """Every role of the environment's workload that reads secrets."""
    workload = environment.workload
    if workload is None:
        return []
    consumers = [(workload.service, "execution")]
    if workload.function:
        consumers.append((workload.function.name, "function"))
    if workload.instance:
        consumers.append((workload.instance.name, "instance"))
    return [reader_role(application, environment.name, name, kind) for name, kind in consumers]
