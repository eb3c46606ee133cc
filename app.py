#!/usr/bin/env python3
"""CDK entry point: reads the strongbox context once and builds one Stage per environment."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk.cloud_assembly_schema import Manifest
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


# CDK's own reporting prints a multi-line report per finding and raises through jsii (a
# traceback) on errors only; main() reports every finding itself, one line each.
FAIL_SYNTH_ON_VALIDATION_ERRORS = "@aws-cdk/core:failSynthOnValidationErrors"
VALIDATION_REPORT = "validation-report.json"


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


def unacknowledged_findings(directory: Path) -> list[str]:
    """`<rule id> <construct path>: <message>` for each finding no acknowledgment covers, warnings
    included: the project's rule is fix or acknowledge with a reason."""
    report_file = directory / VALIDATION_REPORT
    if not report_file.exists():
        return []
    report = Manifest.load_validation_report(str(report_file))
    return [
        f"{violation.rule_name} {construct.construct_path}: "
        f"{(violation.description.strip().splitlines() or [''])[0]}"
        for plugin in report.plugin_reports
        for violation in plugin.violations
        if violation.severity != "info"
        for construct in violation.violating_constructs
    ]


def main() -> int:
    app = cdk.App(context=app_context())
    try:
        build_app(app)
    except ConfigError as error:
        print(f"strongbox: invalid configuration: {error}", file=sys.stderr)
        return 2
    except (ValueError, JSIIError) as error:
        # A construct refused what it was given; its message says what, without a traceback.
        print(f"strongbox: cannot build the app: {str(error).splitlines()[0]}", file=sys.stderr)
        return 1
    try:
        directory = Path(app.synth().directory)
        findings = unacknowledged_findings(directory)
    except RuntimeError as error:  # CDK raises itself when its reporting is turned back on
        if not str(error).startswith("ValidationFailed"):
            raise
        directory = Path(app.outdir)
        findings = unacknowledged_findings(directory) or [str(error).splitlines()[0]]
    # An unacknowledged finding, or a denied or unknown call in the call-path proof over what
    # synth wrote, fails synth, and the assembly is removed so that nothing deploys from it.
    if findings:
        for line in findings:
            print(f"strongbox: {line}", file=sys.stderr)
        print(
            f"strongbox: {len(findings)} unacknowledged finding{'s'[: len(findings) - 1]}: fix "
            "each, or acknowledge it with the reason it does not apply (strongbox.acknowledge); "
            "no assembly was written",
            file=sys.stderr,
        )
        remove_assembly(directory)
        return 1
    proof = check(directory)
    if not proof.ok:
        for line in proof.failures():
            print(f"strongbox: call path: {line}", file=sys.stderr)
        print(f"strongbox: {proof.summary()}", file=sys.stderr)
        remove_assembly(directory)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
