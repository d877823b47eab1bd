"""The run store on SQLite and on PostgreSQL: what differs between the two databases (k15core/store/backends.py,
the column types of schema.py) reads the same to callers, and choosing the store (--store, K15_STORE) reaches every
command. Tests taking `store_at` run on both; `pg_url` ones on PostgreSQL only (tests/conftest.py starts the server)."""
from __future__ import annotations

import json
import re
import threading
import time

import pytest
from sqlalchemy.exc import OperationalError

from k15core.cli import main
from k15core.errors import K15Error
from k15core.store import Store
from k15core.store.backends import WRITE_LOCK
from k15core.store.db import TrajectoryFilter
from k15core.store.filters import RegexTimeout
from k15core.types import TrajectoryRecord
from k15core.workspace import Workspace


def _rec(prompt_id: str, response: str, iteration_tag: str = "free") -> TrajectoryRecord:
    return TrajectoryRecord(prompt_id=prompt_id, sample_index=0, prompt="Q: 1+2\n", response=response, token_ids=[1, 2], logprobs=[-0.5, -1.0],
                            reward=1.0, correct=1.0, length=2, tag=iteration_tag)


def test_any_length_and_a_nul_character_are_stored_on_both(store_at):
    """SQLite never enforces VARCHAR lengths, so PostgreSQL must not either; PostgreSQL cannot hold NUL in text, so
    there it becomes U+FFFD instead of failing the trainer's write."""
    store = Store(store_at)
    run = store.create_run("r" * 300, "rl", {})
    long_id = "p" * 300
    store.record_iteration(run, 0, {"m": 1.0}, [_rec(long_id, "Answer:\x00 3")])
    got = store.trajectories(run)[0]
    assert got.prompt_id == long_id and store.runs()[0]["name"] == "r" * 300
    assert got.response == ("Answer:\ufffd 3" if store.path is None else "Answer:\x00 3")


def test_aggregates_are_plain_floats_and_ints_on_both(store_at):
    store = Store(store_at)
    run = store.create_run("r", "rl", {})
    records = [TrajectoryRecord(prompt_id="p", sample_index=i, prompt="Q", response="A", token_ids=[1] * n, logprobs=[0.0] * n, reward=1.0,
                                correct=float(i % 2), length=n, tag="group:0", group=0) for i, n in enumerate((3, 4))]
    store.record_iteration(run, 0, {}, records)
    row = store.prompt_over_iterations(run, "p")[0]
    assert (row["samples"], row["accuracy"], row["len_mean"]) == (2, 0.5, 3.5)
    assert type(row["len_mean"]) is float and type(row["samples"]) is int  # PostgreSQL's avg of an integer is NUMERIC
    assert store.prompt_stats()["p"]["success"] == 0.5


def test_text_filter_ignores_ascii_case_and_regex_keeps_it_on_both(store_at):
    """SQLite's LIKE ignores ASCII case, PostgreSQL's does not: the substring filter reads the same on both (ILIKE
    there). A regular expression is case-sensitive on both."""
    store = Store(store_at)
    run = store.create_run("r", "rl", {})
    store.record_iteration(run, 0, {}, [_rec("a", "The Answer: 42"), _rec("b", "answer: 7"), _rec("c", "no 100%_sure")])
    ids = {r["prompt_id"] for r in store.find_trajectories(TrajectoryFilter(text="ANSWER"))}
    assert ids == {"a", "b"}
    assert {r["prompt_id"] for r in store.find_trajectories(TrajectoryFilter(text="0%_"))} == {"c"}  # % and _ are literal
    assert {r["prompt_id"] for r in store.find_trajectories(TrajectoryFilter(text=r"Answer: \d+", regex=True))} == {"a"}
    assert store.count_matching(TrajectoryFilter(text=r"[a-z]nswer", regex=True), regex_timeout_s=5.0) == 1


def test_a_pattern_postgresql_cannot_read_is_a_bad_pattern(pg_url):
    store = Store(pg_url)
    with pytest.raises(re.error, match="PostgreSQL's regular expressions cannot read it"):
        store.find_trajectories(TrajectoryFilter(text="(?P<n>x)", regex=True))  # Python's named group: not in PostgreSQL
    with pytest.raises(re.error):
        store.count_matching(TrajectoryFilter(text="(?P<n>x)", regex=True), regex_timeout_s=1.0)


def test_a_regex_filter_past_its_limit_is_cancelled_on_postgresql_and_the_next_query_runs(pg_url):
    store = Store(pg_url)
    run = store.create_run("r", "rl", {})
    store.record_iteration(run, 0, {}, [_rec(f"p{i}", "x" * 2000 + str(i)) for i in range(3000)])  # 6 MB to scan
    with pytest.raises(RegexTimeout):
        store.count_matching(TrajectoryFilter(text="x{5}y", regex=True), regex_timeout_s=0.0)  # 1 ms: never 0, which is no limit
    assert store.count_matching(TrajectoryFilter(text="x*[0-9]*7$", regex=True), regex_timeout_s=30.0) == 300  # SET LOCAL: gone with its transaction
    assert store.count_matching(TrajectoryFilter(text="x*[0-9]*7$", regex=True)) == 300


