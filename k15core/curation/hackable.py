"""The easy-to-hack filter (report §2.1): ask for the answer with no chain of thought, N = 8 times;
if any guess is right, a correct final answer says little about the reasoning behind it."""
from __future__ import annotations

from math import comb
from typing import Sequence


def is_easy_to_hack(correct_guesses: Sequence[float], min_correct: int = 1) -> bool:
    """True if at least `min_correct` of the no-reasoning guesses were correct (the report: any, 1).
    ValueError for no guesses or `min_correct` < 1."""
    if len(correct_guesses) == 0:
        raise ValueError("the easy-to-hack filter needs at least one guess")
    if min_correct < 1:
        raise ValueError(f"min_correct must be at least 1, got {min_correct}")
    return sum(c > 0 for c in correct_guesses) >= min_correct


def chance_flagged(n: int, answers: int, min_correct: int = 1) -> float:
    """The share of prompts flagged by luck alone: P(at least `min_correct` of n uniform guesses among
    `answers` equally likely values are right). For a digit (10 values), n = 8, any: 57%; at least 3: 3.8%.
    Why `--min-correct` exists: the report's "any of 8" assumes a large answer space."""
    p = 1 / answers
    return 1 - sum(comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(min_correct))
