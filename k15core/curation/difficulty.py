"""Difficulty from the pass rate of n sampled answers (report §2.1: a lower rate means harder).

The report gives neither thresholds nor the temperature. Choice: five equal-width buckets of the
pass rate, a boundary belonging to the harder bucket: difficulty = 1 + floor(5 * (1 - pass rate)),
capped at 5:

    pass rate   (0.8, 1]  (0.6, 0.8]  (0.4, 0.6]  (0.2, 0.4]  [0, 0.2]
    difficulty      1          2           3           4          5

Level 5 therefore holds both "rarely solved" and "never solved" prompts; the pass rate itself is
stored beside the difficulty (label `pass_rate`) so the two can be told apart and the prioritised
sampler could be seeded from it.
"""
from __future__ import annotations

import math
from typing import Sequence


def pass_rate(correct: Sequence[float]) -> float:
    """Share of correct answers; with n answers the result is a multiple of 1/n. ValueError for no answers."""
    if len(correct) == 0:
        raise ValueError("a pass rate needs at least one answer")
    return sum(1.0 for c in correct if c > 0) / len(correct)


def difficulty_from_pass_rate(rate: float, levels: int = 5) -> int:
    """1 (easy) .. `levels` (hard) from a pass rate in [0, 1]."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"a pass rate lies in [0, 1], got {rate}")
    return min(levels, 1 + math.floor(levels * (1.0 - rate) + 1e-9))
