"""A SecureString created by Strongbox's provider at deploy time, read back with decryption
through the consumer's path.

Deploys: a key, an isolated VPC with the private endpoints, a `ParameterTree` with one generated
SecureString (the provider function writes it, encrypted with the key), a
`SecretReadingFunction` whose role reads exactly that parameter.
Asserts: the reading function loads the parameter (GetParameter with decryption, through the
SSM endpoint and the key policy), and the parameter is a SecureString.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import integ_tests_alpha as integ

from strongbox import Generation, ParameterTree, ParameterUse, SecretConsumer
from tests.integ.support import (
    APPLICATION,
    CIDR,
    DESTROY,
    ISOLATED,
    ScenarioStack,
    integ_test,
    invoked,
    returns,
)

app = cdk.App()
stack = ScenarioStack(app, "StrongboxIntegSecureString", scenario="param")
assert stack.vpc is not None
tree = ParameterTree(
    stack,
    "Parameters",
    encryption_key=stack.key,
    vpc=stack.vpc,
    vpc_subnets=ISOLATED,
    vpc_cidr=CIDR,
    application=APPLICATION,
    environment_name=stack.environment_name,
    removal_policy=DESTROY,
)
tree.add_secure_string("session-salt", generation=Generation(), description="Integration test")
reader = stack.reading_function(
    "Reader",
    SecretConsumer(
        stack, "ReaderParameters", parameters=[ParameterUse("SALT", tree, "session-salt")]
    ),
    "Integration test: reads its one SecureString through the extension",
)

test = integ_test(app, "SecureString", [stack])
returns(invoked(test, reader.function, {}), {"loaded": ["SALT"]})
# Metadata only (no value): what the provider wrote is a SecureString.
described = test.assertions.aws_api_call(
    "SSM",
    "describeParameters",
    {"ParameterFilters": [{"Key": "Name", "Values": [f"{tree.path}session-salt"]}]},
)
described.expect(
    integ.ExpectedResult.object_like(
        {"Parameters": [{"Name": f"{tree.path}session-salt", "Type": "SecureString"}]}
    )
)
app.synth()
