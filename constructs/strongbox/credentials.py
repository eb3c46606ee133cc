"""Heuristics that tell a credential from configuration, so plaintext parameters stay plain."""

from __future__ import annotations

import re

# Names that announce a credential.
_CREDENTIAL_NAME = re.compile(
    r"(pass(word|wd|phrase)?|secret|token|api[_.-]?key|private[_.-]?key|credential|auth)",
    re.IGNORECASE,
)
# Values with the shape of well-known credentials.
_CREDENTIAL_VALUES = (
    (re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), "an AWS access key id"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"\b(sk|rk)_(live|test)_[0-9A-Za-z]{16,}"), "a Stripe secret key"),
    (re.compile(r"\bgh[pousr]_[0-9A-Za-z]{30,}"), "a GitHub token"),
    (re.compile(r"\bxox[abposr]-[0-9A-Za-z-]{10,}"), "a Slack token"),
    (re.compile(r"://[^/\s:@]+:[^/\s@]+@"), "a URL with a password"),
)
# A long run of letters, digits and symbols mixing character classes: a generated secret.
_RANDOM_RUN = re.compile(r"[A-Za-z0-9+/=_\-]{32,}")


def credential_reason(name: str, value: str) -> str | None:
    """Why `name`/`value` look like a credential, or None. Used to refuse plaintext parameters."""
    if _CREDENTIAL_NAME.search(name):
        return f"the name {name!r} says it holds a credential"
    for pattern, what in _CREDENTIAL_VALUES:
        if pattern.search(value):
            return f"the value looks like {what}"
    for run in _RANDOM_RUN.findall(value):
        classes = sum(bool(re.search(c, run)) for c in ("[a-z]", "[A-Z]", "[0-9]"))
        if classes == 3:
            return "the value contains a long random-looking string (a generated secret?)"
    return None
