"""Mental arithmetic asked in words: the task a small pretrained chat model (SmolLM2-135M) can learn by RL on a CPU.

Why this task: RL only sharpens what the base model can already do sometimes. The digit tasks of the tiny
model are written in a notation no pretrained model has seen; questions such as "What is 7 + 5?" are ones
SmolLM2-135M-Instruct answers right often enough to give every group a signal, and wrong often enough to
leave room. Its measured base pass rates per level, at the preset's temperature, are in the README
("A real model learns"), measured by `benchmarks/real_model_learning.py`.

Levels:

    1: a + b, one digit each          ("What is 4 + 9?")
    2: a × b, the times tables 2-9    ("What is 3 times 7?")
    3: a two-digit number + one digit ("What is 91 + 8?")
    4: two two-digit numbers (10-49)  ("What is 13 + 31?")

Choices (the report leaves the answer format to the task):
- The prompt asks the model to end with the answer (`instruction`); the final answer is the number after
  the last ``Answer:`` if there is one, else the last integer of the response. An instruct model answers in
  sentences ("4 + 9 = 13."), which the last-integer rule reads; a response that keeps talking after its
  answer ends on another number and is scored wrong, so RL learns to stop at the answer.
- Styles for the warm-up set: ``short`` is "a + b = c.", ``long`` spells out the operation first.
"""
from __future__ import annotations

import random
import re

from k15core.tasks.base import GeneratedTask, Problem, last_match

_MARKED = re.compile(r"Answer:\s*(-?\d+)(?!\d)")
_INTEGER = re.compile(r"(?<![\d.])-?\d+(?![\d.]*\d)")

# level -> (operation word, symbol, first operand range, second operand range)
LEVELS: dict[int, tuple[str, str, tuple[int, int], tuple[int, int]]] = {
    1: ("+", "+", (1, 9), (1, 9)),
    2: ("times", "×", (2, 9), (2, 9)),
    3: ("+", "+", (10, 99), (1, 9)),
    4: ("+", "+", (10, 49), (10, 49)),
}


def _value(op: str, a: int, b: int) -> int:
    return a * b if op == "times" else a + b


class MentalTask(GeneratedTask):
    """Arithmetic questions in words, by level; see the module docstring.

    >>> t = MentalTask(eval_per_level=1)
    >>> t.verify("4 + 9 = 13.", "13"), t.verify("4 + 9 = 13. Also 2 + 2 = 4.", "13"), t.verify("Answer: 13 (4 + 9)", "13")
    (1.0, 0.0, 1.0)
    """

    name = "mental"
    styles = ("short", "long")
    LEVELS = LEVELS
    STYLE_PREFIX = {"short": "", "long": "Let me work it out."}
    instruction = " End your reply with the answer."

    def _random_problem(self, rng: random.Random, level: int) -> Problem:
        op, _, (lo_a, hi_a), (lo_b, hi_b) = LEVELS[level]
        a, b = rng.randint(lo_a, hi_a), rng.randint(lo_b, hi_b)
        return Problem(id=f"mental:{a}{op}{b}", prompt=f"What is {a} {op} {b}?", reference=str(_value(op, a, b)), difficulty=level,
                       task=self.name, meta={"a": a, "b": b, "op": op})

    def extract_answer(self, response: str) -> str | None:
        """The number after the last ``Answer:``, else the response's last integer, else None; never raises."""
        return last_match(_MARKED, response) or last_match(_INTEGER, response)

    def _same_answer(self, answer: str, reference: str) -> bool:
        return int(answer) == int(reference)

    def solution(self, problem: Problem, style: str) -> str:
        a, b, op = problem.meta["a"], problem.meta["b"], problem.meta["op"]
        symbol = LEVELS[problem.difficulty][1]
        value = _value(op, a, b)
        if style == "short":
            return f"{a} {symbol} {b} = {value}."
        if style == "long":
            verb = "multiply" if op == "times" else "add"
            return f"{self.STYLE_PREFIX['long']} We {verb} {a} and {b}: {a} {symbol} {b} = {value}. The answer is {value}."
        raise ValueError(f"unknown style {style!r}; known: {self.styles}")
