"""The run store: round trips, WAL, concurrent writer and reader processes, lock retry, corrupt files.

The tests that take `store_at` run on both databases, SQLite and PostgreSQL (tests/conftest.py)."""
from __future__ import annotations

import multiprocessing as mp
import os
import sqlite3
import time

import pytest

from k15core.errors import K15Error
from k15core.store import SCHEMA_VERSION, Store
from k15core.tasks.problem import Problem
from k15core.types import TrajectoryRecord


def _traj(i: int, n_tokens: int = 5) -> TrajectoryRecord:
    return TrajectoryRecord(
        prompt_id=f"p{i}", sample_index=i % 4, prompt="Q: 1+2\n", response="Answer: 3", token_ids=list(range(n_tokens)),
        logprobs=[-0.5 * k for k in range(n_tokens)], reward=1.0, correct=1.0, length=n_tokens, reward_parts={"correct": 1.0, "length": -0.25},
        truncated=i % 2 == 1, difficulty=3, tag="free",
    )


def test_round_trip_and_wal(store_at):
    store = Store(store_at)
    run = store.create_run("demo", "rl", {"sft": {"lr": 0.1}})
    store.record_iteration(run, 0, {"reward": 0.5, "accuracy": 0.25}, [_traj(0), _traj(1, 300)])
    store.record_iteration(run, 1, {"reward": 0.75})
    got = store.trajectories(run)
    assert [t.prompt_id for t in got] == ["p0", "p1"]
    assert got[1].token_ids == list(range(300)) and got[1].logprobs[:3] == [0.0, -0.5, -1.0]
    assert got[1].reward_parts == {"correct": 1.0, "length": -0.25} and got[1].truncated is True
    assert store.metrics(run, since_iteration=0) == [{"iteration": 1, "name": "reward", "value": 0.75}]
    assert store.last_iteration(run) == 1 and store.count_trajectories(run, 0) == 2
    assert store.runs()[0]["config"] == {"sft": {"lr": 0.1}}
    store.set_run_status(run, "finished")
    assert store.run(run)["status"] == "finished" and store.run(run)["finished_at"] is not None
    if store.path is not None:
        assert sqlite3.connect(store.path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert _sql(store, "SELECT value FROM meta WHERE key='schema_version'") == str(SCHEMA_VERSION)
    # token ids are compact binary: 4 bytes per token, not a JSON list
    assert _sql(store, "SELECT length(token_ids) FROM trajectories WHERE prompt_id='p1'") == 4 * 300


def _sql(store: Store, sql: str):
    """One value of a raw SQL query, on either database."""
    return store._read(lambda c: c.exec_driver_sql(sql).scalar())


def test_rollback_drops_a_runs_iterations_from_one_on_and_nothing_else(store_at):
    store = Store(store_at)
    run, other = store.create_run("r", "rl", {}), store.create_run("o", "rl", {})
    for it in range(4):
        for r in (run, other):
            store.record_iteration(r, it, {"reward": float(it)}, [_traj(it), _traj(it + 10)])
    assert store.rollback_run(run, 2) == (2, 4)  # iterations 2 and 3: one metric and two trajectories each
    assert store.last_iteration(run) == 1 and store.count_trajectories(run) == 4
    assert store.last_iteration(other) == 3 and store.count_trajectories(other) == 8  # another run keeps everything
    assert store.rollback_run(run, 2) == (0, 0)


def _ids(store: Store, run: int) -> list[int]:
    return store._read(lambda c: [r[0] for r in c.exec_driver_sql(f"SELECT id FROM trajectories WHERE run_id = {int(run)} ORDER BY id")])


def test_a_rolled_back_trajectorys_id_is_never_given_again(store_at):
    """A resume deletes the newest trajectories; the ones trained again must get new ids, or a verdict or DPO mark a
    person put on a deleted response would land on a response they never saw (SQLite hands out max(id) + 1)."""
    store = Store(store_at)
    run = store.create_run("r", "rl", {})
    for it in range(3):
        store.record_iteration(run, it, {}, [_traj(it), _traj(it + 10)])
    given = _ids(store, run)
    store.rollback_run(run, 1)  # the ids of iterations 1 and 2 (the highest) are deleted
    store.record_iteration(run, 1, {}, [_traj(1), _traj(11)])
    again = _ids(store, run)
    assert again[:2] == given[:2] and min(again[2:]) > max(given), (given, again)
    store.rollback_run(run, 1)  # twice in a row: the floor keeps the highest id ever given
    store.record_iteration(run, 1, {}, [_traj(1)])
    assert min(_ids(store, run)[2:]) > max(again)
    store.record_iteration(run, 2, {}, [_traj(2)])  # later writes go on counting up
    ids = _ids(store, run)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_prompts_and_label_events(store_at):
    store = Store(store_at)
    problems = [Problem(id=f"q{i}", prompt=f"Q: {i}+1\n", reference=str(i + 1), difficulty=1) for i in range(3)]
    assert store.add_prompts(problems, source="test") == 3
    assert store.add_prompts(problems[:2] + [Problem(id="q9", prompt="x", reference="1")], source="test") == 1
    assert [p["id"] for p in store.prompts()] == ["q0", "q1", "q2", "q9"]
    repeated = [Problem(id="r1", prompt="first", reference="1"), Problem(id="r1", prompt="again", reference="2"), Problem(id="r2", prompt="y", reference="3")]
    assert store.add_prompts(repeated, source="test") == 2  # one id twice in one call: the first is kept, nothing raises
    assert store.prompt("r1")["text"] == "first"
    s1 = store.add_label_event("q1", "excluded", True, author="ann", source="studio")
    s2 = store.add_label_event("q1", "excluded", False, author="bob", source="studio")
    assert s2 > s1
    events = store.label_events(since_seq=s1)
    assert [(e["author"], e["value"]) for e in events] == [("bob", False)]


def _writer(path: str, iterations: int, per_iter: int) -> None:
    store = Store(path)
    run = store.create_run("w", "rl", {})
    for it in range(iterations):
        store.record_iteration(run, it, {"reward": float(it), "n": float(per_iter)}, [_traj(k) for k in range(per_iter)])


def test_reader_only_sees_whole_iterations(tmp_path):
    path = str(tmp_path / "k15.db")
    Store(path)  # create the schema first
    iterations, per_iter = 60, 25
    writer = mp.get_context("spawn").Process(target=_writer, args=(path, iterations, per_iter))
    writer.start()
    reader = Store(path)
    seen, deadline = set(), time.time() + 120
    while writer.is_alive() or not seen or max(seen) < iterations - 1:
        assert time.time() < deadline, "writer did not finish in time"
        runs = reader.runs()
        if not runs:
            continue
        run = runs[0]["id"]
        last = reader.last_iteration(run)
        if last is None:
            continue
        # metrics of `last` are visible, so all of its trajectories must be too (one transaction)
        assert reader.count_trajectories(run, last) == per_iter
        assert len([m for m in reader.metrics(run, since_iteration=last - 1) if m["iteration"] == last]) == 2
        seen.add(last)
        if not writer.is_alive() and last == iterations - 1:
            break
    writer.join(30)
    assert writer.exitcode == 0
    assert len(seen) > 1, "the reader should have observed the writer mid-run"


def test_writer_waits_out_a_held_lock(tmp_path):
    path = tmp_path / "k15.db"
    store = Store(path, busy_timeout_s=0.1, retries=10)  # short timeout: the retries must do the work
    run = store.create_run("r", "rl", {})
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")  # another process/tool holding the write lock

    import threading

    threading.Timer(0.8, blocker.rollback).start()
    t0 = time.time()
    store.record_iteration(run, 0, {"reward": 1.0})
    assert time.time() - t0 >= 0.5
    assert store.metrics(run)[0]["value"] == 1.0


def test_gives_up_with_the_error_if_the_lock_never_goes(tmp_path):
    path = tmp_path / "k15.db"
    store = Store(path, busy_timeout_s=0.05, retries=2)
    run = store.create_run("r", "rl", {})
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    from sqlalchemy.exc import OperationalError

    with pytest.raises(OperationalError, match="locked"):
        store.record_iteration(run, 0, {"reward": 1.0})
    blocker.rollback()


def test_corrupt_database_is_refused_and_left_untouched(tmp_path):
    bad = tmp_path / "k15.db"
    bad.write_bytes(b"this is not a database" * 100)
    before = bad.read_bytes()
    with pytest.raises(K15Error, match="not a readable k15 database") as err:
        Store(bad)
    assert "mv " in err.value.fix
    assert bad.read_bytes() == before


def test_damaged_pages_are_refused(tmp_path):
    path = tmp_path / "k15.db"
    store = Store(path)
    store.record_iteration(store.create_run("r", "rl", {}), 0, {"x": 1.0}, [_traj(i) for i in range(50)])
    store.checkpoint()
    store.close()
    data = bytearray(path.read_bytes())
    data[100:4096 * 3] = b"\xff" * (4096 * 3 - 100)  # keep the header, wreck the schema pages
    path.write_bytes(bytes(data))
    with pytest.raises(K15Error, match="not a readable k15 database"):
        Store(path)


def test_a_damaged_page_in_the_middle_is_found_at_open_and_by_store_check(tmp_path, capsys):
    """Damage past the schema pages used to go unnoticed (writes went on); now opening refuses it and
    `k15 store check` names it, the file left as it was."""
    from k15core.cli import main

    path = tmp_path / "k15.db"
    store = Store(path)
    store.record_iteration(store.create_run("r", "rl", {}), 0, {"x": 1.0}, [_traj(i) for i in range(400)])
    store.checkpoint()
    assert store.check() == []
    store.close()
    assert main(["store", "check", "--workspace", str(tmp_path)]) == 0 and "ok" in capsys.readouterr().out
    data = bytearray(path.read_bytes())
    middle = (len(data) // 4096 // 2) * 4096
    data[middle: middle + 4096] = b"\x5a" * 4096  # one page in the middle of the trajectories' pages
    path.write_bytes(bytes(data))
    before = path.read_bytes()
    with pytest.raises(K15Error, match="damaged pages"):
        Store(path)
    assert main(["store", "check", "--workspace", str(tmp_path)]) == 2
    assert "damaged" in capsys.readouterr().err and path.read_bytes() == before


def test_a_read_only_workspace_is_said_to_be_read_only_not_corrupt(tmp_path):
    """As root, permissions do not stop a write, so the workspace is made immutable (chattr +i) instead."""
    import shutil
    import subprocess

    ws = tmp_path / "ws"
    ws.mkdir()
    Store(ws / "k15.db").close()
    for leftover in ws.glob("k15.db-*"):
        leftover.unlink()
    if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(ws / "k15.db"), str(ws)], capture_output=True).returncode != 0:
        pytest.skip("this file system cannot make the workspace immutable")
    try:
        with pytest.raises(K15Error) as err:
            Store(ws / "k15.db")
    finally:
        subprocess.run(["chattr", "-i", str(ws / "k15.db"), str(ws)], check=True)
    assert "read-only" in err.value.problem and "not a readable" not in err.value.problem


