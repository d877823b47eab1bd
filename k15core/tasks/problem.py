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
