"""Strongbox: a secrets-management baseline as AWS CDK constructs."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from strongbox.alerts import ReplicaReadWatch, RotationAlerts
    from strongbox.compliance import acknowledge, acknowledge_all, add_compliance_plugins
    from strongbox.consumer import ParameterUse, SecretConsumer, SecretUse
    from strongbox.detection import DetectionRules
    from strongbox.endpoints import PrivateEndpoints
    from strongbox.errors import StrongboxError
    from strongbox.execution_role import TaskExecutionRole
    from strongbox.fixed_zones import FixedZonesStack
    from strongbox.keys import KeyAccess, KeyLike, SecretsKey, SecretsReplicaKey
    from strongbox.log_groups import encrypted_log_group, flow_log_destination
    from strongbox.parameter_tree import ParameterTree
    from strongbox.private_function import PrivateFunction
    from strongbox.reading_function import SecretReadingFunction
    from strongbox.rotation_function import RotationFunction
    from strongbox.secrets import (
        SECRET_KINDS,
        DatabaseFields,
        Generation,
        JsonFields,
        ManagedSecret,
        RotationSchedule,
        SecretKind,
    )
    from strongbox.synth import FAIL_SYNTH_ON_VALIDATION_ERRORS, synthesize

# Loaded on first use: importing aws-cdk-lib starts a Node process, which `strongbox report`
# (plain JSON reading) must not pay for or need.
_MODULES = {
    "ReplicaReadWatch": "alerts",
    "RotationAlerts": "alerts",
    "acknowledge": "compliance",
    "acknowledge_all": "compliance",
    "add_compliance_plugins": "compliance",
    "ParameterUse": "consumer",
    "SecretConsumer": "consumer",
    "SecretUse": "consumer",
    "DetectionRules": "detection",
    "PrivateEndpoints": "endpoints",
    "StrongboxError": "errors",
    "TaskExecutionRole": "execution_role",
    "FixedZonesStack": "fixed_zones",
    "KeyAccess": "keys",
    "KeyLike": "keys",
    "encrypted_log_group": "log_groups",
    "flow_log_destination": "log_groups",
    "SecretsKey": "keys",
    "SecretsReplicaKey": "keys",
    "ParameterTree": "parameter_tree",
    "PrivateFunction": "private_function",
    "SecretReadingFunction": "reading_function",
    "RotationFunction": "rotation_function",
    "SECRET_KINDS": "secrets",
    "DatabaseFields": "secrets",
    "Generation": "secrets",
    "JsonFields": "secrets",
    "ManagedSecret": "secrets",
    "RotationSchedule": "secrets",
    "SecretKind": "secrets",
    "FAIL_SYNTH_ON_VALIDATION_ERRORS": "synth",
    "synthesize": "synth",
}

__all__ = [
    "FAIL_SYNTH_ON_VALIDATION_ERRORS",
    "SECRET_KINDS",
    "DatabaseFields",
    "DetectionRules",
    "FixedZonesStack",
    "Generation",
    "JsonFields",
    "KeyAccess",
    "KeyLike",
    "ManagedSecret",
    "ParameterTree",
    "ParameterUse",
    "PrivateEndpoints",
    "PrivateFunction",
    "ReplicaReadWatch",
    "RotationAlerts",
    "RotationFunction",
    "RotationSchedule",
    "SecretConsumer",
    "SecretKind",
    "SecretReadingFunction",
    "SecretUse",
    "SecretsKey",
    "SecretsReplicaKey",
    "StrongboxError",
    "TaskExecutionRole",
    "acknowledge",
    "acknowledge_all",
    "add_compliance_plugins",
    "encrypted_log_group",
    "flow_log_destination",
    "synthesize",
]


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'strongbox' has no attribute {name!r}")
    return getattr(importlib.import_module(f"strongbox.{module}"), name)
