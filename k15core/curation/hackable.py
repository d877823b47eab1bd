"""The easy-to-hack filter (report §2.1): ask for the answer with no chain of thought, N = 8 times;
if any guess is right, a correct final answer says little about the reasoning behind it."""
from __future__ import annotations

from typing import Sequence


def is_easy_to_hack(correct_guesses: Sequence[float]) -> bool:
    """True if any of the no-reasoning guesses was correct. ValueError for no guesses."""
    if len(correct_guesses) == 0:
        raise ValueError("the easy-to-hack filter needs at least one guess")
    return any(c > 0 for c in correct_guesses)
