"""The one error type a construct raises when it refuses what it was given."""

from __future__ import annotations

from constructs import IConstruct


class StrongboxError(ValueError):
    """`<construct path>: <what is wrong> (allowed: ...)`: a refusal that names the construct.

    A ValueError, so an app that catches ValueError around its build keeps working.
    """

    def __init__(self, scope: IConstruct, message: str) -> None:
        super().__init__(f"{scope.node.path}: {message}")
