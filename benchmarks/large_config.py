"""A strongbox config with N secrets in one environment, for the scale tests and benchmarks.

    python benchmarks/large_config.py 1000 > /tmp/strongbox-1000.json

The shipped prod environment (replicated to eu-central-1, its workload and database) plus N
generated secrets: a mix of API keys whose rotation is off with a reason, token-rotated keys and
JSON secrets, a quarter of them read by the service. Keys rotate with a token among the first
ROTATED only, which fill the first Secrets stacks: every Secrets stack rotating with a token has
a rotation function of its own, whose role the unexpected-read rule names, and EventBridge's
2,048 characters hold about a dozen (stacks/stage.py refuses more).
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ROTATED = 240


def large_config(count: int, environment: str = "prod") -> dict[str, Any]:
    shipped = json.loads((ROOT / "cdk.json").read_text())["context"]["strongbox"]
    config: dict[str, Any] = copy.deepcopy(shipped)
    body = config["environments"][environment]
    config["environments"] = {environment: body}
    for index in range(count):
        purpose = f"partner-{index:04d}-credentials"
        secret: dict[str, Any] = {
            "purpose": purpose,
            "owner": "team-partners",
            "description": f"Credentials for partner {index:04d}",
            "consumers": ["api"] if index % 4 == 0 else [],
        }
        if index % 3 == 0 and index < ROTATED:
            secret.update(kind="api-key", rotation={"schedule": "rate(60 days)"})
        elif index % 3 in (0, 1):
            secret.update(
                kind="api-key",
                rotation={"disabled_reason": "Issued by the partner's portal and rotated there."},
            )
        else:
            secret.update(
                kind="json",
                template={"partner": f"p{index:04d}"},
                generate_key="token",
                rotation={"disabled_reason": "Swapped with the partner on their schedule."},
            )
        body["secrets"].append(secret)
    return config


if __name__ == "__main__":
    print(json.dumps(large_config(int(sys.argv[1]) if len(sys.argv) > 1 else 1000), indent=1))
