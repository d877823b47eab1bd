"""Follow the arrows: multi-hop lookups, the default teaching task for the tiny CPU model.

A prompt lists one arrow out of each of 8 letters (a single cycle through all of them, shown in
shuffled order), a start letter and a number of steps. The answer is the letter reached after
following that many arrows.

    Q: x>e b>z a>q e>b m>x z>k q>m k>a
    Start: a, steps: 4

Why this task: each hop is a single lookup ("find `q>`, read the next letter"), which even a
3 M-parameter model learns within a few hundred optimiser steps. Composing several hops inside one
forward pass is what a 4-layer model cannot do, and since every letter has exactly one arrow in and
one out, no local cue gives the answer away. So the long style (one numbered hop per line) is
markedly more accurate than the bare answer when there are many steps, and RL has something real to
discover: writing more tokens pays on hard prompts (the k1.5 effect in miniature).

(Multi-digit addition, `k15core.tasks.arithmetic`, shows the same property in principle, but a
3 M-parameter model needs far more than a few minutes of CPU to learn its table of digit sums; see
the closing note of issue #2 for the measurements.)

Difficulty levels: the number of steps, 1, 2, 3, 4 and 6.

Response styles, shortest first (each ends with the final-answer marker ``Answer: x``):

    short   Answer: e
    medium  Pairs:\\n2 a>>m\\n4 m>>e\\nAnswer: e                 (two hops per line)
    long    Think:\\n1 a>q\\n2 q>m\\n3 m>x\\n4 x>e\\nAnswer: e      (one hop per line)

The number at the start of each line is the step count reached, so the model stops by comparing it
with the number in the prompt.
"""
from __future__ import annotations

import random
import re
import string

from k15core.tasks.base import GeneratedTask, Problem

_ANSWER_RE = re.compile(r"Answer:\s*([a-z])(?![a-z])")
STYLE_PREFIX = {"short": "Answer:", "medium": "Pairs:\n", "long": "Think:\n"}


LETTERS_PER_PROBLEM = 8
LEVELS: dict[int, int] = {1: 1, 2: 2, 3: 3, 4: 4, 5: 6}
"""Difficulty level -> number of steps."""


def make_problem(cycle: list[str], start: str, steps: int, difficulty: int, rng: random.Random) -> Problem:
    """The arrows of `cycle` (each letter to the next, the last to the first) in random order."""
    arrows = [f"{a}>{b}" for a, b in zip(cycle, cycle[1:] + cycle[:1])]
    rng.shuffle(arrows)
    target = cycle[(cycle.index(start) + steps) % len(cycle)]
    return Problem(
        id="chain:" + " ".join(arrows) + f"|{start}|{steps}",
        prompt=f"Q: {' '.join(arrows)}\nStart: {start}, steps: {steps}\n",
        reference=target,
        difficulty=difficulty,
        task="chains",
    )


def parse_prompt(prompt: str) -> tuple[dict[str, str], str, int]:
    """(arrows as {source: target}, start letter, steps) from a prompt written by `make_problem`."""
    head, question = prompt.strip().split("\n")
    arrows = dict(a.split(">") for a in head[len("Q: "):].split())
    start, steps = question[len("Start: "):].split(", steps: ")
    return arrows, start.strip(), int(steps)


class ChainsTask(GeneratedTask):
    """Seeded chain-following problems by number of steps; see the module docstring.

    >>> ChainsTask(eval_per_level=1).verify("1 a>b\\nAnswer: b", "b")
    1.0
    """

    name = "chains"
    styles = ("short", "medium", "long")
    LEVELS = LEVELS
    STYLE_PREFIX = STYLE_PREFIX
    ANSWER_RE = _ANSWER_RE

    def _random_problem(self, rng: random.Random, level: int) -> Problem:
        cycle = rng.sample(string.ascii_lowercase, LETTERS_PER_PROBLEM)
        return make_problem(cycle, rng.choice(cycle), LEVELS[level], level, rng)

    def _same_answer(self, answer: str, reference: str) -> bool:
        return answer == reference

    def solution(self, problem: Problem, style: str) -> str:
        arrows, start, steps = parse_prompt(problem.prompt)
        path = [start]
        for _ in range(steps):
            path.append(arrows[path[-1]])
        answer = f"Answer: {path[-1]}"
        if style == "short":
            return answer
        if style == "long":
            lines = [f"{i + 1} {path[i]}>{path[i + 1]}" for i in range(steps)]
        elif style == "medium":
            lines = [
                f"{i + 2} {path[i]}>>{path[i + 2]}" if i + 2 <= steps else f"{i + 1} {path[i]}>{path[i + 1]}"
                for i in range(0, steps, 2)
            ]
        else:
            raise ValueError(f"unknown style {style!r}; known: {self.styles}")
        return STYLE_PREFIX[style] + "\n".join(lines + [answer])
