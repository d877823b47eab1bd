"""One process trains a run: its owner (pid, host, process start time, heartbeat) is a row of the store's
`run_owners` table, written when the run is created or resumed and deleted when the process lets go of it.

Chosen: the store, not a lock file. The studio and `k15 train --resume` read the store already, so both can tell a
run that is training from one whose trainer was killed (SIGKILL, a crash, a lost machine) and left it 'running':
that run reads as RUNNING_OWNER_GONE (`is_gone`), and a resume may take it over. Claiming is one write
transaction (BEGIN IMMEDIATE; on PostgreSQL the store's write lock: `OwnersMixin.claim_run`), so of two resumes one wins
and the other writes nothing.

An owner on this host is gone when its pid is not alive, is a zombie, or is another process by now (the start time
differs: the pid was reused). An owner on another host is gone when its heartbeat (every HEARTBEAT_S) is older than
STALE_S: the pid is all this host can check. A SQLite store's writers share one host (WAL mode needs it); a PostgreSQL
store's trainers may run on many, and the heartbeat is what tells their runs apart.
"""
from __future__ import annotations

import functools
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Mapping

from k15core.errors import K15Error

HEARTBEAT_S = 30.0
STALE_S = 300.0
RUNNING_OWNER_GONE = "running (owner gone)"
"""How a run reads whose status is 'running' while no live process owns it (`OwnersMixin.runs`)."""


@dataclass(frozen=True)
class Owner:
    """A process, as the store records it: pid, host, and its start time as the OS counts it (None where unknown)."""

    pid: int
    host: str
    start: str | None

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host}"


def this_process() -> Owner:
    return _owner(os.getpid())  # by pid: a forked child is another owner


@functools.lru_cache(maxsize=4)
def _owner(pid: int) -> Owner:
    return Owner(pid, socket.gethostname(), _proc_stat(pid)[1])


def _proc_stat(pid: int) -> tuple[str | None, str | None]:
    """(state, start time in clock ticks since boot) from /proc/<pid>/stat; (None, None) without one (not Linux, no such pid)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces and parentheses
    except (OSError, IndexError):
        return None, None
    return fields[0], fields[19]


def _pid_alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: alive
    state, started = _proc_stat(pid)
    if state in ("Z", "X"):  # killed, not yet reaped by its parent
        return False
    return start is None or started is None or started == start


def is_gone(owner: Mapping[str, Any], now: float | None = None) -> bool:
    """Whether the process of a `run_owners` row (pid, host, start, heartbeat_at) no longer runs."""
    if owner["host"] == socket.gethostname():
        return not _pid_alive(int(owner["pid"]), owner["start"])
    return (time.time() if now is None else now) - float(owner["heartbeat_at"]) > STALE_S


def describe(owner: Mapping[str, Any]) -> str:
    return f"pid {owner['pid']} on {owner['host']}"


class RunLock:
    """This process's ownership of one run, its heartbeat kept by a daemon thread until `release` (or until the
    row is no longer this process's: the run was finished, stopped, or taken over)."""

    def __init__(self, store: Any, run_id: int, owner: Owner | None = None):
        """For a run the store already records as this process's (`create_run` does, `claim` below)."""
        self.store, self.run_id, self.owner = store, run_id, owner or this_process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"k15-run-{run_id}-heartbeat", daemon=True)
        self._thread.start()

    @classmethod
    def claim(cls, store: Any, run_id: int) -> tuple["RunLock", dict | None]:
        """Take the run for this process: refused with a K15Error (nothing written) while a live process owns it.
        Returns the lock and the row of the gone owner it replaced (None if the run had no owner)."""
        taken, previous = store.claim_run(run_id, this_process())
        if not taken:
            age = time.time() - previous["heartbeat_at"]
            raise K15Error(
                f"run {run_id} is being trained by {describe(previous)} (since {time.strftime('%H:%M:%S', time.localtime(previous['since']))}, "
                f"heartbeat {age:.0f} s ago); two trainers on one run would both write it",
                f"let it finish, or stop it first (kill -TERM {previous['pid']}, or the studio's Launch tab), then k15 train --resume",
            )
        return cls(store, run_id), previous

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                if not self.store.heartbeat_run(self.run_id, self.owner):
                    return  # not ours any more
            except Exception:  # noqa: BLE001 - a busy or closed store: the next beat tries again; the trainer must not die of it
                continue

    def release(self) -> None:
        """Let go of the run (idempotent): no owner row any more, so a resume may claim it at once."""
        self._stop.set()
        self.store.release_run(self.run_id, self.owner)
