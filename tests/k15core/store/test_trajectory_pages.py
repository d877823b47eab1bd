"""The Rollouts filter's difficulty range, and a filtered table read back whole in keyset pages (the studio's export).

On both databases (`store_at`, tests/conftest.py)."""
from __future__ import annotations

import pytest

from k15core.store import Store
from k15core.store.db import TrajectoryFilter
from k15core.types import TrajectoryRecord


def _traj(i: int) -> TrajectoryRecord:
    return TrajectoryRecord(
        prompt_id=f"p{i % 5}", sample_index=i % 4, prompt=f"Q{i}", response=f"Answer: {i}", token_ids=[1, 2], logprobs=[-0.1, -0.2],
        reward=float(i % 2), correct=float(i % 2), length=2 + i % 7, reward_parts={"correct": float(i % 2)}, difficulty=1 + i % 4, tag="free",
    )


@pytest.fixture
def store(store_at):
    s = Store(store_at)
    a, b = s.create_run("a", "rl", {}), s.create_run("b", "rl", {})
    for it in range(3):
        s.record_iteration(a, it, {}, [_traj(20 * it + j) for j in range(9)])
        s.record_iteration(b, it, {}, [_traj(200 + 20 * it + j) for j in range(4)])
    yield s
    s.close()


def test_difficulty_range_keeps_exactly_the_rows_in_it(store):
    everything = store.find_trajectories(TrajectoryFilter(), limit=10_000)
    assert {r["difficulty"] for r in everything} == {1, 2, 3, 4}
    for lo, hi in ((2, 2), (2, 3), (None, 1), (4, None), (3, 2)):
        f = TrajectoryFilter(difficulty_min=lo, difficulty_max=hi)
        want = [r["id"] for r in everything if (lo is None or r["difficulty"] >= lo) and (hi is None or r["difficulty"] <= hi)]
        assert [r["id"] for r in store.find_trajectories(f, limit=10_000)] == want, (lo, hi)
        assert store.count_matching(f) == len(want)
    # with the other filters: one run, a range of iterations (the id-bounds path), correct only
    run = everything[0]["run_id"]
    f = TrajectoryFilter(run_id=run, iteration_min=1, iteration_max=2, difficulty_min=2, correct=True)
    want = [r["id"] for r in everything if r["run_id"] == run and r["iteration"] >= 1 and r["difficulty"] >= 2 and r["correct"] > 0]
    assert want and [r["id"] for r in store.find_trajectories(f, limit=10_000)] == want


@pytest.mark.parametrize("page_size", [1, 4, 7, 100])
def test_pages_give_every_matching_row_once_newest_first(store, page_size):
    f = TrajectoryFilter(difficulty_min=2, correct=False)
    want = store.find_trajectories(f, limit=10_000)
    pages = list(store.matching_pages(f, ["id", "difficulty", "response"], page_size=page_size))
    assert all(0 < len(p) <= page_size for p in pages)
    rows = [r for p in pages for r in p]
    assert [r["id"] for r in rows] == [r["id"] for r in want]
    assert all(set(r) == {"id", "difficulty", "response"} and r["difficulty"] >= 2 for r in rows)
    assert [r["response"][:160] for r in rows] == [r["preview"] for r in want]


def test_pages_refuse_an_unknown_column(store):
    with pytest.raises(ValueError, match="no trajectory column"):
        next(store.matching_pages(TrajectoryFilter(), ["id", "nope"]))
