"""Run owners (k15core.runlock): a run is its creating or resuming process's; a claim wins only over an owner that
is gone (dead pid, zombie, reused pid, stale heartbeat on another host), and a run nobody owns reads so."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time

import pytest
from sqlalchemy import update

from k15core import runlock
from k15core.errors import K15Error
from k15core.runlock import RUNNING_OWNER_GONE, RunLock, this_process
from k15core.store import SCHEMA_VERSION, Store
from k15core.store import schema as S


PROC = pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="process start times and states come from Linux's /proc")


def _forge(store: Store, run_id: int, **values) -> None:
    """Make the run's owner row say something else (another pid, host, start time, heartbeat)."""
    store._write(lambda c: c.execute(update(S.run_owners).where(S.run_owners.c.run_id == run_id).values(**values)))


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_new_run_is_its_creators_until_it_ends(store_at):
    store = Store(store_at)
    run = store.create_run("r", "rl", {})
    owner = store.run(run)["owner"]
    assert (owner["pid"], owner["host"], owner["start"]) == (os.getpid(), this_process().host, this_process().start)
    assert store.run(run)["status"] == "running"
    assert store.claim_run(run, this_process())[0] is False  # owned by a live process (this one): refused
    store.set_run_status(run, "stopped")
    assert store.run(run)["owner"] is None and store.run(run)["status"] == "stopped"


@pytest.mark.parametrize("how", ["dead pid", pytest.param("reused pid", marks=PROC), "stale heartbeat elsewhere", "no owner row"])
def test_a_running_run_whose_owner_is_gone_reads_so_and_can_be_claimed(tmp_path, how):
    store = Store(tmp_path / "k15.db")
    run = store.create_run("r", "rl", {})
    if how == "dead pid":
        _forge(store, run, pid=_dead_pid())
    elif how == "reused pid":
        _forge(store, run, start="1")  # this pid, but a process started at another time
    elif how == "stale heartbeat elsewhere":
        _forge(store, run, host="elsewhere", heartbeat_at=time.time() - runlock.STALE_S - 1)
    else:
        store.release_run(run, this_process())
    assert store.run(run)["status"] == RUNNING_OWNER_GONE
    lock, gone = RunLock.claim(store, run)
    assert (gone is None) == (how == "no owner row")
    assert store.run(run)["status"] == "running" and store.run(run)["owner"]["pid"] == os.getpid()
    lock.release()
    assert store.run(run)["owner"] is None


def test_a_live_owner_keeps_its_run(store_at):
    store = Store(store_at)
    run = store.create_run("r", "rl", {})
    _forge(store, run, host="elsewhere", heartbeat_at=time.time() - 10)  # another machine's trainer, beating
    before = store.run(run)
    with pytest.raises(K15Error, match=f"run {run} is being trained by pid {os.getpid()} on elsewhere"):
        RunLock.claim(store, run)
    assert store.run(run) == before  # the refused claim wrote nothing


@PROC
def test_a_killed_child_not_yet_reaped_is_gone(tmp_path):
    store = Store(tmp_path / "k15.db")
    run = store.create_run("r", "rl", {})
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.time() + 30
    while not os.path.exists(f"/proc/{child.pid}/stat") or open(f"/proc/{child.pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.time() < deadline
        time.sleep(0.05)
    _forge(store, run, pid=child.pid, start=None)  # a zombie: os.kill(pid, 0) still succeeds
    assert store.run(run)["status"] == RUNNING_OWNER_GONE
    child.wait()


def test_the_lock_beats_until_released_or_no_longer_its_own(tmp_path, monkeypatch):
    monkeypatch.setattr(runlock, "HEARTBEAT_S", 0.05)
    store = Store(tmp_path / "k15.db")
    run = store.create_run("r", "rl", {})
    lock = RunLock(store, run)
    first = store.run_owner(run)["heartbeat_at"]
    deadline = time.time() + 10
    while store.run_owner(run)["heartbeat_at"] == first:
        assert time.time() < deadline
        time.sleep(0.05)
    store.set_run_status(run, "finished")  # ends this process's ownership: the heartbeat thread stops on its own
    lock._thread.join(10)
    assert not lock._thread.is_alive() and store.run_owner(run) is None
    lock.release()  # idempotent


def test_a_version_4_store_gets_the_owner_table_and_its_running_runs_read_as_gone(tmp_path):
    path = tmp_path / "k15.db"
    store = Store(path)
    running, done = store.create_run("a", "rl", {}), store.create_run("b", "rl", {})
    store.set_run_status(done, "finished")
    store.close()
    raw = sqlite3.connect(path)  # what version 4 had: no owner table
    raw.executescript("DROP TABLE run_owners; ALTER TABLE trajectories DROP COLUMN verdict; ALTER TABLE prompts DROP COLUMN images; UPDATE meta SET value = '4' WHERE key = 'schema_version';")
    raw.commit()
    raw.close()
    store = Store(path)
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION) == "8"
    assert [r["status"] for r in store.runs()] == [RUNNING_OWNER_GONE, "finished"]  # an older trainer's run: nobody owns it now
