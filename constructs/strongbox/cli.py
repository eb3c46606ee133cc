"""The `strongbox` command: `strongbox report [cdk.out]`, `strongbox check [cdk.out]` and
`strongbox verify --env NAME`."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path

from strongbox.access.proof import LIMITS, check
from strongbox.assembly.resolver import AssemblyError
from strongbox.report.analysis import analyse
from strongbox.report.cost import Assumptions, load_prices
from strongbox.report.diagram import render_svg
from strongbox.report.render import as_json, as_markdown
from strongbox.verify.checks import VerifyError
from strongbox.verify.command import DESCRIPTION as VERIFY_DESCRIPTION
from strongbox.verify.command import EPILOG as VERIFY_EPILOG
from strongbox.verify.command import verify


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command; returns the exit status (0; 1 when `check` or `verify` finds a
    problem; or 2 with one line on stderr)."""
    parser = _parser()
    arguments = parser.parse_args(argv)
    try:
        if arguments.command == "check":
            return _check(Path(arguments.assembly))
        if arguments.command == "verify":
            return _verify(arguments)
        return _report(arguments)
    except (AssemblyError, VerifyError, ValueError, OSError, subprocess.SubprocessError) as error:
        print(f"strongbox {arguments.command}: {error}", file=sys.stderr)
        return 2
    except (TypeError, AttributeError, KeyError, IndexError, RecursionError) as error:
        # A template shape no check above foresaw: still one line, never a traceback.
        print(
            f"strongbox {arguments.command}: {arguments.assembly}: unexpected content "
            f"({error.__class__.__name__}: {error})",
            file=sys.stderr,
        )
        return 2


def _check(assembly: Path) -> int:
    """Every declared call through every policy layer, the readers of every secret and
    SecureString, and the stack order: one line per problem, then what the proof cannot see,
    then the counts."""
    proof = check(assembly)
    for line in proof.failures():
        print(line)
    print(LIMITS)
    print(proof.summary())
    return 0 if proof.ok else 1


def _verify(arguments: argparse.Namespace) -> int:
    """The live account against the assembly for one environment: one line per check."""
    status, text = verify(
        environment=arguments.env,
        assembly=Path(arguments.assembly),
        output_format=arguments.format,
        role_arn=arguments.role_arn,
        drift_timeout=arguments.drift_timeout,
    )
    sys.stdout.write(text)
    return status


def _report(arguments: argparse.Namespace) -> int:
    assumptions = Assumptions(
        reads_per_secret_per_month=arguments.reads_per_month,
        endpoint_gb_per_month=_decimal(arguments.endpoint_gb, "--endpoint-gb"),
        parameter_reads_per_month=arguments.parameter_reads_per_month,
        higher_throughput=arguments.higher_throughput,
    )
    report = analyse(Path(arguments.assembly), assumptions, load_prices())
    text = as_json(report) if arguments.format == "json" else as_markdown(report)
    # Everything is computed before anything is written: a failure leaves no partial file.
    if arguments.output is None:
        sys.stdout.write(text)
        return 0
    output = Path(arguments.output)
    output.write_text(text, encoding="utf-8")
    if arguments.format == "json":
        return 0  # a program asked for the JSON: nothing else is written, nothing said
    names = _diagram_names([part.environment.name for part in report.environments])
    for part, name in zip(report.environments, names, strict=True):
        svg = output.with_name(f"{output.stem}-{name}.svg")
        if render_svg(part.environment, svg):
            print(f"wrote {svg}", file=sys.stderr)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="strongbox")
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser(
        "report",
        help="inventory, readers, cost and advice from a synthesized cloud assembly (offline)",
    )
    report.add_argument("assembly", nargs="?", default="cdk.out", help="default: ./cdk.out")
    checking = commands.add_parser(
        "check",
        help="prove every declared call is allowed through every policy layer and nothing "
        "else can read a secret (offline; exit 1 on any denied or unknown call)",
    )
    checking.add_argument("assembly", nargs="?", default="cdk.out", help="default: ./cdk.out")
    verifying = commands.add_parser(
        "verify",
        help="compare the live AWS account with the assembly for one environment (read-only; "
        "exit 1 on any mismatch)",
        description=VERIFY_DESCRIPTION,
        epilog=VERIFY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verifying.add_argument(
        "--env", required=True, help="the environment: prod verifies the stage Strongbox-Prod"
    )
    verifying.add_argument("--assembly", default="cdk.out", help="default: ./cdk.out")
    verifying.add_argument("--format", choices=("table", "json"), default="table")
    verifying.add_argument(
        "--role-arn", help="assume this role (sts:AssumeRole) and verify with its credentials"
    )
    verifying.add_argument(
        "--drift-timeout",
        type=_seconds,
        default=300.0,
        help="seconds to wait for drift detection of all stacks (default: %(default)g)",
    )
    report.add_argument("--format", choices=("markdown", "json"), default="markdown")
    report.add_argument(
        "--output",
        help="file to write (default: stdout); for Markdown with Graphviz installed, also an SVG "
        "diagram per environment beside it, named <file>-<environment>.svg",
    )
    report.add_argument(
        "--reads-per-month",
        type=_count,
        default=Assumptions.reads_per_secret_per_month,
        help="GetSecretValue calls per secret per month (default: %(default)s)",
    )
    report.add_argument(
        "--parameter-reads-per-month",
        type=_count,
        default=Assumptions.parameter_reads_per_month,
        help="GetParameter calls per parameter per month (default: %(default)s)",
    )
    report.add_argument(
        "--endpoint-gb",
        default=str(Assumptions.endpoint_gb_per_month),
        help="GB processed per interface endpoint per month (default: %(default)s)",
    )
    report.add_argument(
        "--higher-throughput",
        action="store_true",
        help="Parameter Store's higher-throughput setting is on (its API calls are charged)",
    )
    return parser


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 1 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"expected 1 to 3600 seconds, got {text!r}")
    return value


def _decimal(text: str, option: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{option}: expected a number, got {text!r}") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{option}: expected 0 or more, got {text!r}")
    return value


def _diagram_names(environments: Sequence[str]) -> list[str]:
    """A readable file-name part per environment, unique among them: the words of its name
    (`aws://111111111111/eu-west-1` is `111111111111-eu-west-1`) without the leading words every
    environment shares (`Strongbox-Prod` among `Strongbox-Dev` and others is `prod`)."""
    parts = [_name_parts(name) for name in environments]
    shared = 0
    while (
        len(parts) > 1
        and all(len(words) > shared + 1 for words in parts)
        and len({words[shared] for words in parts}) == 1
    ):
        shared += 1
    names: list[str] = []
    for words in parts:
        name = "-".join(words[shared:]) or "environment"
        unique, count = name, 1
        while unique in names:
            count += 1
            unique = f"{name}-{count}"
        names.append(unique)
    return names


def _name_parts(environment: str) -> list[str]:
    """An environment's name in lower-case parts: a stage's words, or the account and region of
    top-level stacks (the region kept whole)."""
    where = re.fullmatch(r"aws://([^/]+)/([^/]+)", environment)
    parts = [where[1], where[2]] if where else re.split(r"[^a-z0-9]+", environment.lower())
    return [
        "-".join(re.findall(r"[a-z0-9]+", part.lower()))
        for part in parts
        if re.search(r"[a-z0-9]", part.lower())
    ]


if __name__ == "__main__":
    sys.exit(main())