def _hold_write_lock(pg_url: str):
    """Another client holding the store's write lock (as a long write transaction of another process would)."""
    import psycopg

    from k15core.store.backends import store_url

    url = store_url(pg_url)
    conn = psycopg.connect(host=url.query["host"], port=int(url.query["port"]), user=url.username, dbname=url.database, autocommit=True)
    conn.execute(f"SELECT pg_advisory_lock({WRITE_LOCK})")
    return conn


def test_a_postgresql_writer_waits_out_a_held_lock(pg_url):
    store = Store(pg_url, busy_timeout_s=0.1, retries=10)  # short lock_timeout: the retries must do the work
    run = store.create_run("r", "rl", {})
    blocker = _hold_write_lock(pg_url)
    threading.Timer(0.8, blocker.close).start()  # the session ends: its lock goes
    t0 = time.time()
    store.record_iteration(run, 0, {"reward": 1.0})
    assert time.time() - t0 >= 0.5
    assert store.metrics(run)[0]["value"] == 1.0
    assert store.runs()[0]["id"] == run  # readers never waited


def test_a_postgresql_writer_gives_up_with_the_error_if_the_lock_never_goes(pg_url):
    store = Store(pg_url, busy_timeout_s=0.05, retries=2)
    run = store.create_run("r", "rl", {})
    blocker = _hold_write_lock(pg_url)
    try:
        with pytest.raises(OperationalError, match="lock timeout"):
            store.record_iteration(run, 0, {"reward": 1.0})
        assert store.metrics(run) == []  # nothing half-written
    finally:
        blocker.close()


def test_a_store_that_cannot_be_reached_is_said_so_without_its_password(tmp_path):
    with pytest.raises(K15Error) as err:
        Store(f"postgresql://ann:s3cret@/k15?host={tmp_path}&port=1")  # no server on that socket
    assert "ann:***@" in err.value.problem and "s3cret" not in str(err.value) and "s3cret" not in err.value.fix


def test_other_databases_and_bad_urls_are_refused():
    with pytest.raises(K15Error, match="a mysql database; k15 keeps its store in sqlite or postgresql"):
        Store("mysql://ann@db/k15")
    with pytest.raises(K15Error, match="not a database URL"):
        Store("postgresql://ann@db:notaport/k15")
    with pytest.raises(K15Error, match="through psycopg 3"):
        Store("postgresql+psycopg2://ann@db/k15")


def test_the_store_flag_and_k15_store_reach_the_commands(pg_url, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("K15_STORE", raising=False)
    monkeypatch.delenv("K15_WORKSPACE", raising=False)
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"Q: {i}+1\n", "reference": str(i + 1)}) + "\n" for i in range(3)))
    ws = tmp_path / "ws"
    assert main(["prompts", "import", str(prompts), "--workspace", str(ws), "--store", pg_url]) == 0
    assert "3 new" in capsys.readouterr().out
    assert [p["id"] for p in Store(pg_url).prompts()] == ["q0", "q1", "q2"]
    assert not (ws / "k15.db").exists()  # the workspace keeps models; its own store was never made
    assert main(["store", "check", "--workspace", str(ws), "--store", pg_url]) == 0
    assert "ok (every table read to its end)" in capsys.readouterr().out
    monkeypatch.setenv("K15_STORE", pg_url)
    assert main(["prompts", "import", str(prompts), "--workspace", str(ws)]) == 0
    assert "0 new, 3 already in the store" in capsys.readouterr().out
    assert Workspace.resolve(str(ws)).store().location.startswith("postgresql://k15@/")


def test_a_workspace_names_its_store_without_the_password(tmp_path, monkeypatch):
    monkeypatch.delenv("K15_STORE", raising=False)
    ws = Workspace.resolve(str(tmp_path / "ws"))
    assert ws.store_url is None and ws.store_name == str(tmp_path / "ws" / "k15.db") and not ws.has_store()
    shared = Workspace.resolve(str(tmp_path / "ws"), store="postgresql://ann:s3cret@db.lab/k15")
    assert shared.store_name == "postgresql://ann:***@db.lab/k15" and shared.has_store()
    monkeypatch.setenv("K15_STORE", str(tmp_path / "elsewhere.db"))  # a SQLite file outside the workspace is a store too
    store = Workspace.resolve(str(tmp_path / "ws")).store()
    assert store.path == tmp_path / "elsewhere.db" and (tmp_path / "elsewhere.db").exists() and not (tmp_path / "ws" / "k15.db").exists()
