#!/usr/bin/env python3
"""CDK entry point: reads the strongbox context once and builds one Stage per environment."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from jsii.errors import JSIIError

from stacks import placement
from stacks.config import ConfigError, check_cdk_json, parse_config
from stacks.pipeline_stack import build_pipeline
from stacks.stage import EnvironmentStage
from strongbox import add_compliance_plugins
from strongbox.synth import FAIL_SYNTH_ON_VALIDATION_ERRORS, synthesize


def build_app(app: cdk.App, cdk_json: Path = Path("cdk.json")) -> list[EnvironmentStage]:
    """Build every configured environment (or only `-c env=<name>`) with compliance checks on."""
    check_cdk_json(cdk_json)
    config = parse_config(app.node.try_get_context("strongbox"))
    environments = config.select(app.node.try_get_context("env"))
    add_compliance_plugins(app)
    # `-c strongbox-placement='{...}'` and `-c strongbox-parameter-placement='{...}'` replace
    # the recorded files (tests, pipelines).
    recorded = _recorded(app, placement.SECRETS, "strongbox-placement")
    recorded_parameters = _recorded(app, placement.PARAMETERS, "strongbox-parameter-placement")
    stages = [
        EnvironmentStage(
            app,
            application=config.application,
            environment=environment,
            recorded_placement=recorded.get(environment.name, {}),
            recorded_parameter_placement=recorded_parameters.get(environment.name, {}),
        )
        for environment in environments
    ]
    # The pipeline deploys these same stages; `cdk deploy 'Strongbox-Dev/*'` keeps working. It
    # needs every environment, so `-c env=<name>` (one environment) leaves it out.
    if config.pipeline.enabled and len(environments) == len(config.environments):
        build_pipeline(app, config.application, config.pipeline, stages)
    return stages


def _recorded(app: cdk.App, shards: placement.Shards, key: str) -> dict[str, dict[str, str]]:
    """The recorded placement of `shards`, or the one the context gives under `key`."""
    override = app.node.try_get_context(key)
    if override is None:
        return shards.load()
    return shards.parse_recorded(override, f"{key} (context)")


def app_context(cdk_json: Path = Path("cdk.json")) -> dict[str, Any]:
    """The context `cdk synth` would pass: the CLI's own when it runs the app, else cdk.json's
    (so that `python app.py` builds what `cdk synth` builds)."""
    context: dict[str, Any] = {FAIL_SYNTH_ON_VALIDATION_ERRORS: False}
    if "CDK_CONTEXT_JSON" not in os.environ and cdk_json.exists():
        try:
            document = json.loads(cdk_json.read_text())
        except ValueError:
            document = {}  # build_app's check of cdk.json names what is wrong with it
        if isinstance(document, dict) and isinstance(document.get("context"), dict):
            context = {**document["context"], **context}
    return context


def main() -> int:
    app = cdk.App(context=app_context())
    try:
        build_app(app)
    except ConfigError as error:
        print(f"strongbox: invalid configuration: {error}", file=sys.stderr)
        return 2
    except (ValueError, JSIIError, RuntimeError) as error:
        # A construct refused what it was given (jsii raises some of the CDK's refusals as
        # RuntimeError); its message says what, without a traceback.
        print(f"strongbox: cannot build the app: {str(error).splitlines()[0]}", file=sys.stderr)
        return 1
    # A construct's refusal, an unacknowledged finding, or a denied or unknown call in the
    # call-path proof fails synth, one line each, and nothing deployable is left.
    return synthesize(app)


if __name__ == "__main__":
    sys.exit(main())
