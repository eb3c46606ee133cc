"""A secret on a Strongbox key, read back through the consumer's path; a role without a grant is
refused.

Deploys: a key, an isolated VPC with Strongbox's private endpoints, one secret, a
`SecretReadingFunction` (Lambda + the Parameters and Secrets extension) whose role reads exactly
that secret, and the probe with no grant.
Asserts: the reading function loads the secret (its role, the endpoint policy, the key policy and
the resource policy all allow it); the probe's GetSecretValue is refused with
AccessDeniedException.
"""

from __future__ import annotations

import aws_cdk as cdk

from strongbox import SecretConsumer, SecretUse
from tests.integ.support import (
    ScenarioStack,
    checker,
    integ_test,
    invoked,
    returns,
)

app = cdk.App()
stack = ScenarioStack(app, "StrongboxIntegSecretRead", scenario="read")
token = stack.secret(
    "token",
    rotation_disabled_reason="Deleted when the integration test ends, minutes after it is created.",
)
reader = stack.reading_function(
    "Reader",
    SecretConsumer(stack, "ReaderSecrets", secrets=[SecretUse("TOKEN", token)]),
    "Integration test: reads its one secret through the extension",
)
stranger = checker(stack, "Stranger")

test = integ_test(app, "SecretRead", [stack])
returns(invoked(test, reader.function, {}), {"loaded": ["TOKEN"]})
returns(
    invoked(test, stranger, {"action": "read", "secret_id": token.secret_arns()[0]}),
    {"outcome": "DENIED", "code": "AccessDeniedException"},
)
app.synth()
