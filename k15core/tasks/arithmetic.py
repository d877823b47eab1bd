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

from k15core.tasks.base import GeneratedTask, Problem

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


class ArithmeticTask(GeneratedTask):
    """Seeded addition problems by difficulty; see the module docstring for levels and styles.

    >>> ArithmeticTask(eval_per_level=1).verify("3+4=7 7\\nAnswer: 7", "7")
    1.0
    """

    name = "arithmetic"
    styles = ("short", "medium", "long")
    LEVELS = LEVELS
    STYLE_PREFIX = STYLE_PREFIX
    ANSWER_RE = _ANSWER_RE

    def _random_problem(self, rng: random.Random, level: int) -> Problem:
        spec = LEVELS[level]
        lo, hi = 10 ** (spec.digits - 1), 10**spec.digits - 1
        return make_problem([rng.randint(lo, hi) for _ in range(spec.operands)], level)

    def _same_answer(self, answer: str, reference: str) -> bool:
        return int(answer) == int(reference)  # as integers: "Answer: 007" is 7

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
