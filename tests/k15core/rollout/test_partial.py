"""Which tokens of a partial rollout stay as context only (k15core.rollout.partial, report §2.6.2)."""
from __future__ import annotations

from k15core.rollout.partial import context_only_tokens, masked_token_share
from k15core.tasks.problem import Problem
from k15core.types import Trajectory


def _response(*segments: tuple[int, int]) -> Trajectory:
    """A response written in (iteration, tokens) segments."""
    t = Trajectory(Problem(id="p", prompt="", reference="0"), 0, 0, [1, 2])
    for iteration, n in segments:
        t.add_segment(iteration, [5] * n, [0.0] * n)
    return t


def test_a_response_keeps_its_own_last_segment_in_the_loss():
    assert context_only_tokens(_response((0, 3), (1, 3), (2, 2)).token_iteration, True) == 6  # iterations 0, 1 are context
    assert context_only_tokens(_response((0, 2)).token_iteration, True) == 0  # ended in iteration 0: all of it trained
    assert context_only_tokens(_response((0, 3), (1, 1)).token_iteration, True) == 3
    assert context_only_tokens(_response((0, 3), (1, 3), (2, 2)).token_iteration, False) == 0  # the flag off: all trained
    assert context_only_tokens([], True) == 0


def test_masked_token_share_of_a_group_with_one_long_member():
    # long 6 of 8 tokens context, a 0 of 2, b 3 of 4, c 0 of 3: 9 of 17
    group = [_response((0, 3), (1, 3), (2, 2)), _response((0, 2)), _response((0, 3), (1, 1)), _response((0, 3))]
    assert masked_token_share(group, True) == 9 / 17
    assert masked_token_share(group, False) == 0.0
    assert masked_token_share([], True) == 0.0
