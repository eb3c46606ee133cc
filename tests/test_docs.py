"""The user docs (README.md, docs/*.md) keep their promises: every Python block runs, every JSON
block parses (a `strongbox` sketch is a valid config), every link resolves, and the README stays
short."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stacks.config import parse_config
from tests.conftest import ROOT

README = ROOT / "README.md"
README_MAX_LINES = 250
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
# Languages a fence may name. Python is executed, JSON parsed; the others are shown only.
SHOWN = {"sh", "bash", "console", "markdown", "text"}
CHECKED = {"python", "json"}
# A Python block that is an excerpt of an example app names it on its first line; the example
# is synthesized by its own test, so the block is only checked against the file.
EXAMPLE = re.compile(r"^# (examples/\S+\.py)$")
_FENCE = re.compile(r"^```(\S*)\s*$")
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    language: str
    code: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT).as_posix()}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """The fenced code blocks of `page` (fences at the start of a line, as these pages write
    them); an unclosed fence is an error rather than a block silently left unchecked."""
    found: list[Block] = []
    opened: tuple[int, str] | None = None
    body: list[str] = []
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        fence = _FENCE.match(line)
        if opened is None:
            if fence:
                opened, body = (number, fence.group(1)), []
        elif line.rstrip() == "```":
            found.append(Block(page, opened[0], opened[1], "\n".join(body) + "\n"))
            opened = None
        else:
            body.append(line)
    assert opened is None, f"{page.relative_to(ROOT)}:{opened[0]}: code block never closed"
    return found


ALL_BLOCKS = [block for page in PAGES for block in blocks(page)]
PYTHON = [block for block in ALL_BLOCKS if block.language == "python"]
JSON = [block for block in ALL_BLOCKS if block.language == "json"]


def test_readme_is_at_most_250_lines() -> None:
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; the limit is 250"


def test_the_docs_have_python_and_json_blocks_to_check() -> None:
    # A parser that found nothing would pass every test below.
    assert len(PYTHON) >= 10, [block.where for block in PYTHON]
    assert any(block.page == README for block in PYTHON)
    assert any(block.page == README for block in JSON)


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=lambda block: block.where)
def test_every_block_names_a_known_language(block: Block) -> None:
    # An untagged or misspelt fence would hide a Python snippet from execution.
    assert block.language in CHECKED | SHOWN, (
        f"{block.where}: fence language {block.language!r}; use one of "
        f"{', '.join(sorted(CHECKED | SHOWN))}"
    )


@pytest.mark.parametrize("block", PYTHON, ids=lambda block: block.where)
def test_python_block_runs(block: Block) -> None:
    example = EXAMPLE.match(block.code.splitlines()[0])
    if example:
        source = ROOT / example.group(1)
        assert source.is_file(), f"{block.where}: {example.group(1)} does not exist"
        excerpt = block.code.split("\n", 1)[1].strip()  # without the line naming the file
        assert excerpt and excerpt in source.read_text(encoding="utf-8"), (
            f"{block.where}: the block is not an excerpt of {example.group(1)}"
        )
        return
    if "cdk.App(" in block.code:
        # Building constructs without synthesizing skips their validations (a secret without
        # rotation, a refused statement): the block would pass while its app would not.
        assert "app.synth()" in block.code or "Template.from_stack(" in block.code, (
            f"{block.where}: an app in a snippet must be synthesized"
        )
    for stack in re.finditer(r"(?:cdk\.Stack|FixedZonesStack)\(", block.code):
        assert "env=" in _call_arguments(block.code, stack.end()), (
            f"{block.where}: give every stack an explicit env (account and region)"
        )
    namespace: dict[str, Any] = {"__name__": "__doc_snippet__"}
    exec(compile(block.code, block.where, "exec"), namespace)  # noqa: S102 - our own docs


@pytest.mark.parametrize("block", JSON, ids=lambda block: block.where)
def test_json_block_parses(block: Block) -> None:
    try:
        document = json.loads(block.code)
    except json.JSONDecodeError as error:
        pytest.fail(f"{block.where}: not valid JSON: {error}")
    if isinstance(document, dict):
        context = document.get("context", document)
        if isinstance(context, dict) and "strongbox" in context:
            parse_config(context["strongbox"])  # a config sketch is a config


def _anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    headings = re.findall(r"^#{1,6} (.+)$", page.read_text(encoding="utf-8"), re.MULTILINE)
    return {_anchor(heading) for heading in headings}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_links_resolve(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for block in blocks(page):  # links inside code are not links
        text = text.replace(block.code, "")
    broken = []
    for target in _LINK.findall(text):
        if re.match(r"^[a-z]+:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            broken.append(f"{target}: no heading with that anchor")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def _call_arguments(code: str, start: int) -> str:
    """The text of a call's arguments, from just after its "(" to the matching ")"."""
    depth = 1
    for end in range(start, len(code)):
        depth += {"(": 1, ")": -1}.get(code[end], 0)
        if depth == 0:
            return code[start:end]
    return code[start:]


def test_design_s_workload_table_lists_what_each_consumer_reads_in_prod() -> None:
    """docs/design.md's "what runs where": each consumer's row names exactly the secrets and
    parameters the shipped prod config gives it."""
    from stacks.config import parse_config
    from tests.conftest import default_strongbox_config

    prod = parse_config(default_strongbox_config()).environment("prod")
    cells = {
        parts[1].strip(): parts[4]
        for row in (ROOT / "docs" / "design.md").read_text(encoding="utf-8").splitlines()
        if len(parts := row.split("|")) == 7
    }
    for consumer, row in (
        ("api", "`api` container on Fargate"),
        ("reconciler", "`reconciler` Lambda"),
        ("batch", "instances from the `batch` launch template"),
    ):
        fields_dropped = re.sub(r"\([^)]*\)", "", cells[row])
        named = {
            item.strip().removeprefix("parameters ").strip()
            for item in re.split(r"[,;]", fields_dropped)
            if item.strip()
        }
        expected = {s.purpose for s in prod.secrets if consumer in s.consumers} | {
            p.name for p in prod.parameters if consumer in p.consumers
        }
        assert named == expected, (row, sorted(named ^ expected))
