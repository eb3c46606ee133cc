"""synthesize(app): synth, then every gate Strongbox's own app passes, one line per problem."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

import aws_cdk as cdk
from aws_cdk.cloud_assembly_schema import Manifest

from strongbox.access.proof import check, remove_assembly

# With this context false, CDK writes the validation report and leaves the verdict to the caller
# instead of printing a multi-line report per finding and raising through jsii (a traceback).
FAIL_SYNTH_ON_VALIDATION_ERRORS = "@aws-cdk/core:failSynthOnValidationErrors"
VALIDATION_REPORT = "validation-report.json"


def synthesize(app: cdk.App, *, stream: TextIO | None = None) -> int:
    """Synthesize `app` and judge what it wrote, as Strongbox's own app does:

    - a construct's validation (a `SecretConsumer` attached to no role, a secret that neither
      rotates nor says why) and every unacknowledged compliance finding, warning or error
      (`add_compliance_plugins`), one line each;
    - the call-path proof (`strongbox check`): every declared call allowed through every policy
      layer, nobody else able to read a secret, stacks in a safe deploy order.

    Returns the exit status for `sys.exit`: 0, or 1 after one line per problem on `stream`
    (stderr) with what synth wrote removed, so nothing deploys from it. Build the app with
    `cdk.App(context={FAIL_SYNTH_ON_VALIDATION_ERRORS: False})` to keep CDK's own multi-line
    report of the findings out of the output (plain `app.synth()` then no longer fails on them).
    """
    stream = stream or sys.stderr
    summary = (
        "{count} unacknowledged finding{s}: fix each, or acknowledge it with the reason it does "
        "not apply (strongbox.acknowledge); no assembly was written"
    )
    try:
        directory = Path(app.synth().directory)
        problems = unacknowledged_findings(directory)
    except RuntimeError as error:
        message = str(error)
        directory = Path(app.outdir)
        if message.startswith("ValidationFailedWithErrors"):
            # "[construct path] message" per failed construct validation.
            problems = [line.strip() for line in message.splitlines()[1:] if line.strip()]
            summary = "{count} construct{s} refused what {they} were given; no assembly was written"
        elif message.startswith("ValidationFailed"):  # CDK's reporting, when left on
            problems = unacknowledged_findings(directory) or [message.splitlines()[0]]
        else:
            raise
    if problems:
        for line in problems:
            print(f"strongbox: {line}", file=stream)
        plural = len(problems) > 1
        print(
            "strongbox: "
            + summary.format(
                count=len(problems), s="s" if plural else "", they="they" if plural else "it"
            ),
            file=stream,
        )
        remove_assembly(directory)
        return 1
    proof = check(directory)
    if not proof.ok:
        for line in proof.failures():
            print(f"strongbox: call path: {line}", file=stream)
        print(f"strongbox: {proof.summary()}", file=stream)
        remove_assembly(directory)
        return 1
    return 0


def unacknowledged_findings(directory: Path) -> list[str]:
    """`<rule id> <construct path>: <message>` for each finding in `directory`'s validation
    report that no acknowledgment covers, warnings included: fix it or acknowledge it."""
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
