"""Deploy mode: each integration app deployed to the account of the caller's credentials, its
assertions run, and everything destroyed.

    make integ                         (every app, five at a time)
    python -m tests.integ.deploy [--app integ_rotation] [--keep]

For each app, `cdk deploy --all` (the pinned CLI) creates the scenario's stacks and then its
assertion stack, whose custom resources make the API calls and check the results: a failed
assertion fails that deploy. Then `cdk destroy --all --force`, whether the deploy passed or not
(`--keep` leaves the stacks, to look at a failure). Needs credentials for an account bootstrapped
(`cdk bootstrap`) in the primary and the replica region; docs/integration.md lists the
permissions, the cost and the time. Prints one line per app and exits 1 if any failed, 2 on a
usage or credentials problem.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INTEG = ROOT / "tests" / "integ"
APPS = sorted(path.stem for path in INTEG.glob("integ_*.py"))
OUT = ROOT / "cdk.integ.out"
# The pinned CLI and Node (package.json), as `make` runs them, whoever starts this.
NODE_BIN = ROOT / "node_modules" / ".bin"
CDK = NODE_BIN / "cdk"


@dataclass(frozen=True)
class Outcome:
    app: str
    passed: bool
    minutes: float
    log: Path

    def line(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        return f"{verdict} {self.app} ({self.minutes:.0f} min; log: {self.log})"


def caller_account() -> str:
    """The account of the caller's credentials; SystemExit(2) with one line when there are none."""
    import boto3  # type: ignore[import-untyped]  # a dev dependency; only this command needs it
    from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

    try:
        account: str = boto3.client("sts").get_caller_identity()["Account"]
    except (BotoCoreError, ClientError) as error:
        print(
            f"strongbox integ: no usable AWS credentials ({error}); set AWS_PROFILE (or run the "
            "integ workflow) for a sandbox account bootstrapped with `cdk bootstrap`",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    return account


def run(app: str, run_id: str, keep: bool) -> Outcome:
    """Deploy `app`, then destroy it unless `keep`; the CLI's output goes to its log."""
    started = time.monotonic()
    log = OUT / f"{app}.log"
    cdk = [
        str(CDK),
        "--app",
        f"{sys.executable} -m tests.integ.{app}",
        "--output",
        str(OUT / app),
    ]
    environment = {
        **os.environ,
        "PATH": f"{NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "JSII_NODE": str(NODE_BIN / "node"),
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "STRONGBOX_INTEG_RUN": run_id,
    }
    with log.open("w") as output:
        deployed = subprocess.run(
            [*cdk, "deploy", "--all", "--require-approval", "never"],
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        destroyed = (
            None
            if keep
            else subprocess.run(
                [*cdk, "destroy", "--all", "--force"],
                cwd=ROOT,
                env=environment,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        )
    passed = deployed.returncode == 0 and (destroyed is None or destroyed.returncode == 0)
    return Outcome(app, passed, (time.monotonic() - started) / 60, log)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app", action="append", choices=APPS, help="default: every app")
    parser.add_argument("--keep", action="store_true", help="do not destroy the stacks")
    parser.add_argument("--parallel", type=int, default=len(APPS), help="apps at a time")
    args = parser.parse_args(argv)
    account = caller_account()
    # Names must not repeat between runs: a deleted secret's name stays taken for a while.
    run_id = os.environ.get("STRONGBOX_INTEG_RUN") or time.strftime("%m%d%H%M", time.gmtime())
    OUT.mkdir(exist_ok=True)
    apps = args.app or APPS
    print(f"strongbox integ: run {run_id} in account {account}: {', '.join(apps)}", flush=True)
    with ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
        outcomes = list(pool.map(lambda app: run(app, run_id, args.keep), apps))
    for outcome in outcomes:
        print(outcome.line())
    return 0 if all(outcome.passed for outcome in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