def test_schema_version_mismatch(tmp_path):
    path = tmp_path / "k15.db"
    Store(path).close()
    raw = sqlite3.connect(path)
    raw.execute("UPDATE meta SET value='999' WHERE key='schema_version'")
    raw.commit()
    raw.close()
    with pytest.raises(K15Error, match="schema version 999"):
        Store(path)


def test_iteration_range_filter_matches_brute_force_and_walks_the_id_index(store_at):
    """Iteration ranges are answered with id bounds (so the newest-first scan stops early): the rows must be
    exactly those a plain filter gives, also when two runs interleave and a run records an iteration late.
    The plan is SQLite's (PostgreSQL plans by its own statistics)."""
    from sqlalchemy import select

    from k15core.store.db import TrajectoryFilter
    from k15core.store.schema import trajectories as T

    store = Store(store_at)
    a, b = store.create_run("a", "rl", {}), store.create_run("b", "rl", {})
    for it in range(6):  # the runs write in turn
        store.record_iteration(a, it, {}, [_traj(10 * it + j) for j in range(3)])
        store.record_iteration(b, it, {}, [_traj(100 + 10 * it + j) for j in range(2)])
    store.record_iteration(a, 1, {}, [_traj(999)])  # iteration 1 again, after everything: its id is the newest
    everything = store.find_trajectories(TrajectoryFilter(), limit=10_000)
    assert len(everything) == 6 * 5 + 1
    for run in (a, b):
        for lo, hi in ((None, None), (0, 0), (1, 1), (2, 4), (None, 2), (3, None), (5, 9), (7, 9), (4, 1)):
            got = store.find_trajectories(TrajectoryFilter(run_id=run, iteration_min=lo, iteration_max=hi), limit=10_000)
            want = [r for r in everything if r["run_id"] == run and (lo is None or r["iteration"] >= lo) and (hi is None or r["iteration"] <= hi)]
            assert [r["id"] for r in got] == [r["id"] for r in want], (run, lo, hi)
            assert store.count_matching(TrajectoryFilter(run_id=run, iteration_min=lo, iteration_max=hi)) == len(want)
    if store.path is None:
        return
    # the plan: the (run_id, id) index, newest first, no sort of the whole range
    f = TrajectoryFilter(run_id=a, iteration_min=2, iteration_max=4, text="Answer")
    q = select(T.c.id).where(*store.where(f)).order_by(T.c.id.desc()).limit(200)
    sql = str(q.compile(compile_kwargs={"literal_binds": True}))
    plan = " | ".join(row[-1] for row in sqlite3.connect(store.path).execute(f"EXPLAIN QUERY PLAN {sql}"))
    assert "ix_trajectories_run_id" in plan and "TEMP B-TREE" not in plan, plan
