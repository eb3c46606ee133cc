"""`inspect.signature` and `help()` for construct classes, which jsii's metaclass hides."""

from __future__ import annotations

import inspect
from typing import TypeVar

T = TypeVar("T", bound=type)


def shows_init_signature(cls: T) -> T:
    """Class decorator: jsii's metaclass defines `__call__(*args, **kwargs)`, which
    `inspect.signature(cls)` (and so IDEs and `help()`) would show instead of `__init__`'s
    keyword arguments."""
    signature = inspect.signature(vars(cls)["__init__"])
    cls.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=list(signature.parameters.values())[1:]
    )
    return cls
