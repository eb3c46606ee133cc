"""Strongbox's four-step rotation, triggered and checked.

Deploys: a key, an isolated VPC with the private endpoints, one secret and the rotation function
(in the VPC, reaching Secrets Manager through the endpoint), and the probe, granted the secret's
AWSCURRENT and AWSPREVIOUS stages.
Asserts: after RotateSecret, the version it created is AWSCURRENT, the previous one AWSPREVIOUS,
the value changed, and no AWSPENDING label is left behind.
"""

from __future__ import annotations

import aws_cdk as cdk

from tests.integ.support import ScenarioStack, checker, integ_test, rotate, rotation_checked

app = cdk.App()
stack = ScenarioStack(app, "StrongboxIntegRotation", scenario="rotation")
token = stack.secret("token")
rotation = rotate(stack, token)
probe = checker(stack, "Probe")
for stage in ("AWSCURRENT", "AWSPREVIOUS"):
    token.grant_read(probe, version_stage=stage)

rotation_checked(integ_test(app, "Rotation", [stack]), token, rotation, probe)
app.synth()
