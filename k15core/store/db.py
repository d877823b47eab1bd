"""`Store`: the only code that reads or writes the run store.

SQLite rules (see shared/design/studio-ux.md §5): WAL journal, a busy timeout on every connection,
writers open transactions with BEGIN IMMEDIATE (a deferred transaction that reads then writes can
fail at once with SQLITE_BUSY), one short transaction per iteration, and retry with backoff around
every transaction so that a trainer never dies because the studio holds a lock. Readers use plain
(deferred) transactions: in WAL mode they see a consistent snapshot and never block the writer, so a
reader only ever sees whole iterations.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

import numpy as np
from sqlalchemy import create_engine, event, func, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DatabaseError, OperationalError

from k15core.errors import K15Error
from k15core.store import schema as S
from k15core.types import TrajectoryRecord

T = TypeVar("T")


def encode_ints(values: Iterable[int]) -> bytes:
    return np.asarray(list(values), dtype="<i4").tobytes()


def encode_floats(values: Iterable[float]) -> bytes:
    return np.asarray(list(values), dtype="<f4").tobytes()


def decode_ints(blob: bytes) -> list[int]:
    return np.frombuffer(blob, dtype="<i4").tolist()


def decode_floats(blob: bytes) -> list[float]:
    return np.frombuffer(blob, dtype="<f4").tolist()


def _corrupt(path: Path, detail: str) -> K15Error:
    return K15Error(
        f"the run store {str(path)!r} is not a readable k15 database ({detail}); it was left untouched",
        f"move it aside (mv {path} {path}.bad) to start a fresh store, or use another --workspace",
    )


def _is_busy(err: OperationalError) -> bool:
    text = str(err.orig).lower()
    return "locked" in text or "busy" in text


def _make_engine(url: str, busy_timeout_s: float, immediate: bool) -> Engine:
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # autocommit at the driver level: we emit BEGIN ourselves (SQLAlchemy's pysqlite recipe)
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Store:
    """The run store of one workspace. Safe to open from several processes at once."""

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 5.0, retries: int = 8):
        self.path = Path(path)
        self.retries = retries
        if self.path.is_dir():
            raise K15Error(f"the run store path {str(self.path)!r} is a directory", "point --workspace at a folder; the store is k15.db inside it")
        # No peeking at the file with open()/close() here: closing any descriptor of a database file
        # drops every POSIX lock this process holds on it, so a second Store in a process (the
        # studio, a test) would silently lose its connections' locks and read a half-written WAL
        # ("database disk image is malformed"). SQLite itself reports a file that is not a database.
        url = f"sqlite:///{self.path}"
        self._writer = _make_engine(url, busy_timeout_s, immediate=True)
        self._reader = _make_engine(url, busy_timeout_s, immediate=False)
        try:
            self._write(self._init_schema)
        except DatabaseError as err:
            if isinstance(err, OperationalError) and _is_busy(err):
                raise
            raise _corrupt(self.path, str(err.orig)) from err

    # -- plumbing --------------------------------------------------------------------------------
    def _retry(self, engine: Engine, fn: Callable[[Connection], T]) -> T:
        delay = 0.05
        for attempt in range(self.retries + 1):
            try:
                with engine.begin() as conn:
                    return fn(conn)
            except OperationalError as err:
                if not _is_busy(err) or attempt == self.retries:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")

    def _write(self, fn: Callable[[Connection], T]) -> T:
        return self._retry(self._writer, fn)

    def _read(self, fn: Callable[[Connection], T]) -> T:
        return self._retry(self._reader, fn)

    def _init_schema(self, conn: Connection) -> None:
        S.metadata.create_all(conn)
        found = conn.execute(select(S.meta.c.value).where(S.meta.c.key == "schema_version")).scalar()
        if found is None:
            conn.execute(S.meta.insert().values(key="schema_version", value=str(S.SCHEMA_VERSION)))
        elif int(found) != S.SCHEMA_VERSION:
            raise K15Error(
                f"the run store {str(self.path)!r} has schema version {found}; this k15 reads version {S.SCHEMA_VERSION}",
                "use the k15 version that wrote it, or start a fresh workspace",
            )

    def close(self) -> None:
        self._writer.dispose()
        self._reader.dispose()

    def checkpoint(self) -> None:
        """Fold the WAL back into the database (call at iteration boundaries to keep the WAL small)."""
        raw = self._writer.raw_connection()  # outside any transaction: a checkpoint cannot run inside one
        try:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            raw.close()

    # -- runs ------------------------------------------------------------------------------------
    def create_run(self, name: str, kind: str, config: dict[str, Any]) -> int:
        now = time.time()
        row = dict(name=name, kind=kind, config=json.dumps(config, sort_keys=True), status="running", created_at=now, updated_at=now)
        return self._write(lambda c: c.execute(S.runs.insert().values(**row)).inserted_primary_key[0])

    def set_run_status(self, run_id: int, status: str) -> None:
        now = time.time()
        values = dict(status=status, updated_at=now, finished_at=now if status != "running" else None)
        self._write(lambda c: c.execute(update(S.runs).where(S.runs.c.id == run_id).values(**values)))

    def runs(self, kind: str | None = None) -> list[dict]:
        q = select(S.runs).order_by(S.runs.c.id)
        if kind is not None:
            q = q.where(S.runs.c.kind == kind)
        rows = self._read(lambda c: c.execute(q).mappings().all())
        return [{**r, "config": json.loads(r["config"])} for r in rows]

    def run(self, run_id: int) -> dict | None:
        found = [r for r in self.runs() if r["id"] == run_id]
        return found[0] if found else None

    # -- metrics and trajectories ----------------------------------------------------------------
    def record_iteration(self, run_id: int, iteration: int, metrics: dict[str, float], trajectories: list[TrajectoryRecord] = ()) -> None:
        """Write one iteration's metrics and trajectories in one transaction: readers see all of it or none."""
        metric_rows = [dict(run_id=run_id, iteration=iteration, name=k, value=float(v)) for k, v in metrics.items()]
        traj_rows = [self._trajectory_row(run_id, iteration, t) for t in trajectories]
        now = time.time()

        def write(conn: Connection) -> None:
            if metric_rows:
                conn.execute(S.metrics.insert(), metric_rows)
            if traj_rows:
                conn.execute(S.trajectories.insert(), traj_rows)
            conn.execute(update(S.runs).where(S.runs.c.id == run_id).values(updated_at=now))

        self._write(write)

    log_metrics = record_iteration

    @staticmethod
    def _trajectory_row(run_id: int, iteration: int, t: TrajectoryRecord) -> dict:
        return dict(
            run_id=run_id, iteration=iteration, prompt_id=t.prompt_id, sample_index=t.sample_index,
            prompt=t.prompt, response=t.response, token_ids=encode_ints(t.token_ids), logprobs=encode_floats(t.logprobs),
            reward=float(t.reward), reward_parts=json.dumps(t.reward_parts), correct=float(t.correct), length=int(t.length),
            finished=bool(t.finished), truncated=bool(t.truncated), repeated=bool(t.repeated), segments=int(t.segments),
            difficulty=int(t.difficulty), tag=t.tag,
        )

    def metrics(self, run_id: int, since_iteration: int = -(2**31), names: list[str] | None = None) -> list[dict]:
        """Metric rows (iteration, name, value) with iteration > since_iteration, oldest first."""
        q = (
            select(S.metrics.c.iteration, S.metrics.c.name, S.metrics.c.value)
            .where(S.metrics.c.run_id == run_id, S.metrics.c.iteration > since_iteration)
            .order_by(S.metrics.c.iteration, S.metrics.c.id)
        )
        if names is not None:
            q = q.where(S.metrics.c.name.in_(names))
        return [dict(r) for r in self._read(lambda c: c.execute(q).mappings().all())]

    def last_iteration(self, run_id: int) -> int | None:
        q = select(func.max(S.metrics.c.iteration)).where(S.metrics.c.run_id == run_id)
        return self._read(lambda c: c.execute(q).scalar())

    def trajectories(self, run_id: int, iteration: int | None = None, tag: str | None = None, limit: int | None = None) -> list[TrajectoryRecord]:
        q = select(S.trajectories).where(S.trajectories.c.run_id == run_id).order_by(S.trajectories.c.id)
        if iteration is not None:
            q = q.where(S.trajectories.c.iteration == iteration)
        if tag is not None:
            q = q.where(S.trajectories.c.tag == tag)
        if limit is not None:
            q = q.limit(limit)
        rows = self._read(lambda c: c.execute(q).mappings().all())
        return [
            TrajectoryRecord(
                prompt_id=r["prompt_id"], sample_index=r["sample_index"], prompt=r["prompt"], response=r["response"],
                token_ids=decode_ints(r["token_ids"]), logprobs=decode_floats(r["logprobs"]), reward=r["reward"],
                correct=r["correct"], length=r["length"], reward_parts=json.loads(r["reward_parts"]), finished=r["finished"],
                truncated=r["truncated"], repeated=r["repeated"], segments=r["segments"], difficulty=r["difficulty"], tag=r["tag"],
            )
            for r in rows
        ]

    def count_trajectories(self, run_id: int, iteration: int | None = None) -> int:
        q = select(func.count()).select_from(S.trajectories).where(S.trajectories.c.run_id == run_id)
        if iteration is not None:
            q = q.where(S.trajectories.c.iteration == iteration)
        return self._read(lambda c: c.execute(q).scalar())

    # -- prompts and labels ----------------------------------------------------------------------
    def add_prompts(self, problems: list, source: str) -> int:
        """Insert problems (objects with id, prompt, reference, task, difficulty); existing ids are kept as they are.

        Returns the number of new prompts. All rows go in one transaction: a failure adds none.
        """
        now = time.time()
        rows = [
            dict(id=p.id, text=p.prompt, reference=p.reference, task=p.task, difficulty=int(p.difficulty), source=source, created_at=now)
            for p in problems
        ]

        def write(conn: Connection) -> int:
            existing = set(conn.execute(select(S.prompts.c.id).where(S.prompts.c.id.in_([r["id"] for r in rows]))).scalars())
            new = [r for r in rows if r["id"] not in existing]
            if new:
                conn.execute(S.prompts.insert(), new)
            return len(new)

        return self._write(write) if rows else 0

    def prompts(self) -> list[dict]:
        return [dict(r) for r in self._read(lambda c: c.execute(select(S.prompts).order_by(S.prompts.c.id)).mappings().all())]

    def add_label_event(self, prompt_id: str, field: str, value: Any, author: str, source: str) -> int:
        row = dict(prompt_id=prompt_id, field=field, value=json.dumps(value), author=author, source=source, created_at=time.time())
        return self._write(lambda c: c.execute(S.label_events.insert().values(**row)).inserted_primary_key[0])

    def label_events(self, since_seq: int = 0) -> list[dict]:
        q = select(S.label_events).where(S.label_events.c.seq > since_seq).order_by(S.label_events.c.seq)
        return [{**r, "value": json.loads(r["value"])} for r in self._read(lambda c: c.execute(q).mappings().all())]


def open_store(path: str | Path, **kwargs) -> Store:
    return Store(path, **kwargs)
