"""The task protocol: where prompts, reference answers and verifiers come from.

Every task family (arithmetic here; math, code and reasoning-gym later) implements `Task`, so the
trainer, the warm-up and the evaluation never know which family they are running.
"""
from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Callable, Protocol, runtime_checkable

from k15core.tasks.problem import Problem  # re-exported: callers import Problem from here
from k15core.tasks.prompt_file import load_prompt_file

__all__ = ["Problem", "Task", "HeldOutSet", "GeneratedTask", "FileTask", "draw_problems", "last_match"]


@runtime_checkable
class Task(Protocol):
    name: str
    styles: tuple[str, ...]  # solution styles, shortest first
    instruction: str  # how to give the answer, added to a chat model's prompt (k15core.prompting)

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


class HeldOutSet:
    """What every task family here shares: a fixed held-out set in `_eval` (ids in `_eval_ids`, filled by
    the subclass's __init__) and styles forced by prefilling `STYLE_PREFIX[style]`."""

    STYLE_PREFIX: dict[str, str] = {}
    instruction: str = ""  # appended to a prompt shown to a chat model (k15core.prompting): how to give the answer
    _eval: list[Problem]
    _eval_ids: set[str]

    def eval_problems(self) -> list[Problem]:
        return list(self._eval)

    def style_prefix(self, style: str) -> str:
        return self.STYLE_PREFIX[style]


class GeneratedTask(HeldOutSet):
    """Shared plumbing of seeded task families: difficulty levels, a fixed held-out set, training
    draws that never touch it, and verification of the final answer.

    A subclass sets `name`, `styles`, `LEVELS` (level -> spec), `STYLE_PREFIX`, `ANSWER_RE` and
    implements `_random_problem(rng, level)`, `solution(problem, style)` and `_same_answer`.
    """

    name: str = ""
    styles: tuple[str, ...] = ()
    LEVELS: dict = {}
    ANSWER_RE: re.Pattern = re.compile(r"Answer:\s*(\S+)")

    def __init__(self, levels: tuple[int, ...] | None = None, eval_per_level: int = 50, eval_seed: int = 20250122):
        from k15core.errors import K15Error

        levels = tuple(self.LEVELS) if levels is None else tuple(levels)
        unknown = [lv for lv in levels if lv not in self.LEVELS]
        if unknown:
            raise K15Error(f"unknown {self.name} difficulty level(s) {unknown}", f"use levels from {sorted(self.LEVELS)}")
        self.levels = levels
        self.eval_per_level = eval_per_level
        self.eval_seed = eval_seed
        self._eval = draw_problems(self._random_problem, self.levels, eval_per_level, random.Random(eval_seed), set(), per_level=True)
        self._eval_ids = {p.id for p in self._eval}

    def _random_problem(self, rng: random.Random, level: int) -> Problem:
        raise NotImplementedError

    def _same_answer(self, answer: str, reference: str) -> bool:
        raise NotImplementedError

    def train_problems(self, n: int, seed: int) -> list[Problem]:
        """`n` problems, levels in equal shares, distinct where the level allows, none in the evaluation set."""
        return draw_problems(self._random_problem, self.levels, n, random.Random(seed), self._eval_ids, per_level=False)

    def extract_answer(self, response: str) -> str | None:
        """The answer after the last ``Answer:`` marker, or None; never raises."""
        return last_match(self.ANSWER_RE, response)

    def verify(self, response: str, reference: str) -> float:
        """1.0 if the final answer matches the reference, else 0.0; never raises."""
        try:
            answer = self.extract_answer(response)
            return float(answer is not None and self._same_answer(answer, str(reference).strip()))
        except Exception:  # e.g. a 5000-digit "answer" that int() refuses, or a non-string reference
            return 0.0


class FileTask(HeldOutSet):
    """Shared plumbing of task families whose problems come from a prompt file (math, code): the
    file's problems split into a training part and a held-out part, per level.

    Choice: 1 in 4 problems of each level (at least one, where the level has two or more) is held out,
    by a shuffle seeded with `eval_seed`, so the split is stable across runs and machines. A subclass
    sets `name`, `styles`, `STYLE_PREFIX` and `SAMPLE` (the default file), and implements
    `solution`, `extract_answer` and `verify`.
    """

    name: str = ""
    styles: tuple[str, ...] = ()
    SAMPLE: Path | None = None

    def __init__(self, levels: tuple[int, ...] | None = None, eval_per_level: int = 0, eval_seed: int = 20250122, path: str | Path | None = None):
        problems = load_prompt_file(path or self.SAMPLE, default_task=self.name)
        if levels:
            problems = [p for p in problems if p.difficulty in set(levels)]
        by_level: dict[int, list[Problem]] = {}
        for p in problems:
            by_level.setdefault(p.difficulty, []).append(p)
        rng = random.Random(eval_seed)
        self._eval, self._train = [], []
        for level in sorted(by_level):
            items = sorted(by_level[level], key=lambda p: p.id)
            rng.shuffle(items)
            k = max(1, len(items) // 4) if len(items) > 1 else 0
            self._eval += items[:k]
            self._train += items[k:]
        self._eval_ids = {p.id for p in self._eval}
        self.levels = tuple(sorted(by_level))

    def train_problems(self, n: int, seed: int) -> list[Problem]:
        """`n` training problems: the training split shuffled, repeated when n is larger than it."""
        rng = random.Random(seed)
        out: list[Problem] = []
        while len(out) < n and self._train:
            batch = list(self._train)
            rng.shuffle(batch)
            out += batch[: n - len(out)]
        return out


def draw_problems(
    random_problem: Callable[[random.Random, int], Problem],
    levels: tuple[int, ...],
    n: int,
    rng: random.Random,
    exclude: set[str],
    per_level: bool,
) -> list[Problem]:
    """Draw `n` problems (per level if `per_level`, else `n` in all, levels in turn, then shuffled).

    Prefers problems not drawn yet, but accepts a repeat after a few collisions (a small level may
    hold fewer problems than asked for). Problems whose id is in `exclude` (the held-out set) are
    never returned.
    """
    out: list[Problem] = []
    seen = set(exclude)
    order = [lv for lv in levels for _ in range(n)] if per_level else [levels[i % len(levels)] for i in range(n)]
    for level in order:
        for attempt in range(20):
            p = random_problem(rng, level)
            if p.id not in seen or (attempt >= 10 and p.id not in exclude):
                break
        else:
            while p.id in exclude:
                p = random_problem(rng, level)
        seen.add(p.id)
        out.append(p)
    if not per_level:
        rng.shuffle(out)
    return out


def last_match(pattern: re.Pattern, response: str) -> str | None:
    """The first group of the last match of `pattern` in `response`, or None; never raises."""
    try:
        found = pattern.findall(response)
    except Exception:  # a non-string or similar garbage: no answer, never an exception
        return None
    return found[-1] if found else None
