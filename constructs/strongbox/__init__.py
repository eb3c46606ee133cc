"""Strongbox: a secrets-management baseline as AWS CDK constructs."""

from strongbox.compliance import acknowledge, add_compliance_plugins
from strongbox.keys import SecretsKey
from strongbox.secrets import SECRET_KINDS, ManagedSecret, SecretKind

__all__ = [
    "SECRET_KINDS",
    "ManagedSecret",
    "SecretKind",
    "SecretsKey",
    "acknowledge",
    "add_compliance_plugins",
]
