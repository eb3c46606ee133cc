"""What building a secret's core as L1s would save over the L2 path `ManagedSecret` takes today.

    python benchmarks/secret_construction.py [--runs 3]

Both paths write the same content per secret: a secret with a generated value, a description,
the key by ARN and five tags; its resource policy; both retained; the rotation record as
metadata. The L2 path is ManagedSecret's: a `secretsmanager.Secret` under a construct of its own
with a key reference, the five tags through `Tags.of(...).add`, the policy and metadata added
after. The L1 path passes everything as `CfnSecret` properties. No packs, no proof: only the
construction and Node writing the templates. Each size (40 and 1,000 secrets, 8 stacks) runs in
a fresh interpreter, interleaved. Printed: each path's median milliseconds per added secret,
building and synthesizing, and the difference, which bounds what rewriting `ManagedSecret` on
L1s could save per secret (issue 22).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.synth import child_measures, use_pinned_node

SIZES = (40, 1000)

CHILD = """
import json, sys, time
import aws_cdk as cdk
from aws_cdk import aws_kms as kms, aws_secretsmanager as sm
from constructs import Construct
path, count = sys.argv[2], int(sys.argv[3])
app = cdk.App(outdir=sys.argv[1])
env = cdk.Environment(account="111111111111", region="eu-west-1")
key_arn = kms.Key(cdk.Stack(app, "Keys", env=env), "Key").key_arn
stacks = [cdk.Stack(app, f"Secrets{n}", env=env) for n in range(8)]
policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": {"AWS": "*"},
    "Action": ["secretsmanager:DeleteSecret"], "Resource": "*",
    "Condition": {"ArnNotLike": {"aws:PrincipalArn": ["arn:aws:iam::111111111111:root"]}}}]}
kind = "api-key"
tags = {"Application": "shop", "Component": "api", "Environment": "prod", "Owner": "team",
    "SecretKind": kind}
record = {"StrongboxRotation": {"DisabledReason": "Rotated by hand in the maintenance window."}}
retain = cdk.RemovalPolicy.RETAIN
started = time.perf_counter()
for index in range(count):
    stack = stacks[index % len(stacks)]
    if path == "l2":
        holder = Construct(stack, f"Secret{index}")
        secret = sm.Secret(holder, "Secret", secret_name=f"prod/shop/s{index}",
            description="A secret", encryption_key=kms.Key.from_key_arn(holder, "Key", key_arn),
            generate_secret_string=sm.SecretStringGenerator(password_length=40,
                exclude_punctuation=True), removal_policy=retain)
        resource_policy = sm.CfnResourcePolicy(holder, "ResourcePolicy",
            secret_id=secret.secret_arn, block_public_policy=True, resource_policy=policy)
        resource_policy.apply_removal_policy(retain)
        tagged = cdk.Tags.of(holder)
        for name, value in tags.items():
            tagged.add(name, value)
        secret.node.default_child.add_metadata(*next(iter(record.items())))
    else:
        secret = sm.CfnSecret(stack, f"Secret{index}", name=f"prod/shop/s{index}",
            description="A secret", kms_key_id=key_arn,
            generate_secret_string=sm.CfnSecret.GenerateSecretStringProperty(password_length=40,
                exclude_punctuation=True),
            tags=[cdk.CfnTag(key=name, value=value) for name, value in tags.items()])
        secret.cfn_options.metadata = record
        secret.apply_removal_policy(retain)
        resource_policy = sm.CfnResourcePolicy(stack, f"Secret{index}ResourcePolicy",
            secret_id=secret.ref, block_public_policy=True, resource_policy=policy)
        resource_policy.apply_removal_policy(retain)
built = time.perf_counter()
app.synth()
print(json.dumps({"build": built - started, "synth": time.perf_counter() - built}))
"""


def measure(path: str, count: int) -> dict[str, float]:
    return child_measures(CHILD, path, str(count))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    use_pinned_node()
    runs: dict[tuple[str, int], list[dict[str, float]]] = {
        (path, size): [] for path in ("l2", "l1") for size in SIZES
    }
    for _ in range(args.runs):
        for size in SIZES:
            for path in ("l2", "l1"):
                runs[path, size].append(measure(path, size))
    per_secret: dict[str, dict[str, float]] = {}
    for path in ("l2", "l1"):
        per_secret[path] = {
            phase: round(
                1000
                * (
                    statistics.median(run[phase] for run in runs[path, SIZES[1]])
                    - statistics.median(run[phase] for run in runs[path, SIZES[0]])
                )
                / (SIZES[1] - SIZES[0]),
                2,
            )
            for phase in ("build", "synth")
        }
        per_secret[path]["total"] = round(sum(per_secret[path].values()), 2)
    print(
        json.dumps(
            {
                "runs": args.runs,
                "ms_per_added_secret": per_secret,
                "saving_ms_per_secret": round(
                    per_secret["l2"]["total"] - per_secret["l1"]["total"], 2
                ),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
