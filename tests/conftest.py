"""Shared fixtures: the app exactly as app.py builds it, synthesized once per run."""

from __future__ import annotations

import compileall
import contextlib
import fcntl
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
NODE_BIN = ROOT / "node_modules" / ".bin"

# jsii starts its Node child on first import of aws_cdk: make it the pinned Node, as `make` does.
if (NODE_BIN / "node").exists():
    os.environ["PATH"] = f"{NODE_BIN}{os.pathsep}{os.environ['PATH']}"
    os.environ.setdefault("JSII_NODE", str(NODE_BIN / "node"))
sys.path.insert(0, str(ROOT))

import aws_cdk as cdk  # noqa: E402
import boto3  # type: ignore[import-untyped]  # noqa: E402
import botocore.loaders  # type: ignore[import-untyped]  # noqa: E402
import botocore.session  # type: ignore[import-untyped]  # noqa: E402
from aws_cdk import aws_ec2 as ec2  # noqa: E402
from moto import mock_aws  # noqa: E402

from constructs import Construct  # noqa: E402
from strongbox import KeyAccess, ManagedSecret, SecretsKey  # noqa: E402


def run_app(context: dict[str, Any], outdir: Path) -> subprocess.CompletedProcess[str]:
    """app.py run as the CDK CLI runs it: `context` through CDK_CONTEXT_JSON, the assembly into
    `outdir` (made empty here), none of pytest's or an outer run's variables."""
    outdir.mkdir(exist_ok=True)
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PYTEST") and key not in ("CDK_CONTEXT_JSON", "CDK_OUTDIR")
    }
    environment.update(CDK_CONTEXT_JSON=json.dumps(context), CDK_OUTDIR=str(outdir))
    return subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def cdk_json_context() -> dict[str, Any]:
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    return context


def feature_flag_app(**kwargs: Any) -> cdk.App:
    """An app with cdk.json's feature flags and no strongbox config, for construct-level tests."""
    flags = {k: v for k, v in cdk_json_context().items() if k.startswith("@aws-cdk")}
    return cdk.App(context=flags, **kwargs)


def imported_isolated_vpc(scope: Construct) -> ec2.IVpc:
    """An existing VPC with one isolated subnet, by ids (no lookup), for construct tests."""
    return ec2.Vpc.from_vpc_attributes(
        scope,
        "Vpc",
        vpc_id="vpc-0a1b2c3d4e5f60718",
        availability_zones=["eu-west-1a"],
        isolated_subnet_ids=["subnet-0a1b2c3d4e5f60718"],
    )


