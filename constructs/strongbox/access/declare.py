"""Puts a runtime's declared calls into the cloud assembly as construct metadata."""

from __future__ import annotations

from constructs import IConstruct
from strongbox.access.calls import METADATA_TYPE, Runtime


def declare_runtime(scope: IConstruct, runtime: Runtime) -> None:
    """Record `runtime` on `scope`. Tokens in it resolve in `scope`'s stack, as the template's
    do; several declarations on one construct with the same name are one runtime."""
    scope.node.add_metadata(METADATA_TYPE, runtime.as_data())
