"""`Problem`, the one record every task family, prompt file and store row describes a prompt with.

It lives apart from the task protocol (k15core.tasks.base) so that prompt-file reading, which
builds problems, and the file-based task families, which read prompt files, both import it without
importing each other.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """One prompt with its reference answer. `id` is stable across runs (derived from the content)."""

    id: str
    prompt: str
    reference: str
    difficulty: int = 0
    task: str = "arithmetic"
    meta: dict = field(default_factory=dict, compare=False, hash=False)
    images: tuple[str, ...] = ()
    """Addresses (`k15core.vlm.images.image_address`) of the images the prompt shows, in the order of its
    `<image>` markers; empty for a text prompt. The pixels live in the workspace's image store, never here."""


def unique_by_id(problems: list[Problem]) -> list[Problem]:
    """Each id once, the first occurrence kept, in order. Tasks may repeat a problem (a 40-problem file drawn for a
    pool of 2000, a generator that asks the same question twice); a prompt pool and the store hold each one once.

    >>> [p.prompt for p in unique_by_id([Problem("a", "1+1", "2"), Problem("b", "2+2", "4"), Problem("a", "1+1", "2")])]
    ['1+1', '2+2']
    """
    seen: set[str] = set()
    out = []
    for p in problems:
        if p.id not in seen:
            seen.add(p.id)
            out.append(p)
    return out