def only(resources: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The one (logical id, resource) of a `SynthesizedStack.resources(...)` answer."""
    ((logical_id, resource),) = resources.items()
    return logical_id, resource


def as_list(value: Any) -> list[Any]:
    """A policy field (Action, Resource, Principal...) that may be one value or a list."""
    return value if isinstance(value, list) else [value]


def stripe_secret(
    stack: cdk.Stack, *, administrators: tuple[str, ...] = (), encrypts_log_groups: bool = False
) -> ManagedSecret:
    """The shipped Stripe key as a construct: an api-key ManagedSecret with its SecretsKey."""
    key = SecretsKey(
        stack,
        "Key",
        application="payments",
        environment_name="prod",
        access=KeyAccess(
            account=stack.account,
            regions=(stack.region,),
            administrators=administrators,
            encrypts_log_groups=encrypts_log_groups,
        ),
    )
    return ManagedSecret(
        stack,
        "Stripe",
        application="payments",
        environment_name="prod",
        purpose="stripe-api-key",
        kind="api-key",
        description="Stripe secret key",
        owner="team-payments",
        encryption_key=key.key,
        administrators=administrators,
        rotation_disabled_reason="Rotated by the provider's dashboard; tracked by the owning team.",
    )


def run_in_isolation(asset: Path, script: str) -> subprocess.CompletedProcess[str]:
    """Run `script` with only the Lambda asset directory `asset` importable, no credentials."""
    return subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(asset)!r})\n{script}"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
        timeout=60,
    )


# botocore's reader of service models, shared by every mocked test of a worker (see mocked_aws).
_SERVICE_MODELS = botocore.loaders.create_loader()


@contextlib.contextmanager
def mocked_aws() -> Iterator[None]:
    """moto for the handler tests, with a new boto3 default session per test that reads service
    models through one shared loader. A new session reads credentials, config files and
    endpoints from the test's own environment, but would also read every service's model from
    disk again (50 ms a client, most of the handler tests' time). moto empties its backends
    when each test's mock stops, so no test sees another's keys, secrets or parameters."""
    with mock_aws():
        session = botocore.session.Session()
        session.register_component("data_loader", _SERVICE_MODELS)
        boto3.setup_default_session(botocore_session=session)
        yield


def default_strongbox_config() -> dict[str, Any]:
    config: dict[str, Any] = cdk_json_context()["strongbox"]
    return config


def expected_stacks(env: str | None = None) -> list[str]:
    """Every stack the shipped config should produce, as hierarchical ids, sorted."""
    from stacks.config import parse_config

    return sorted(
        f"{environment.stage_name}/{stack}"
        for environment in parse_config(default_strongbox_config()).environments
        if env is None or environment.name == env
        for stack in (
            "Keys",
            *(f"ReplicaKeys-{region}" for region in environment.replica_regions),
            "Network",
            "Secrets",
            "Parameters",
            *(["Detection"] if environment.config_rules else []),
            *(["Database"] if environment.workload and environment.workload.database else []),
            *(["Workload"] if environment.workload else []),
        )
    )


@dataclass(frozen=True)
class SynthesizedStack:
    name: str  # hierarchical id, e.g. "Strongbox-Prod/Keys"
    stack_name: str  # CloudFormation stack name, e.g. "Strongbox-Prod-Keys"
    account: str
    region: str
    dependencies: tuple[str, ...]  # artifact ids
    artifact_id: str
    template: dict[str, Any]

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.template["Resources"].items()
            if resource["Type"] == resource_type
        }


@dataclass(frozen=True)
class Synthesized:
    outdir: Path
    stacks: dict[str, SynthesizedStack]
    violations: list[dict[str, Any]]
    synth_error: str | None

    def stack(self, name: str) -> SynthesizedStack:
        return self.stacks[name]

    def secret_name(self, stack: SynthesizedStack, reference: Any) -> str:
        """The name of the secret that `reference` in `stack` points to: a `Ref`, or a
        cross-stack `Fn::GetStackOutput` of a stack that exports the `Ref`."""
        if "Fn::GetStackOutput" in reference:
            output = reference["Fn::GetStackOutput"]
            (stack,) = [s for s in self.stacks.values() if s.stack_name == output["StackName"]]
            reference = stack.template["Outputs"][output["OutputName"]]["Value"]
        name: str = stack.template["Resources"][reference["Ref"]]["Properties"]["Name"]
        return name

    def rotated_secret_names(self, stage: str) -> set[str]:
        """Names of the secrets that have a rotation schedule in any stack of `stage`."""
        return {
            self.secret_name(stack, schedule["Properties"]["SecretId"])
            for stack in self.stacks.values()
            if stack.name.startswith(f"{stage}/")
            for schedule in stack.resources("AWS::SecretsManager::RotationSchedule").values()
        }

    def findings(self) -> list[dict[str, Any]]:
        """Unacknowledged findings. CDK's "CloudFormation Validate" plugin runs cfn-lint's rules
        and, in an in-process synth, reports acknowledged warnings of stacks inside a Stage
        anyway (the CLI honours the acknowledgment); for it the checked-in cfn-lint ignore list
        decides."""
        ignored = cfn_lint_ignored_checks()
        return [
            v
            for v in self.violations
            if not (v["plugin"] == "CloudFormation Validate" and v["rule"] in ignored)
        ]


def cfn_lint_ignored_checks() -> set[str]:
    """The cfn-lint rules `.cfnlintrc.yaml` ignores, each with its reason there."""
    lines = (ROOT / ".cfnlintrc.yaml").read_text().splitlines()
    return {line.strip()[2:].strip() for line in lines if line.strip().startswith("- ")}


def read_assembly(outdir: Path) -> dict[str, SynthesizedStack]:
    """Every stack of a cloud assembly, nested stage assemblies included, by hierarchical id."""
    stacks: dict[str, SynthesizedStack] = {}
    manifest = json.loads((outdir / "manifest.json").read_text())
    for artifact_id, artifact in manifest.get("artifacts", {}).items():
        if artifact["type"] == "cdk:cloud-assembly":
            stacks.update(read_assembly(outdir / artifact["properties"]["directoryName"]))
        elif artifact["type"] == "aws:cloudformation:stack":
            _, account, region = artifact["environment"].rsplit("/", 2)
            template_file = outdir / artifact["properties"]["templateFile"]
            stacks[artifact["displayName"]] = SynthesizedStack(
                name=artifact["displayName"],
                stack_name=artifact["properties"].get("stackName", artifact_id),
                account=account,
                region=region,
                dependencies=tuple(artifact.get("dependencies", [])),
                artifact_id=artifact_id,
                template=json.loads(template_file.read_text()),
            )
    return stacks


def read_violations(outdir: Path) -> list[dict[str, Any]]:
    report_file = outdir / "validation-report.json"
    if not report_file.exists():
        return []
    report = json.loads(report_file.read_text())
    return [
        {
            "plugin": plugin["pluginName"],
            "rule": violation["ruleName"],
            "path": construct["constructPath"],
        }
        for plugin in report.get("pluginReports", [])
        for violation in plugin.get("violations", [])
        for construct in violation.get("violatingConstructs", [])
    ]


_SYNTH = """
import json, sys, traceback
from pathlib import Path
import aws_cdk as cdk
from app import build_app
for context_file, outdir in zip(sys.argv[1::2], sys.argv[2::2]):
    try:
        app = cdk.App(context=json.loads(Path(context_file).read_text()), outdir=outdir)
        build_app(app)
    except BaseException:  # into a file: Node's output reaches stderr after the traceback
        Path(outdir + ".crash").write_text(traceback.format_exc())
        sys.exit(1)
    try:
        app.synth()
    except RuntimeError as failure:
        if not Path(outdir, "validation-report.json").exists():  # no assembly to read
            Path(outdir + ".crash").write_text(traceback.format_exc())
            sys.exit(1)
        # A plugin's findings (the packs, template validation): the templates are written.
        Path(outdir + ".error").write_text(str(failure))
"""


def synthesize_all(jobs: Sequence[tuple[dict[str, Any], Path]]) -> list[Synthesized]:
    """Build each app as app.py does (compliance packs on) and synthesize it into its directory,
    all in one fresh interpreter, as `cdk synth` runs the app in one. One module's apps share a
    process: most of a synth is the interpreter and the jsii runtime starting (a staging synth
    takes 5.5 s alone, 0.6 s more after another), while one process for every app of the suite
    would hold them all in Node's heap, which jsii never frees."""
    arguments = []
    for context, outdir in jobs:
        outdir.mkdir(parents=True, exist_ok=True)
        context_file = outdir.parent / f"{outdir.name}.context.json"
        context_file.write_text(json.dumps(context))
        arguments += [str(context_file), str(outdir)]
    result = subprocess.run(
        [sys.executable, "-c", _SYNTH, *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if result.returncode != 0:
        crashed = [outdir for _, outdir in jobs if Path(f"{outdir}.crash").exists()]
        if crashed:
            cause = f"synth of {crashed[0]} failed:\n{Path(f'{crashed[0]}.crash').read_text()}"
        else:
            cause = f"synth failed:\n{result.stderr[-3000:]}"
        raise AssertionError(cause)
    return [_read_synth(outdir) for _, outdir in jobs]


def _read_synth(outdir: Path) -> Synthesized:
    error_file = outdir.parent / f"{outdir.name}.error"
    error = error_file.read_text().strip().splitlines()[-1] if error_file.exists() else None
    return Synthesized(outdir, read_assembly(outdir), read_violations(outdir), error)


def synthesize(context: dict[str, Any], outdir: Path) -> Synthesized:
    """One app, synthesized in a fresh interpreter (`synthesize_all`)."""
    (synthesized,) = synthesize_all([(context, outdir)])
    return synthesized


# The Lambda code directories of the constructs. The suite synthesizes with their bytecode caches
# present, as a developer's machine has them once anything imported a handler, so a test can show
# that no asset carries them (they would make the asset hash depend on the machine).
HANDLER_DIRECTORIES = tuple(
    ROOT / "constructs" / "strongbox" / name for name in ("parameters", "reader", "rotation")
)


def pytest_sessionstart(session: pytest.Session) -> None:
    for directory in HANDLER_DIRECTORIES:
        compileall.compile_dir(directory, quiet=1)


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The shipped app, synthesized once per run: under pytest-xdist the first worker to ask
    synthesizes into the run's shared temporary directory, the others wait and read it. A synth
    that failed fails every worker at once instead of being tried again by each."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        return synthesize(cdk_json_context(), tmp_path_factory.mktemp("cdk.out"))
    shared = tmp_path_factory.getbasetemp().parent
    outdir, done, failed = shared / "cdk.out", shared / "cdk.out.json", shared / "cdk.out.failed"
    with (shared / "cdk.out.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if failed.exists():
            pytest.fail(f"the shared synth failed on another worker:\n{failed.read_text()}")
        if not done.exists():
            try:
                # Into a directory of this worker's own, moved into place once complete.
                result = synthesize(cdk_json_context(), shared / f"cdk.out.{worker}")
            except BaseException as error:
                failed.write_text(str(error))
                raise
            (shared / f"cdk.out.{worker}").rename(outdir)
            (shared / "cdk.out.json.tmp").write_text(json.dumps(result.synth_error))
            (shared / "cdk.out.json.tmp").replace(done)
    return Synthesized(
        outdir, read_assembly(outdir), read_violations(outdir), json.loads(done.read_text())
    )


@pytest.fixture
def clean_aws_environment(tmp_path: Path) -> Iterator[dict[str, str]]:
    """No AWS_* variables and an empty HOME (so no ~/.aws): the CLI has no credentials at all."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    home = tmp_path / "home"
    home.mkdir()
    # Keep jsii's unpacked-package cache (it lives under HOME by default) so each run does not
    # re-extract aws-cdk-lib; it holds no credentials.
    jsii_cache = Path.home() / ".cache" / "aws" / "jsii" / "package-cache"
    environment.update(
        HOME=str(home),
        JSII_RUNTIME_PACKAGE_CACHE_ROOT=os.environ.get(
            "JSII_RUNTIME_PACKAGE_CACHE_ROOT", str(jsii_cache)
        ),
        CDK_DISABLE_CLI_TELEMETRY="true",
    )
    yield environment
