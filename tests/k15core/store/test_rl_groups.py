"""RL samples are the rows with a group_id: written from TrajectoryRecord.group, filled from "group:N" tags when
an older store is opened, and the only rows the RL statistics and the Rollouts tab's "rl" filter count."""
from __future__ import annotations

import sqlite3

from sqlalchemy import select

from k15core.store import SCHEMA_VERSION, Store
from k15core.store.db import TrajectoryFilter
from k15core.store.schema import trajectories as T
from k15core.types import TrajectoryRecord


def _rec(prompt_id: str, tag: str, group: int | None, correct: float = 1.0, length: int = 4, response: str = "Answer: 3") -> TrajectoryRecord:
    return TrajectoryRecord(
        prompt_id=prompt_id, sample_index=0, prompt="Q: 1+2\n", response=response, token_ids=list(range(length)), logprobs=[-0.1] * length,
        reward=correct, correct=correct, length=length, difficulty=2, tag=tag, group=group,
    )


def _group_ids(path) -> dict[str, int | None]:
    with sqlite3.connect(path) as raw:
        return dict(raw.execute("SELECT tag, group_id FROM trajectories ORDER BY id"))


def test_group_round_trips_and_none_stays_null(tmp_path):
    store = Store(tmp_path / "k15.db")
    run = store.create_run("r", "rl", {})
    store.record_iteration(run, 0, {}, [_rec("p1", "group:7", 7), _rec("p1", "free", None), _rec("p2", "", 0)])
    assert [t.group for t in store.trajectories(run)] == [7, None, 0]
    assert _group_ids(tmp_path / "k15.db") == {"group:7": 7, "free": None, "": 0}


def test_a_version_3_store_gets_group_id_from_its_tags(tmp_path):
    path = tmp_path / "k15.db"
    store = Store(path)
    run = store.create_run("r", "rl", {})
    tags = ["group:0", "group:12", "free", "group:x", "group:", "group:3b", "groupie:4", "long"]
    store.record_iteration(run, 0, {}, [_rec(f"p{i}", tag, None) for i, tag in enumerate(tags)])
    store.close()
    raw = sqlite3.connect(path)  # what version 3 wrote: no group_id column, the group only in the tag
    raw.executescript("ALTER TABLE trajectories DROP COLUMN group_id; ALTER TABLE trajectories DROP COLUMN verdict; ALTER TABLE prompts DROP COLUMN images; UPDATE meta SET value = '3' WHERE key = 'schema_version';")
    raw.commit()
    raw.close()

    store = Store(path)
    assert _group_ids(path) == {"group:0": 0, "group:12": 12, "free": None, "group:x": None, "group:": None, "group:3b": None,
                                "groupie:4": None, "long": None}
    assert [t.group for t in store.trajectories(run)][:3] == [0, 12, None]
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION) == "8"
    assert store.prompt_stats().keys() == {"p0", "p1"}  # the migrated rows count as RL samples at once


def _mixed_run(store: Store) -> int:
    """RL samples of p1 and p2 (one with a tag that does not say so), and evaluation rows that look like RL by their tag."""
    run = store.create_run("r", "rl", {})
    store.record_iteration(run, 0, {}, [
        _rec("p1", "group:0", 0, correct=1.0, length=4), _rec("p1", "group:0", 0, correct=0.0, length=6, response="Answer: 4"),
        _rec("p2", "", 1, correct=1.0, length=5),  # an RL sample whatever its tag says
        _rec("p1", "group:1", None, correct=1.0, length=90),  # evaluation rows: no group, even with a group-like tag
        _rec("p3", "group:x", None, correct=1.0, length=91),
        _rec("p3", "free", None, correct=1.0, length=92),
    ])
    return run


def test_rl_filter_selects_by_group_id(store_at):
    store = Store(store_at)
    run = _mixed_run(store)
    rl = store.find_trajectories(TrajectoryFilter(run_id=run, tag="rl"))
    assert sorted((r["prompt_id"], r["length"]) for r in rl) == [("p1", 4), ("p1", 6), ("p2", 5)]
    assert store.count_matching(TrajectoryFilter(run_id=run, tag="rl")) == 3
    assert store.count_matching(TrajectoryFilter(run_id=run, tag="rl", iteration_min=0, iteration_max=0), cap=10) == 3
    assert [r["length"] for r in store.find_trajectories(TrajectoryFilter(run_id=run, tag="group:1"))] == [90]  # an exact tag is still a tag
    assert [r["length"] for r in store.find_trajectories(TrajectoryFilter(run_id=run, tag="free"))] == [92]


def test_rl_statistics_count_only_rows_with_a_group(store_at):
    store = Store(store_at)
    run = _mixed_run(store)
    groups = sorted(store.group_stats(run), key=lambda g: g["group_id"])
    assert [(g["group_id"], g["prompt_id"], g["k"], g["distinct"], g["reward_min"], g["reward_max"]) for g in groups] == [
        (0, "p1", 2, 2, 0.0, 1.0), (1, "p2", 1, 1, 1.0, 1.0)]
    assert sorted(r["length"] for r in store.correct_lengths(run)) == [4, 5]
    stats = store.prompt_stats()
    assert stats.keys() == {"p1", "p2"}
    assert stats["p1"]["samples"] == 2 and stats["p1"]["success"] == 0.5


def test_rl_filter_keeps_the_run_id_index_plan(tmp_path):
    store = Store(tmp_path / "k15.db")
    run = _mixed_run(store)
    f = TrajectoryFilter(run_id=run, iteration_min=0, iteration_max=3, tag="rl", text="Answer")
    q = select(T.c.id).where(*store.where(f)).order_by(T.c.id.desc()).limit(200)
    sql = str(q.compile(compile_kwargs={"literal_binds": True}))
    plan = " | ".join(row[-1] for row in sqlite3.connect(tmp_path / "k15.db").execute(f"EXPLAIN QUERY PLAN {sql}"))
    assert "ix_trajectories_run_id" in plan and "TEMP B-TREE" not in plan, plan
