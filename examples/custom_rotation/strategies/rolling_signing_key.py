"""A rotation strategy for a webhook signing secret that keeps the key it replaces.

The secret is `{"key": ..., "previous_key": ...}`. Receivers verify a signature with either key,
so a request signed just before a rotation still verifies after it; senders sign with `key`.
"""

from __future__ import annotations

import json
from typing import Any

KEY_LENGTH = 64


class RollingSigningKey:
    """Strongbox's rotation handler calls create, set and test (see strongbox/rotation/handler.py).

    `set` and `test` may run again after a retry, so they are idempotent; no message carries a
    value (the function's logs would keep it)."""

    def create(self, client: Any, current_value: str) -> str:
        current = json.loads(current_value)
        new_key = client.get_random_password(PasswordLength=KEY_LENGTH, ExcludePunctuation=True)[
            "RandomPassword"
        ]
        return json.dumps({"key": new_key, "previous_key": current["key"]})

    def set(self, pending_value: str, current_value: str) -> None:
        """Nothing to do: only Secrets Manager holds the key; receivers read it from there."""

    def test(self, pending_value: str) -> None:
        value = json.loads(pending_value)
        if set(value) != {"key", "previous_key"}:
            raise ValueError("the pending value must hold exactly key and previous_key")
        if len(value["key"]) != KEY_LENGTH or value["key"] == value["previous_key"]:
            raise ValueError(f"the new key must be {KEY_LENGTH} characters and differ from the old")
