"""Which responses long2short learns from (report §2.4): the shortest correct one, and DPO pairs.

Pure functions over `Sample`s (one prompt's sampled responses), so the rules are tested on hand-made
inputs. Lengths are in tokens.

Choices the report leaves open (spec §7.3):
- "1.5 times longer" reads as `length >= ratio * chosen` by default (`inclusive=False` for `>`).
- Every rejected response of a prompt makes a pair with its chosen response (no cap unless
  `max_pairs` is given); ties in length are broken by sample order, so results are reproducible.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    """One sampled response to a prompt."""

    text: str
    length: int
    correct: bool
    index: int = 0
    token_ids: tuple[int, ...] = ()  # the response's tokens as generated (DPO scores exactly these)


def shortest_correct(samples: list[Sample]) -> Sample | None:
    """The shortest correct response (the first such on a tie), or None when none is correct."""
    correct = [s for s in samples if s.correct]
    return min(correct, key=lambda s: (s.length, s.index)) if correct else None


def dpo_pairs(samples: list[Sample], ratio: float = 1.5, inclusive: bool = True, max_pairs: int | None = None) -> list[tuple[Sample, Sample]]:
    """(chosen, rejected) pairs: chosen is the shortest correct response; rejected are the wrong
    responses longer than it and the correct ones at least `ratio` times as long. Longest first,
    so `max_pairs` keeps the clearest contrasts."""
    if ratio < 1:
        raise ValueError(f"ratio must be at least 1, got {ratio}")
    chosen = shortest_correct(samples)
    if chosen is None:
        return []

    def too_long(s: Sample) -> bool:
        return s.length >= ratio * chosen.length if inclusive else s.length > ratio * chosen.length

    rejected = [s for s in samples if s is not chosen and s.length > chosen.length and (not s.correct or too_long(s))]
    rejected.sort(key=lambda s: (-s.length, s.index))
    return [(chosen, r) for r in rejected[:max_pairs]]
