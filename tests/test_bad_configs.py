"""A corpus of bad configurations: each must be refused at parse time, naming its key.

`tests/bad_configs/` holds one JSON file per mistake a platform engineer makes in the
`strongbox` block of cdk.json: a wrong type, a near-miss name, a value copied from another
project or tool, or a value AWS would refuse only at deploy time (formats, lengths, ranges,
reserved words, references to things that do not exist, combinations that conflict). Each file
is

    {"why": "<what is wrong and why it must be refused>",
     "expect_path": "<the key path the error must name>",
     "edits": [{"path": [...], "set": <value>} or {"path": [...], "delete": true}, ...]}

and its edits apply to a deep copy of the shipped block. The corpus was written from the
configuration reference and the AWS documentation, independently of tests/test_config.py and
its fuzz test, so it holds any implementation of stacks/config.py to the documented contract:
`parse_config` raises ConfigError whose `path` is exactly `expect_path`, and whose message is one
line, `<path>: <reason>`, with a reason of a few words at least ("invalid" or "is required" alone
does not say what is allowed). One entry also goes through app.py as `cdk synth -c strongbox=...`
runs it: exit status 2, that one line on stderr, and nothing written to the output directory.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from stacks.config import ConfigError, parse_config
from tests.conftest import cdk_json_context, default_strongbox_config, run_app

CORPUS = Path(__file__).resolve().parent / "bad_configs"
ENTRIES = sorted(CORPUS.glob("*.json"))
# The entry app.py is run with: a key deep in a list, as most mistakes are.
APP_ENTRY = CORPUS / "rotation_rate_one_days.json"
MIN_REASON_WORDS = 3


def load(path: Path) -> dict[str, Any]:
    """One corpus entry, checked for shape so that a malformed file fails as such."""
    entry: dict[str, Any] = json.loads(path.read_text())
    assert set(entry) == {"why", "expect_path", "edits"}, f"{path.name}: unexpected keys"
    assert isinstance(entry["why"], str) and entry["why"].strip(), f"{path.name}: no why"
    assert isinstance(entry["expect_path"], str) and entry["expect_path"], path.name
    assert isinstance(entry["edits"], list) and entry["edits"], f"{path.name}: no edits"
    for edit in entry["edits"]:
        assert isinstance(edit["path"], list) and edit["path"], f"{path.name}: empty edit path"
        assert set(edit) in ({"path", "set"}, {"path", "delete"}), f"{path.name}: {edit}"
        assert edit.get("delete", True) is True, f"{path.name}: delete must be true"
    return entry


def apply_edits(config: dict[str, Any], edits: list[dict[str, Any]]) -> dict[str, Any]:
    """A deep copy of `config` with each edit applied; every parent on a path must exist, so an
    entry that no longer fits the shipped config fails with a KeyError or IndexError."""
    edited = copy.deepcopy(config)
    for edit in edits:
        *parents, last = edit["path"]
        node: Any = edited
        for key in parents:
            node = node[key]
        if edit.get("delete"):
            del node[last]
        else:
            node[last] = copy.deepcopy(edit["set"])
    return edited


def test_the_corpus_has_its_entries() -> None:
    """A missing or renamed directory would otherwise parametrize nothing and pass."""
    assert len(ENTRIES) >= 40, f"{len(ENTRIES)} entries in {CORPUS}"
    assert APP_ENTRY in ENTRIES


@pytest.mark.parametrize("path", ENTRIES, ids=[path.stem for path in ENTRIES])
def test_a_bad_config_is_refused_with_one_line_naming_its_key(path: Path) -> None:
    entry = load(path)
    expected = entry["expect_path"]
    bad = apply_edits(default_strongbox_config(), entry["edits"])

    try:
        parse_config(bad)
    except ConfigError as error:
        message = str(error)
        assert error.path == expected, f"refused at the wrong key: {message} (why: {entry['why']})"
        assert len(message.splitlines()) == 1, f"not one line: {message!r}"
        assert message.startswith(f"{expected}: "), message
        reason = message.removeprefix(f"{expected}: ").strip()
        assert len(reason.split()) >= MIN_REASON_WORDS, f"does not say what is allowed: {message}"
    else:
        pytest.fail(f"accepted: {entry['why']}")


def test_app_py_refuses_a_bad_config_with_one_line_and_writes_nothing(tmp_path: Path) -> None:
    """As `cdk synth -c strongbox='<json>'` runs it: the CLI hands app.py its context, the block
    as JSON text, through CDK_CONTEXT_JSON."""
    entry = load(APP_ENTRY)
    context = cdk_json_context()
    context["strongbox"] = json.dumps(apply_edits(context["strongbox"], entry["edits"]))
    outdir = tmp_path / "cdk.out"

    result = run_app(context, outdir)

    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"strongbox: invalid configuration: {entry['expect_path']}: ")
    assert sorted(outdir.iterdir()) == [], "nothing is written for a refused config"
