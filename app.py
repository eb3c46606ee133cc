#!/usr/bin/env python3
"""CDK entry point: reads the strongbox context once and builds one Stage per environment."""

from __future__ import annotations

import sys
from pathlib import Path

import aws_cdk as cdk
from jsii.errors import JSIIError

from stacks import placement
from stacks.config import ConfigError, check_cdk_json, parse_config
from stacks.pipeline_stack import build_pipeline
from stacks.stage import EnvironmentStage
from strongbox import add_compliance_plugins
from strongbox.access.proof import check, remove_assembly


def build_app(app: cdk.App, cdk_json: Path = Path("cdk.json")) -> list[EnvironmentStage]:
    """Build every configured environment (or only `-c env=<name>`) with compliance checks on."""
    check_cdk_json(cdk_json)
    config = parse_config(app.node.try_get_context("strongbox"))
    environments = config.select(app.node.try_get_context("env"))
    add_compliance_plugins(app)
    # `-c strongbox-placement='{...}'` replaces the recorded file (tests, pipelines).
    override = app.node.try_get_context("strongbox-placement")
    recorded = (
        placement.load()
        if override is None
        else placement.parse_recorded(override, "strongbox-placement (context)")
    )
    stages = [
        EnvironmentStage(
            app,
            application=config.application,
            environment=environment,
            recorded_placement=recorded.get(environment.name, {}),
        )
        for environment in environments
    ]
    # The pipeline deploys these same stages; `cdk deploy 'Strongbox-Dev/*'` keeps working. It
    # needs every environment, so `-c env=<name>` (one environment) leaves it out.
    if config.pipeline.enabled and len(environments) == len(config.environments):
        build_pipeline(app, config.application, config.pipeline, stages)
    return stages


def main() -> int:
    app = cdk.App()
    try:
        build_app(app)
    except ConfigError as error:
        print(f"strongbox: invalid configuration: {error}", file=sys.stderr)
        return 2
    except (ValueError, JSIIError) as error:
        # A construct refused what it was given; its message says what, without a traceback.
        print(f"strongbox: cannot build the app: {str(error).splitlines()[0]}", file=sys.stderr)
        return 1
    assembly = app.synth()
    # The call-path proof reads what synth wrote: a denied or unknown call fails synth, and
    # the assembly is removed so that nothing deploys from it.
    proof = check(Path(assembly.directory))
    if not proof.ok:
        for line in proof.failures():
            print(f"strongbox: call path: {line}", file=sys.stderr)
        print(f"strongbox: {proof.summary()}", file=sys.stderr)
        remove_assembly(Path(assembly.directory))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
