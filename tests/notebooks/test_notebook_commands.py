"""Every `k15 ...` command the notebooks and READMEs tell a reader to run exists (notebook 05 once pointed to a
`k15 metrics` that never did). Checked against the real parser: the subcommand, and its own subcommand when it has them."""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import nbformat
import pytest

from k15core.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted((ROOT / "notebooks").glob("*.ipynb")) + [ROOT / "README.md", ROOT / "notebooks" / "README.md"]
# a command is `k15 ...` in backticks, or a line of a code block / code cell that starts with it (prose such as
# "k15 runs data-parallel" is neither)
COMMAND = re.compile(r"(?:`|^\s*[!$]?\s*)k15 ((?:[a-z][a-z0-9-]*)(?: [a-z][a-z0-9-]*)?)", re.MULTILINE)


def _text(path: Path) -> str:
    if path.suffix == ".ipynb":
        return "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
    return path.read_text(encoding="utf-8")


def _choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(found[0].choices) if found else {}


def unknown_commands(text: str) -> list[str]:
    """The `k15 ...` commands in `text` that the k15 parser does not know."""
    top = _choices(build_parser())
    bad = []
    for words in COMMAND.findall(text):
        name, _, sub = words.partition(" ")
        if name not in top:
            bad.append(f"k15 {name}")
        elif sub and _choices(top[name]) and sub not in _choices(top[name]):
            bad.append(f"k15 {words}")
    return bad


def test_the_check_finds_a_made_up_command():
    assert unknown_commands("run `k15 metrics` to list them") == ["k15 metrics"]
    assert unknown_commands("```\nk15 store fix\n```") == ["k15 store fix"]
    assert unknown_commands("`k15 store check`, `k15 train --resume`, and k15 runs data-parallel") == []


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_command_a_document_names_exists(path):
    assert unknown_commands(_text(path)) == [], f"{path.relative_to(ROOT)} names commands k15 does not have (see k15 --help)"
