"""Synth cost per added secret: Strongbox against the same secrets written with plain
aws-cdk-lib L2s, measured side by side in one run.

    python benchmarks/per_secret.py [--runs 5]    (or `make benchmark-versus-l2`)

Strongbox: the shipped prod environment plus N generated secrets (benchmarks/large_config.py).
The reference: one CMK, then N `secretsmanager.Secret`s with a generated value, a description and
a tag, encrypted with the key, a read grant to a role for every fourth, 150 per stack. Both synth
with the four nag packs on, each in a fresh interpreter (as `cdk synth` runs them), at 10 and at
1,000 secrets, the four synths interleaved run by run so drift in machine load hits all alike.

The floor: Strongbox's own templates at each size, written back through the CDK as cheaply as
the CDK can write them: one `CfnInclude` per stack (the resources become the L1 classes the packs
inspect, with no Python per resource), Strongbox's acknowledgments re-applied to the same
resources, and the same validation plugins (the four packs and the Guard rules). It is what any
implementation producing this CloudFormation content with these checks on must pay, and nothing
Strongbox adds on top (its Python, its round trips into jsii, the call-path proof). Its one
substitution: CfnInclude does not parse `Fn::GetStackOutput` (the cross-region reference), so each
becomes an `Fn::ImportValue` of a string of about the same length. The floor's templates come from
an untimed Strongbox synth per size before the timed runs; the findings the floor reports are in
the per-environment Network stacks only (the VPC's custom resource, acknowledged on constructs
CfnInclude does not recreate), the same at both sizes, so they cancel in the marginal cost.

Printed: the median seconds of each synth, each app's marginal milliseconds per added secret
(1,000 minus 10, over 990), and the ratios: Strongbox over the L2 reference (target 2.0 or
less); the floor over the L2 reference (what the content alone costs); Strongbox with the floor's
extra content taken out, over the L2 reference; and Strongbox over the floor (the "irreducible
+ 20%" target: 1.2 or less).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.scale import synth
from benchmarks.synth import ROOT, use_pinned_node

SIZES = (10, 1000)
PER_STACK = 150

# What `cdk synth` runs (app.py): the build, the synth with the four packs and the Guard rules as
# validation plugins, then the gates on what it wrote, the call-path proof included.
STRONGBOX = """
import json, sys
import aws_cdk as cdk
sys.path.insert(0, {root!r})
from app import build_app
from benchmarks.large_config import large_config
from strongbox.synth import FAIL_SYNTH_ON_VALIDATION_ERRORS, synthesize
context = json.loads(open({cdk_json!r}).read())["context"]
context["strongbox"] = large_config(int(sys.argv[2]))
app = cdk.App(context={{**context, FAIL_SYNTH_ON_VALIDATION_ERRORS: False}}, outdir=sys.argv[1])
build_app(app)
sys.exit(synthesize(app))
"""

# The packs as validation plugins, as Strongbox registers them; their findings (no rotation,
# no resource policy, ...) are reported, not raised, so the synth completes.
REFERENCE = """
import sys
import aws_cdk as cdk
from aws_cdk import aws_iam as iam, aws_kms as kms, aws_secretsmanager as secretsmanager
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, PCIDSS321Checks
count, per_stack = int(sys.argv[2]), {per_stack}
app = cdk.App(
    outdir=sys.argv[1], context={{"@aws-cdk/core:failSynthOnValidationErrors": False}}
)
env = cdk.Environment(account="333333333333", region="eu-west-1")
key = kms.Key(cdk.Stack(app, "Keys", env=env), "Key", enable_key_rotation=True)
for first in range(0, count, per_stack):
    stack = cdk.Stack(app, f"Secrets{{first // per_stack}}", env=env)
    reader = iam.Role(stack, "Reader", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
    # The key by reference: a grant then adds to the role's policy, not to the key's (which,
    # in the Keys stack, would make the two stacks depend on each other).
    shared = kms.Key.from_key_arn(stack, "Key", key.key_arn)
    for index in range(first, min(count, first + per_stack)):
        secret = secretsmanager.Secret(
            stack,
            f"Partner{{index:04d}}",
            description=f"Credentials for partner {{index:04d}}",
            encryption_key=shared,
            generate_secret_string=secretsmanager.SecretStringGenerator(),
        )
        cdk.Tags.of(secret).add("Owner", "team-partners")
        if index % 4 == 0:
            secret.grant_read(reader)
packs = (AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, PCIDSS321Checks)
cdk.Validations.of(app).add_plugins(*(pack(app) for pack in packs))
app.synth()
"""

# Strongbox's templates (and the findings it acknowledged) from an assembly it wrote, through
# one CfnInclude per stack, with the same validation plugins.
FLOOR = """
import json, sys, tempfile
from pathlib import Path
import aws_cdk as cdk
from aws_cdk import cloudformation_include as include
sys.path.insert(0, {root!r})
from strongbox import add_compliance_plugins
app = cdk.App(outdir=sys.argv[1], context={{"@aws-cdk/core:failSynthOnValidationErrors": False}})
add_compliance_plugins(app)
scratch = Path(tempfile.mkdtemp())

def includable(value):
    if isinstance(value, dict):
        if set(value) == {{"Fn::GetStackOutput"}}:
            return {{"Fn::ImportValue": json.dumps(value["Fn::GetStackOutput"])}}
        return {{key: includable(item) for key, item in value.items()}}
    if isinstance(value, list):
        return [includable(item) for item in value]
    return value

def rebuild(assembly, scope):
    manifest = json.loads((assembly / "manifest.json").read_text())
    for name, artifact in manifest["artifacts"].items():
        properties = artifact.get("properties", {{}})
        if artifact["type"] == "cdk:cloud-assembly":
            directory = properties["directoryName"]
            rebuild(assembly / directory, cdk.Stage(scope, directory.removeprefix("assembly-")))
        elif artifact["type"] == "aws:cloudformation:stack":
            account, region = artifact["environment"].removeprefix("aws://").split("/")
            template = includable(json.loads((assembly / properties["templateFile"]).read_text()))
            # The synthesizer adds its own.
            template.get("Parameters", {{}}).pop("BootstrapVersion", None)
            template.get("Rules", {{}}).pop("CheckBootstrapVersion", None)
            path = scratch / properties["templateFile"]
            path.write_text(json.dumps(template))
            stack = cdk.Stack(
                scope,
                artifact["displayName"].split("/")[-1],
                stack_name=properties["stackName"],
                env=cdk.Environment(account=account, region=region),
            )
            included = include.CfnInclude(stack, "Template", template_file=str(path))
            metadata = json.loads((assembly / artifact["additionalMetadataFile"]).read_text())
            logical_ids = {{
                path: entry["data"]
                for path, entries in metadata.items()
                for entry in entries
                if entry["type"] == "aws:cdk:logicalId" and entry["data"] in template["Resources"]
            }}
            for path, entries in metadata.items():
                for entry in entries:
                    if entry["type"] != "aws:cdk:acknowledged-rules":
                        continue
                    acknowledgments = [
                        cdk.Acknowledgment(id=rule.removeprefix("Annotation::"), reason=reason)
                        for rule, reason in entry["data"].items()
                    ]
                    for below, logical_id in logical_ids.items():
                        if below == path or below.startswith(path + "/"):
                            resource = included.get_resource(logical_id)
                            cdk.Validations.of(resource).acknowledge(*acknowledgments)

rebuild(Path({assembly!r}), app)
app.synth()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    use_pinned_node()
    sources = {
        "strongbox": STRONGBOX.format(root=str(ROOT), cdk_json=str(ROOT / "cdk.json")),
        "reference": REFERENCE.format(per_stack=PER_STACK),
    }
    assemblies = Path(tempfile.mkdtemp())
    floor = {}
    for size in SIZES:  # untimed: the templates the floor writes back
        subprocess.run(
            [sys.executable, "-c", sources["strongbox"], str(assemblies / str(size)), str(size)],
            check=True,
            cwd=ROOT,
        )
        floor[size] = FLOOR.format(root=str(ROOT), assembly=str(assemblies / str(size)))
    apps = (*sources, "floor")
    times: dict[tuple[str, int], list[float]] = {(app, size): [] for app in apps for size in SIZES}
    for _ in range(args.runs):
        for size in SIZES:
            for app in apps:
                source = floor[size] if app == "floor" else sources[app]
                times[app, size].append(synth(source, size)[0])
    shutil.rmtree(assemblies)
    median = {key: statistics.median(values) for key, values in times.items()}
    marginal = {
        app: (median[app, SIZES[1]] - median[app, SIZES[0]]) / (SIZES[1] - SIZES[0]) for app in apps
    }
    strongbox, reference, floor_ms = (marginal[app] for app in ("strongbox", "reference", "floor"))
    print(
        json.dumps(
            {
                "runs": args.runs,
                "median_seconds": {
                    f"{app} {size}": round(median[app, size], 2) for app, size in median
                },
                "marginal_ms_per_secret": {
                    app: round(ms * 1000, 1) for app, ms in marginal.items()
                },
                "ratio_strongbox_over_reference": round(strongbox / reference, 2),
                "ratio_floor_over_reference": round(floor_ms / reference, 2),
                "ratio_strongbox_without_floor_extra_over_reference": round(
                    (strongbox - (floor_ms - reference)) / reference, 2
                ),
                "ratio_strongbox_over_floor": round(strongbox / floor_ms, 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
