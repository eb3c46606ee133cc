"""A secret replicated to a second region under its replica key stays in sync through a rotation.

Deploys: a multi-region key (primary region, a stack of its own) and its replica key
(STRONGBOX_INTEG_REPLICA_REGION, default eu-central-1), then, in the primary region, an
isolated VPC with the private endpoints, a secret replicated under the replica key, Strongbox's
rotation function (whose role holds both keys through Secrets Manager) and the probe, granted the
AWSCURRENT and AWSPREVIOUS stages.
Asserts: after RotateSecret the version stages moved and the value changed (as in
integ_rotation), and the replica's status is InSync.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import integ_tests_alpha as integ

from strongbox import SecretsReplicaKey
from tests.integ.support import (
    REPLICA_REGION,
    ScenarioStack,
    checker,
    env,
    environment_name,
    integ_test,
    rotate,
    rotation_checked,
    secrets_key,
)

app = cdk.App()
keys_stack = cdk.Stack(app, "StrongboxIntegReplicaKeys", env=env())
key = secrets_key(keys_stack, environment_name("replica"), (REPLICA_REGION,))
replica_stack = cdk.Stack(app, "StrongboxIntegReplicaKey", env=env(REPLICA_REGION))
SecretsReplicaKey(
    replica_stack, "ReplicaKey", primary=key, removal_policy=cdk.RemovalPolicy.DESTROY
)
stack = ScenarioStack(app, "StrongboxIntegReplica", scenario="replica", key=key)
replica_key = kms.Key.from_key_arn(
    stack, "ReplicaKeyRef", stack.key.key_arn_in(stack, REPLICA_REGION)
)
token = stack.secret(
    "token",
    replica_regions=[
        secretsmanager.ReplicaRegion(region=REPLICA_REGION, encryption_key=replica_key)
    ],
)
# The secret's replica needs the replica key to exist.
stack.add_stack_dependency(replica_stack)
rotation = rotate(stack, token)
probe = checker(stack, "Probe")
for stage in ("AWSCURRENT", "AWSPREVIOUS"):
    token.grant_read(probe, version_stage=stage)

test = integ_test(app, "Replica", [keys_stack, replica_stack, stack])
rotated = rotation_checked(test, token, rotation, probe)
in_sync = test.assertions.aws_api_call(
    "SecretsManager", "describeSecret", {"SecretId": token.secret_arns()[0]}
)
in_sync.expect(
    integ.ExpectedResult.object_like(
        {"ReplicationStatus": [{"Region": REPLICA_REGION, "Status": "InSync"}]}
    )
)
rotated.next(in_sync)  # after the rotation, not from the replica's creation
in_sync.wait_for_assertions(
    total_timeout=cdk.Duration.minutes(10), interval=cdk.Duration.seconds(30)
)
app.synth()
