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
    """Why `name`/`value` look like a credential, or None. Used to refuse plaintext parameters
    in config, so it errs towards refusing (any credential word anywhere in the name)."""
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


_CREDENTIAL_WORD = (
    r"(?:password|passwd|secret|token|api[-_]?key|private[-_]?key|credential"
    r"|client[-_]?secret|access[-_]?key)s?"
)
# The credential word must close a path segment: "db-password", "/app/prod/API_KEY".
_CREDENTIAL_SEGMENT_END = re.compile(rf"(?:^|[-_.])({_CREDENTIAL_WORD})$", re.IGNORECASE)


def looks_like_credential(parameter_name: str) -> str | None:
    """Why a plaintext String parameter's name suggests it holds a credential, or None. Used by
    `strongbox report` on any app's parameters, so it errs towards fewer false findings.

    The rule: some path segment (split on "/") ends with a credential word (password, passwd,
    secret, token, api key, private key, credential, client secret, access key, optionally
    plural), as a whole word, words being separated by "-", "_" or ".". So "db-password",
    "/app/prod/API_KEY" and "/stripe/secret/v2" match, but "tokenizer-config" does not (not a
    whole word) and neither do "secret-rotation-days" or "token-ttl": a word after the
    credential word makes the name a setting about a credential rather than the credential.
    """
    for segment in parameter_name.split("/"):
        match = _CREDENTIAL_SEGMENT_END.search(segment)
        if match:
            return (
                f"the name {parameter_name!r} ends its segment {segment!r} with "
                f"{match.group(1)!r}, which names a credential: a plaintext String parameter "
                "is readable by anyone allowed ssm:GetParameter, so keep it as a SecureString "
                "parameter or a secret"
            )
    return None
