"""The task protocol: where prompts, reference answers and verifiers come from.

Every task family (arithmetic here; math, code and reasoning-gym later) implements `Task`, so the
trainer, the warm-up and the evaluation never know which family they are running.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Problem:
    """One prompt with its reference answer. `id` is stable across runs (derived from the content)."""

    id: str
    prompt: str
    reference: str
    difficulty: int = 0
    task: str = "arithmetic"
    meta: dict = field(default_factory=dict, compare=False, hash=False)


@runtime_checkable
class Task(Protocol):
    name: str
    styles: tuple[str, ...]  # solution styles, shortest first

    def train_problems(self, n: int, seed: int) -> list[Problem]:
        """`n` problems for training, never overlapping `eval_problems()`."""

    def eval_problems(self) -> list[Problem]:
        """The fixed held-out evaluation set."""

    def solution(self, problem: Problem, style: str) -> str:
        """A correct response to `problem` written in `style` (used for the warm-up set)."""

    def style_prefix(self, style: str) -> str:
        """The opening of a response in `style`: prefilled to force a style at evaluation."""

    def verify(self, response: str, reference: str) -> float:
        """1.0 if the response's final answer matches the reference, else 0.0. Never raises."""

    def extract_answer(self, response: str) -> str | None:
        """The final answer the response commits to, or None."""
