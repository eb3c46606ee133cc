"""Conditions that let an AWS service use a role or key only for this account's resources."""

from __future__ import annotations

from typing import Any


def source_conditions(
    account: str, source_arn: str, *, arn_operator: str = "ArnLike"
) -> dict[str, Any]:
    """Against confused deputies: the service acts for `account` (aws:SourceAccount) and for a
    resource matching `source_arn` (aws:SourceArn, compared with `arn_operator`, which some
    services' guides give as StringLike)."""
    return {
        arn_operator: {"aws:SourceArn": source_arn},
        "StringEquals": {"aws:SourceAccount": account},
    }
