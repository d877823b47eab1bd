"""Multi-digit addition with short and long chains of thought: the default teaching task.

Why this task: a 3 M-parameter model cannot add two 5-digit numbers in one shot (it would have to
resolve every carry before writing the first digit), but it can follow a column-by-column
scratchpad where each line is a one-digit sum. So the long style is markedly more accurate on hard
problems, and RL has something real to discover: that writing more tokens pays on hard prompts. That
is the k1.5 effect (accuracy and response length growing together) in miniature.

Difficulty levels (number of operands x digits per operand):

    1: 2 x 2 digits    2: 2 x 3    3: 2 x 4    4: 3 x 3    5: 3 x 4

Response styles, shortest first (each ends with the final-answer marker ``Answer: N``):

    short   Answer: 13647
    medium  Pairs:
            47+89 32+15=47 47
            47+89=136 13647
            Answer: 13647
    long    Think:
            473+891 2+5=7 7
            47+89 3+1=4 47
            4+8 7+9=16 647
            4+8+1=13 13647
            Answer: 13647

Each scratchpad line restates the operands left after peeling off their last digit(s), the sum of
the peeled digits with the carry, and the answer digits found so far. Every step reads only the
line above it, so the work is local.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass

from k15core.tasks.base import Problem, draw_problems, last_match

ANSWER_MARKER = "Answer:"
_ANSWER_RE = re.compile(r"Answer:\s*(-?\d+)(?!\d)")


@dataclass(frozen=True)
class Level:
    operands: int
    digits: int


LEVELS: dict[int, Level] = {
    1: Level(operands=2, digits=2),
    2: Level(operands=2, digits=3),
    3: Level(operands=2, digits=4),
    4: Level(operands=3, digits=3),
    5: Level(operands=3, digits=4),
}

STYLE_PREFIX = {"short": "Answer:", "medium": "Pairs:\n", "long": "Think:\n"}


def make_problem(numbers: list[int], difficulty: int) -> Problem:
    expr = "+".join(str(n) for n in numbers)
    return Problem(
        id=f"arith:{expr}",
        prompt=f"Q: {expr}\n",
        reference=str(sum(numbers)),
        difficulty=difficulty,
        task="arithmetic",
        meta={"numbers": list(numbers)},
    )


def _reduction_lines(numbers: list[int], width: int) -> list[str]:
    """Scratchpad lines that peel `width` digits per step off the right end of every operand.

    Each line is: the operands still left, the sum of the chunks just removed (carry included), and
    the answer digits found so far. Every step reads only the line above it (its operands' last
    chunks, the carry in its sum, its partial answer), which a small model can learn; what it cannot
    learn quickly is to find the k-th digit from the right inside the prompt, which a column-indexed
    scratchpad would need.
    """
    operands = [str(n) for n in numbers]
    lines = []
    base = 10**width
    carry, partial = 0, ""
    while any(operands):
        chunks = [int(op[-width:]) for op in operands if op]
        operands = [op[:-width] for op in operands]
        terms = chunks + ([carry] if carry else [])
        total = sum(terms)
        last = not any(operands)
        partial = (str(total) if last else str(total % base).zfill(width)) + partial
        carry = total // base
        left = "+".join(op for op in operands if op)
        lines.append(f"{left + ' ' if left else ''}{'+'.join(map(str, terms))}={total} {partial}")
    return lines


class ArithmeticTask:
    """Seeded addition problems by difficulty; see the module docstring for levels and styles."""

    name = "arithmetic"
    styles = ("short", "medium", "long")

    def __init__(self, levels: tuple[int, ...] = tuple(LEVELS), eval_per_level: int = 50, eval_seed: int = 20250122):
        unknown = [lv for lv in levels if lv not in LEVELS]
        if unknown:
            from k15core.errors import K15Error
            raise K15Error(f"unknown arithmetic difficulty level(s) {unknown}", f"use levels from {sorted(LEVELS)}")
        self.levels = tuple(levels)
        self.eval_per_level = eval_per_level
        self.eval_seed = eval_seed
        self._eval = draw_problems(self._random_problem, self.levels, eval_per_level, random.Random(eval_seed), set(), per_level=True)
        self._eval_ids = {p.id for p in self._eval}

    # -- prompts ---------------------------------------------------------------------------------
    def _random_problem(self, rng: random.Random, level: int) -> Problem:
        spec = LEVELS[level]
        lo, hi = 10 ** (spec.digits - 1), 10**spec.digits - 1
        return make_problem([rng.randint(lo, hi) for _ in range(spec.operands)], level)

    def train_problems(self, n: int, seed: int) -> list[Problem]:
        """`n` problems, levels in equal shares, distinct where the level allows, none in the evaluation set."""
        return draw_problems(self._random_problem, self.levels, n, random.Random(seed), self._eval_ids, per_level=False)

    def eval_problems(self) -> list[Problem]:
        return list(self._eval)

    def is_eval(self, problem_id: str) -> bool:
        return problem_id in self._eval_ids

    # -- solutions -------------------------------------------------------------------------------
    def style_prefix(self, style: str) -> str:
        return STYLE_PREFIX[style]

    def solution(self, problem: Problem, style: str) -> str:
        numbers = problem.meta.get("numbers") or [int(x) for x in problem.prompt[3:].strip().split("+")]
        answer = f"{ANSWER_MARKER} {sum(numbers)}"
        if style == "short":
            return answer
        if style == "medium":
            return STYLE_PREFIX["medium"] + "\n".join(_reduction_lines(numbers, 2)) + "\n" + answer
        if style == "long":
            return STYLE_PREFIX["long"] + "\n".join(_reduction_lines(numbers, 1)) + "\n" + answer
        raise ValueError(f"unknown style {style!r}; known: {self.styles}")

    # -- verification ----------------------------------------------------------------------------
    def extract_answer(self, response: str) -> str | None:
        """The number after the last ``Answer:`` marker, or None."""
        return last_match(_ANSWER_RE, response)

    def verify(self, response: str, reference: str) -> float:
        """1.0 if the final answer equals the reference as an integer, else 0.0; never raises.

        >>> ArithmeticTask(eval_per_level=1).verify("3+4=7 -> 7\\nAnswer: 7", "7")
        1.0
        """
        try:
            answer = self.extract_answer(response)
            return float(answer is not None and int(answer) == int(str(reference).strip()))
        except Exception:  # e.g. a 5000-digit "answer" (int() refuses it) or a non-numeric reference
            return 0.0
