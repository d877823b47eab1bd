"""Correctness of a finished response, the length penalty (report §2.3.3), its schedule, and the repeat penalty."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from k15core.rewards import LengthPenaltySchedule, correctness, length_penalty, repeat_penalty, total_reward


def test_hand_numbers():
    # group 0: lengths 10, 20, 30 (min 10, max 30): λ = 0.5, 0, −0.5
    #   correct, correct, wrong -> 0.5, 0, −0.5;  group 1: lengths 5, 15: λ = 0.5, −0.5, both wrong -> 0, −0.5
    out = length_penalty(torch.tensor([10, 20, 30, 5, 15]), torch.tensor([1.0, 1, 0, 0, 0]), torch.tensor([0, 0, 0, 1, 1]))
    assert out.tolist() == [0.5, 0.0, -0.5, 0.0, -0.5]


def test_equal_lengths_give_zero():
    assert length_penalty(torch.tensor([7, 7, 7]), torch.tensor([1.0, 0, 1]), torch.tensor([0, 0, 0])).tolist() == [0, 0, 0]


def test_wrong_answers_below_the_midpoint_get_zero():
    # lengths 0..10: midpoint 5; a wrong answer of length 4 gets min(0, 0.1) = 0, of length 6 gets −0.1
    out = length_penalty(torch.tensor([0, 10, 4, 6]), torch.tensor([1.0, 1, 0, 0]), torch.zeros(4, dtype=torch.long))
    assert out[2].item() == 0.0 and out[3].item() == pytest.approx(-0.1)


groups = st.lists(st.tuples(st.integers(1, 500), st.booleans(), st.integers(0, 3)), min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(groups)
def test_range_monotone_and_per_group(samples):
    lengths = torch.tensor([s[0] for s in samples])
    correct = torch.tensor([float(s[1]) for s in samples])
    group = torch.tensor([s[2] for s in samples])
    out = length_penalty(lengths, correct, group)
    assert out.min() >= -0.5 and out.max() <= 0.5
    assert (out[correct == 0] <= 0).all()
    for i in range(len(samples)):
        for j in range(len(samples)):
            if group[i] == group[j] and correct[i] == correct[j] and lengths[i] <= lengths[j]:
                assert out[i] >= out[j]  # never increases with length for a fixed label
    # invariant to scaling and shifting the lengths
    assert torch.allclose(length_penalty(lengths * 3 + 7, correct, group), out, atol=1e-6)
    # computed per group: a group's values do not depend on other groups
    for g in group.unique():
        sel = group == g
        assert torch.allclose(length_penalty(lengths[sel], correct[sel], group[sel]), out[sel])


def test_shortest_and_longest_correct_get_the_extremes():
    out = length_penalty(torch.tensor([3, 9, 6]), torch.ones(3), torch.zeros(3, dtype=torch.long))
    assert out[0].item() == 0.5 and out[1].item() == -0.5


def test_schedule_is_a_two_phase_step():
    s = LengthPenaltySchedule(warmup_iters=5, weight=0.3)
    assert [s.weight_at(i) for i in (0, 4, 5, 50)] == [0.0, 0.0, 0.3, 0.3]


def test_repeat_penalty_and_total():
    assert repeat_penalty(torch.tensor([True, False]), 0.5).tolist() == [-0.5, 0.0]
    parts = total_reward(torch.tensor([1.0, 0.0]), torch.tensor([10, 20]), torch.tensor([False, True]), torch.tensor([0, 0]), 0.2, 0.5)
    # correct 1, length λ = 0.5 -> 0.1; wrong, λ = −0.5 -> −0.1, repeated −0.5
    assert parts["total"].tolist() == pytest.approx([1.1, -0.6])


@pytest.mark.parametrize("case, truncated, repeated, verdict, expected", [
    ("normal, right", False, False, 1.0, 1.0),
    ("normal, wrong", False, False, 0.0, 0.0),
    ("truncated, its text verifies", True, False, 1.0, 0.0),  # cut at the limit: no final answer
    ("repeat-stopped, its text verifies", False, True, 1.0, 0.0),  # a stopped loop: no final answer
    ("truncated, wrong", True, False, 0.0, 0.0),
])
def test_only_a_response_that_ended_by_itself_can_be_correct(case, truncated, repeated, verdict, expected):
    out = correctness(torch.tensor([verdict]), torch.tensor([truncated]), torch.tensor([repeated]))
    assert out.tolist() == [expected], case


def test_a_repeat_stopped_response_that_verifies_gets_no_correctness_and_the_penalty():
    # two responses of one group whose texts both verify, lengths 10 and 20, w = 0.2, repeat weight 0.5:
    # the normal one 1 + 0.2 * 0.5 = 1.1; the repeat-stopped one is wrong: 0 + 0.2 * min(0, −0.5) − 0.5 = −0.6
    repeated = torch.tensor([False, True])
    correct = correctness(torch.tensor([1.0, 1.0]), torch.tensor([False, False]), repeated)
    parts = total_reward(correct, torch.tensor([10, 20]), repeated, torch.tensor([0, 0]), 0.2, 0.5)
    assert parts["total"].tolist() == pytest.approx([1.1, -0.6])
