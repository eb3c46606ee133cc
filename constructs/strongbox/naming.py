"""Names derived from configuration: construct ids and policy statement ids."""

from __future__ import annotations

import re


def pascal_case(text: str) -> str:
    """`db-credentials` -> `DbCredentials`, `ecr.dkr` -> `EcrDkr`: alphanumeric runs, capitalised.

    Construct ids made this way become logical ids, so changing this function replaces
    resources.
    """
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", text) if part)
