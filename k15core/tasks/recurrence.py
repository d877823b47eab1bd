"""Digit recurrence: extend a sequence where each new digit is the last digit of (previous + three back).

The prompt gives three seed digits and a number of steps k; the answer is the k-th new digit:

    Seq 372, steps: 4
    x=3 y=7 z=2 d=2+3=05 c=5+7=12 b=2+2=04 a=4+5=09
    Answer: 9

(x, y, z copy the seed; each step writes the previous digit, the digit three back and their sum
as two digits, whose last digit is the new digit. The letters count down to `a`, the last step:
the first letter is read off the prompt's step count at a fixed offset and each next one is the
letter before, so knowing when to stop is local too.)

Why this task (the property the RL issue needs): every step of the long style has the same width
(9 tokens), so each token it writes is a copy from a fixed offset back or the sum of the two digits
just written. Copies and a plain (not modular) sum are learned by a 3 M-parameter model in a few
hundred CPU optimiser steps. (A first version wrote only the new digit, (a + b) mod 10: that needs
both inputs before the loss moves at all, like parity, and the model stayed at chance after 500
steps; writing the two-digit sum gives each input its own signal. Measured in issue #2's note.)
The bare answer is a weighted sum of the three seed digits mod 10 whose weights change with k (x + y + z after 2 steps, 2x + y + 3z after 4):
parity-like, with 1,000 seeds per level, so the model cannot memorise it or compose k steps in
one forward pass. Writing the steps pays on long sequences: the k1.5 effect in miniature.

Difficulty levels: the number of steps, 1, 2, 3, 4 and 6.

Styles, shortest first (each ends with ``Answer: d``):
    short   Answer: d
    medium  '>', one item per step, then the answer (the seed digits are read from the prompt)
    long    x=.. y=.. z=.. (the seed copied first), one item per step, then the answer
    recheck long, then every step written again ("check d=2+3=05 c=5+7=12 ...") before the answer

Medium and long are equally correct once learned; long is 12 tokens longer. That is what the
length penalty can act on: without it RL has no reason to prefer either, with it the shorter
correct style wins (report §2.3.3).

`recheck` is not in the demo's warm-up mix. It is the over-long chain of thought of report §2.4 in
miniature: the model verifies its whole solution again, 6 + 9 x steps tokens that add nothing (15 on
level 1, 60 on level 5: the check copies steps already written), so a model that writes it can be made
shorter without losing accuracy. `assets/configs/overthink.yaml` warms up on it instead of long, for the
long2short benchmark.
"""
from __future__ import annotations

import random
import re
import string

from k15core.tasks.base import GeneratedTask, Problem

LEVELS: dict[int, int] = {1: 1, 2: 2, 3: 3, 4: 4, 5: 6}
"""Difficulty level -> number of steps."""
SEED_LETTERS = "xyz"
STEP_LETTERS = string.ascii_lowercase[:9]
STYLE_PREFIX = {"short": "Answer:", "medium": ">", "long": "x=", "recheck": "x="}
_ANSWER_RE = re.compile(r"Answer:\s*(\d)(?!\d)")


def extend(seed: list[int], steps: int) -> list[int]:
    """The seed followed by `steps` new digits, each (previous + three back) mod 10."""
    seq = list(seed)
    for _ in range(steps):
        seq.append((seq[-1] + seq[-3]) % 10)
    return seq


def make_problem(seed: list[int], steps: int, difficulty: int) -> Problem:
    digits = "".join(map(str, seed))
    return Problem(
        id=f"recurrence:{digits}|{steps}",
        prompt=f"Seq {digits}, steps: {steps}\n",
        reference=str(extend(seed, steps)[-1]),
        difficulty=difficulty,
        task="recurrence",
    )


def parse_prompt(prompt: str) -> tuple[list[int], int]:
    """(seed digits, steps) from a prompt written by `make_problem`."""
    digits, steps = prompt.strip()[len("Seq "):].split(", steps: ")
    return [int(c) for c in digits], int(steps)


class RecurrenceTask(GeneratedTask):
    """Seeded digit-recurrence problems by number of steps; see the module docstring.

    >>> RecurrenceTask(eval_per_level=1).verify("x=1 y=2 z=3 a=4\\nAnswer: 4", "4")
    1.0
    """

    name = "recurrence"
    styles = ("short", "medium", "long", "recheck")
    LEVELS = LEVELS
    STYLE_PREFIX = STYLE_PREFIX
    ANSWER_RE = _ANSWER_RE

    def _random_problem(self, rng: random.Random, level: int) -> Problem:
        return make_problem([rng.randrange(10) for _ in range(3)], LEVELS[level], level)

    def _same_answer(self, answer: str, reference: str) -> bool:
        return answer == reference

    def solution(self, problem: Problem, style: str) -> str:
        seed, steps = parse_prompt(problem.prompt)
        seq = extend(seed, steps)
        answer = f"Answer: {seq[-1]}"
        if style == "short":
            return answer
        if style in ("medium", "long"):
            items = [f"{letter}={d}" for letter, d in zip(SEED_LETTERS, seq)] if style == "long" else []
            for t, letter in zip(range(3, len(seq)), STEP_LETTERS[:steps][::-1]):
                items.append(f"{letter}={seq[t - 1]}+{seq[t - 3]}={seq[t - 1] + seq[t - 3]:02d}")
            return ("" if style == "long" else ">") + " ".join(items) + "\n" + answer
        if style == "recheck":
            work = self.solution(problem, "long").split("\n")[0]
            return f"{work}\ncheck {' '.join(work.split()[3:])}\n{answer}"
        raise ValueError(f"unknown style {style!r}; known: {self.styles}")
