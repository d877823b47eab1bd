"""Prompt sampling: prioritised frequencies, curriculum order, exclusions, saved state."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from k15core.errors import K15Error
from k15core.sampling import SAMPLERS, CurriculumPhase, PromptSampler, SuccessTracker, prioritised_weights
from k15core.tasks.problem import Problem


def pool(n=6, levels=(1, 2, 3)):
    return [Problem(id=f"p{i}", prompt=f"q{i}", reference="0", difficulty=levels[i % len(levels)]) for i in range(n)]


def test_prioritised_frequencies_follow_one_minus_success():
    # Chi-square goodness of fit of 20,000 draws to P(i) ∝ 1 − s_i; with a correct sampler the
    # p-value is uniform on [0, 1], so p < 0.001 (the test's false-alarm rate) means a wrong sampler.
    tracker = SuccessTracker(prior=0.5, values={"p0": 0.0, "p1": 0.2, "p2": 0.5, "p3": 0.9, "p4": 0.75})
    sampler = PromptSampler(pool(6), "prioritised", tracker=tracker, seed=3)
    draws = sampler.draw(20000, iteration=0)
    counts = np.array([sum(p.id == f"p{i}" for p in draws) for i in range(6)])
    expected = np.array([1.0, 0.8, 0.5, 0.1, 0.25, 0.5])
    expected = expected / expected.sum() * len(draws)
    assert stats.chisquare(counts, expected).pvalue > 1e-3
    # and a sampler that ignored the priorities would fail the same test
    assert stats.chisquare(np.full(6, len(draws) / 6), expected).pvalue < 1e-3


def test_solved_prompts_are_never_drawn_without_a_floor_and_all_solved_falls_back_to_uniform():
    tracker = SuccessTracker(values={"p0": 1.0, "p1": 0.0})
    sampler = PromptSampler(pool(2, levels=(1,)), "prioritised", tracker=tracker)
    assert {p.id for p in sampler.draw(500, 0)} == {"p1"}
    assert prioritised_weights(np.array([1.0, 1.0, 1.0])).tolist() == pytest.approx([1 / 3] * 3)
    assert prioritised_weights(np.array([1.0, 0.0]), floor=0.1).tolist() == pytest.approx([0.1 / 1.1, 1 / 1.1])


def test_curriculum_goes_from_easy_to_hard():
    phases = [CurriculumPhase(0, [1]), CurriculumPhase(3, [1, 2]), CurriculumPhase(6, [3])]
    sampler = PromptSampler(pool(9), "curriculum", phases=phases, seed=1)
    assert {p.difficulty for p in sampler.draw(300, 0)} == {1}
    assert {p.difficulty for p in sampler.draw(300, 4)} == {1, 2}
    assert {p.difficulty for p in sampler.draw(300, 6)} == {3}
    # uniform ignores the phases
    assert {p.difficulty for p in PromptSampler(pool(9), "uniform", phases=phases).draw(300, 0)} == {1, 2, 3}


def test_excluded_prompts_are_never_drawn():
    for strategy in SAMPLERS.names():
        sampler = PromptSampler(pool(6), strategy, seed=0)
        sampler.excluded = {"p0", "p3"}
        assert not {"p0", "p3"} & {p.id for p in sampler.draw(2000, 0)}
    sampler.excluded = {f"p{i}" for i in range(6)}
    with pytest.raises(K15Error, match="no prompt can be drawn"):
        sampler.draw(1, 0)


def test_success_tracker_is_an_ema_from_the_prior():
    t = SuccessTracker(rate=0.5, prior=0.5)
    t.update("a", 1.0)  # 0.5·0.5 + 0.5·1 = 0.75
    t.update("a", 0.0)  # 0.375
    assert t.get("a") == pytest.approx(0.375) and t.get("unseen") == 0.5


def test_state_round_trip_continues_the_same_draws():
    a = PromptSampler(pool(6), "prioritised", seed=5)
    a.update("p1", 1.0)
    a.draw(10, 0)
    b = PromptSampler(pool(6), "prioritised", seed=99)
    b.load_state_dict(a.state_dict())
    assert [p.id for p in a.draw(50, 1)] == [p.id for p in b.draw(50, 1)]


def test_unknown_strategy_is_a_clear_error():
    with pytest.raises(K15Error, match="unknown sampler"):
        PromptSampler(pool(), "random-ish")
