"""The loop detector: catches crafted loops quickly, never flags ordinary text."""
from __future__ import annotations

from k15core.rollout.repeat import RepeatRule, detect_repeat
from k15core.tasks.recurrence import RecurrenceTask


def first_flag(tokens: list[int], rule=RepeatRule()) -> int | None:
    """The number of tokens after which the detector first fires when fed token by token."""
    for i in range(1, len(tokens) + 1):
        if detect_repeat(tokens[:i], rule):
            return i
    return None


def test_loops_are_caught_within_a_bounded_number_of_tokens():
    rule = RepeatRule(max_ngram=8, min_repeats=4, min_tokens=12)
    prefix = [ord(c) for c in "x=1 y=2 z=3 a="]
    for unit in ([5], [1, 2], [7, 8, 9], list(range(10, 18))):
        tokens = prefix + unit * 50
        at = first_flag(tokens, rule)
        assert at is not None
        # fires once the loop has covered max(min_repeats·n, min_tokens) tokens (plus the unit length at most)
        bound = len(prefix) + max(rule.min_repeats * len(unit), rule.min_tokens) + len(unit)
        assert at <= bound, (unit, at, bound)


def test_real_solutions_are_never_flagged():
    task = RecurrenceTask(eval_per_level=20)
    for p in task.eval_problems():
        for style in task.styles:
            text = p.prompt + task.solution(p, style)
            assert first_flag([ord(c) for c in text]) is None, text


def test_short_repeats_below_the_threshold_are_not_flagged():
    assert not detect_repeat([1, 2, 1, 2, 1, 2])  # 3 repeats of a 2-gram, 6 tokens
    assert not detect_repeat([4] * 11)  # under min_tokens
    assert detect_repeat([4] * 12)
