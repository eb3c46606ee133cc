"""Strongbox: a secrets-management baseline as AWS CDK constructs."""

from strongbox.alerts import RotationAlerts
from strongbox.compliance import acknowledge, add_compliance_plugins
from strongbox.consumer import ParameterUse, SecretConsumer, SecretUse
from strongbox.endpoints import PrivateEndpoints
from strongbox.keys import KeyAccess, SecretsKey, SecretsReplicaKey
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

__all__ = [
    "SECRET_KINDS",
    "DatabaseFields",
    "Generation",
    "JsonFields",
    "KeyAccess",
    "ManagedSecret",
    "ParameterTree",
    "ParameterUse",
    "PrivateEndpoints",
    "PrivateFunction",
    "RotationAlerts",
    "RotationFunction",
    "RotationSchedule",
    "SecretConsumer",
    "SecretKind",
    "SecretReadingFunction",
    "SecretUse",
    "SecretsKey",
    "SecretsReplicaKey",
    "acknowledge",
    "add_compliance_plugins",
]
