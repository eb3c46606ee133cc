"""Strongbox: a secrets-management baseline as AWS CDK constructs."""

from strongbox.compliance import acknowledge, add_compliance_plugins
from strongbox.keys import KeyAccess, SecretsKey, SecretsReplicaKey
from strongbox.secrets import (
    SECRET_KINDS,
    DatabaseFields,
    Generation,
    JsonFields,
    ManagedSecret,
    SecretKind,
)

__all__ = [
    "SECRET_KINDS",
    "DatabaseFields",
    "Generation",
    "JsonFields",
    "KeyAccess",
    "ManagedSecret",
    "SecretKind",
    "SecretsKey",
    "SecretsReplicaKey",
    "acknowledge",
    "add_compliance_plugins",
]
