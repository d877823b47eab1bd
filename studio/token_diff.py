"""A token-level diff of two responses, and each side drawn as HTML with what changed marked.

Pure: token pieces in (the text each token adds, `rollouts_tab.token_pieces`), spans and escaped HTML out. The diff
is difflib's SequenceMatcher over the pieces, not the ids, so two runs with different tokenizers still line up on
their text. Model text is untrusted: every piece goes through `html.escape`.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Sequence

DIFF_CLASS = {"delete": "k15-diff-del", "insert": "k15-diff-ins", "replace": "k15-diff-rep"}
"""The CSS class of a token on the side where it differs: only on A (delete), only on B (insert), or swapped (replace)."""


@dataclass(frozen=True)
class DiffSpan:
    """One stretch of the alignment: tokens a[a_lo:a_hi] on side A stand against b[b_lo:b_hi] on side B.
    `op` is difflib's: equal, replace, delete (only in A), insert (only in B)."""

    op: str
    a_lo: int
    a_hi: int
    b_lo: int
    b_hi: int


@dataclass(frozen=True)
class DiffCounts:
    equal: int
    deleted: int
    inserted: int
    replaced_a: int
    replaced_b: int


def token_diff(a: Sequence, b: Sequence) -> list[DiffSpan]:
    """The spans that turn token sequence `a` into `b`, in order, covering both sequences whole.

    autojunk off: on by default, difflib ignores any item in more than 1 % of a sequence over 200 items, and a
    response's spaces and newlines are exactly that, so long responses would align badly.

    >>> [(s.op, s.a_lo, s.a_hi, s.b_lo, s.b_hi) for s in token_diff(["x", "=", "1"], ["x", "=", "2", "!"])]
    [('equal', 0, 2, 0, 2), ('replace', 2, 3, 2, 4)]
    """
    matcher = SequenceMatcher(None, list(a), list(b), autojunk=False)
    return [DiffSpan(*op) for op in matcher.get_opcodes()]


def diff_counts(spans: list[DiffSpan]) -> DiffCounts:
    """How many tokens each kind of span holds (replace counted on both sides)."""
    def total(op: str, side: str) -> int:
        return sum((s.a_hi - s.a_lo) if side == "a" else (s.b_hi - s.b_lo) for s in spans if s.op == op)

    return DiffCounts(total("equal", "a"), total("delete", "a"), total("insert", "b"), total("replace", "a"), total("replace", "b"))


def side_classes(spans: list[DiffSpan], side: str, n: int) -> list[str | None]:
    """Per token of one side ("a" or "b", `n` tokens): its diff class, or None where it is the same on both sides."""
    out: list[str | None] = [None] * n
    for s in spans:
        lo, hi = (s.a_lo, s.a_hi) if side == "a" else (s.b_lo, s.b_hi)
        if s.op != "equal":
            for i in range(lo, hi):
                out[i] = DIFF_CLASS[s.op]
    return out


def side_html(pieces: list[str], token_ids: list[int], classes: list[str | None]) -> str:
    """One side's tokens as spans, the changed ones with their diff class; the hover says the token's index and id."""
    out = []
    for i, (piece, tid) in enumerate(zip(pieces, token_ids)):
        cls = "k15-tok" + (f" {classes[i]}" if classes[i] else "")
        tip = html.escape(f"#{i} token {tid} {piece!r}", quote=True)
        out.append(f'<span class="{cls}" title="{tip}">{html.escape(piece).replace(chr(10), "↵<br>")}</span>')
    return "".join(out)
