#!/usr/bin/env python3
"""A secret rotated by a strategy of your own: a webhook signing key that keeps the key it
replaces, so signatures made just before a rotation still verify after it.

The strategy (strategies/rolling_signing_key.py) ships beside Strongbox's four-step handler in
the rotation function; Strongbox runs the protocol, the strategy makes and checks the value.
"""

from __future__ import annotations

import sys
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2

from strongbox import (
    FAIL_SYNTH_ON_VALIDATION_ERRORS,
    JsonFields,
    KeyAccess,
    ManagedSecret,
    PrivateEndpoints,
    RotationFunction,
    RotationSchedule,
    SecretsKey,
    add_compliance_plugins,
    synthesize,
)

ACCOUNT = "123456789012"
REGION = "eu-west-1"
STRATEGIES = Path(__file__).parent / "strategies"
NAME_PREFIX = "dev/shop/"  # the secrets the endpoint admits: <environment>/<application>/...
ISOLATED = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)

app = cdk.App(context={FAIL_SYNTH_ON_VALIDATION_ERRORS: False})  # synthesize() reports
add_compliance_plugins(app)
stack = cdk.Stack(app, "WebhookSecrets", env=cdk.Environment(account=ACCOUNT, region=REGION))
# An existing VPC by its ids (no lookup), whose isolated subnets get a Secrets Manager endpoint:
# the rotation function has no other way out.
vpc = ec2.Vpc.from_vpc_attributes(
    stack,
    "Vpc",
    vpc_id="vpc-0a1b2c3d4e5f60718",
    vpc_cidr_block="10.30.0.0/16",
    availability_zones=["eu-west-1a", "eu-west-1b"],
    isolated_subnet_ids=["subnet-0a1b2c3d4e5f60718", "subnet-1a2b3c4d5e6f70819"],
    isolated_subnet_route_table_ids=["rtb-0a1b2c3d4e5f60718", "rtb-1a2b3c4d5e6f70819"],
)
PrivateEndpoints(
    stack,
    "Endpoints",
    vpc=vpc,
    subnets=ISOLATED,
    vpc_cidr="10.30.0.0/16",
    account=ACCOUNT,
    secret_name_prefix=NAME_PREFIX,
    parameter_path="/shop/dev/",
    services=["secretsmanager"],
)
key = SecretsKey(
    stack,
    "Key",
    application="shop",
    environment_name="dev",
    access=KeyAccess(account=ACCOUNT, regions=(REGION,), encrypts_log_groups=True),
    removal_policy=cdk.RemovalPolicy.DESTROY,
)
signing_key = ManagedSecret(
    stack,
    "WebhookSigningKey",
    purpose="webhook-signing-key",
    kind="json",
    description="Signs the shop's outgoing webhooks; receivers accept key or previous_key",
    owner="team-integrations",
    encryption_key=key,
    # The first value: a generated key and no previous one yet.
    json_fields=JsonFields(template={"previous_key": ""}, generate_key="key"),
    removal_policy=cdk.RemovalPolicy.DESTROY,
)
RotationFunction(
    stack,
    "SigningKeyRotation",
    vpc=vpc,
    vpc_subnets=ISOLATED,
    vpc_cidr="10.30.0.0/16",
    encryption_key=key,
    generation=signing_key.generation,
    json_field=signing_key.generated_field,
    strategy="rolling_signing_key:RollingSigningKey",
    strategy_modules=STRATEGIES,
    removal_policy=cdk.RemovalPolicy.DESTROY,
).rotate(signing_key, RotationSchedule("rate(7 days)"))
# Synth, then the compliance findings and the call-path proof, one line per problem.
sys.exit(synthesize(app))
