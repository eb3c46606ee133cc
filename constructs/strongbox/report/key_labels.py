"""Key ARNs the templates cannot tell, shown as the symbols they are, not as real-looking ARNs."""

from __future__ import annotations

import re
from collections.abc import Iterable

from strongbox.report.inventory import Key

# KMS picks a key's id when CloudFormation creates the key, so the resolver (and the proof, which
# matches policies against it) names it `[mrk-]<stack name>.<logical id>` in an ARN of the key's
# account and region: a stable name, but not an ARN anyone can look up. A real key id (a UUID or
# mrk- and hex) never has a dot.
_MADE_UP_KEY_ARN = re.compile(
    r"arn:aws:kms:(?P<region>[^:\s]*):[^:\s]*:key/(?:mrk-)?"
    r"(?P<stack>[A-Za-z][A-Za-z0-9-]*)\.(?P<logical_id>[A-Za-z0-9]+)"
)


class KeyLabels:
    """Replaces each made-up key ARN with `<key ALIAS in REGION>` when the assembly gives the key
    an alias there, else `<key LOGICAL-ID of stack STACK in REGION>`; anything else is left as it
    is (an alias, a key ARN given in the configuration, an unresolved value)."""

    def __init__(self, keys: Iterable[Key]) -> None:
        self._aliases = {key.arn: key.aliases[0] for key in keys if key.aliases}

    def label(self, match: re.Match[str]) -> str:
        alias = self._aliases.get(match[0])
        if alias is not None:
            return f"<key {alias} in {match['region']}>"
        return f"<key {match['logical_id']} of stack {match['stack']} in {match['region']}>"

    def text(self, text: str) -> str:
        """`text` with every made-up key ARN in it replaced by its label."""
        return _MADE_UP_KEY_ARN.sub(self.label, text)

    def markdown(self, line: str) -> str:
        """One line of Markdown with every made-up key ARN replaced by its label, in backticks
        where it stands outside a code span (a renderer would take `<key ...>` for an HTML tag)."""

        def replace(match: re.Match[str]) -> str:
            in_code = line.count("`", 0, match.start()) % 2 == 1
            label = self.label(match)
            return label if in_code else f"`{label}`"

        return _MADE_UP_KEY_ARN.sub(replace, line)
