"""Repeat detection: stop a response that has fallen into a loop (report §2.6.2, Figure 3b).

The report gives no detector. Chosen here: the response's tail is the same n-gram repeated
back to back, for any n-gram length from 1 to `max_ngram`, at least `min_repeats` times and over at
least `min_tokens` tokens. (`abcabcabcabc` is a 3-gram repeated 4 times.) It is checked on the tail
only, after every generated token, so a loop is caught at most `n` tokens after its
`min_repeats`-th repetition begins, and text that merely reuses words is not flagged.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RepeatRule:
    max_ngram: int = 8
    min_repeats: int = 4
    min_tokens: int = 12


def detect_repeat(tokens: list[int], rule: RepeatRule = RepeatRule()) -> bool:
    """True if `tokens` ends with some n-gram (1 <= n <= rule.max_ngram) repeated back to back
    at least `rule.min_repeats` times, covering at least `rule.min_tokens` tokens."""
    total = len(tokens)
    for n in range(1, rule.max_ngram + 1):
        repeats = max(rule.min_repeats, -(-rule.min_tokens // n))  # ceil(min_tokens / n)
        span = n * repeats
        if span > total:
            continue
        tail = tokens[total - span:]
        unit = tail[:n]
        if all(tail[i] == unit[i % n] for i in range(span)):
            return True
    return False
