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
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

import numpy as np
from sqlalchemy import create_engine, event, func, or_, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DatabaseError, OperationalError

from k15core import labels
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
            return
        version = int(found)
        while version < S.SCHEMA_VERSION and version in S.MIGRATIONS:  # an older store: upgrade it in place
            for statement in S.MIGRATIONS[version]:
                conn.exec_driver_sql(statement)
            version += 1
            conn.execute(update(S.meta).where(S.meta.c.key == "schema_version").values(value=str(version)))
        if version != S.SCHEMA_VERSION:
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
            entropies=encode_floats(t.entropies) if t.entropies else None,
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
                entropies=decode_floats(r["entropies"]) if r["entropies"] else [],
            )
            for r in rows
        ]

    def count_trajectories(self, run_id: int, iteration: int | None = None) -> int:
        q = select(func.count()).select_from(S.trajectories).where(S.trajectories.c.run_id == run_id)
        if iteration is not None:
            q = q.where(S.trajectories.c.iteration == iteration)
        return self._read(lambda c: c.execute(q).scalar())

    # -- inspection queries (the studio's Rollouts tab) -------------------------------------------
    def where(self, f: TrajectoryFilter) -> list:
        """The filter's conditions, plus, for an iteration range within one run, the id bounds of that range.

        Every row of iterations [a, b] has an id between the smallest and the largest id recorded at those
        iterations. Ids grow with iterations (a resumed run records a few again, later: still exact, a little
        less tight), so the query walks the (run_id, id) index newest first inside the bounds and stops at its
        limit. Without them SQLite takes the (run_id, iteration) index and sorts every row of the range by id
        first: 3.7 s for a regex over half of a 1M-trajectory store (benchmarks/studio_queries.py). The bounds
        come from a skip-scan of that index, a few seeks per iteration in the range, not a scan of its rows."""
        out = f.conditions()
        if f.run_id is None or (f.iteration_min is None and f.iteration_max is None):
            return out
        lo = -(2**62) if f.iteration_min is None else f.iteration_min
        hi = 2**62 if f.iteration_max is None else f.iteration_max
        low, high = self._read(lambda c: c.execute(_ID_BOUNDS, {"run": f.run_id, "lo": lo, "hi": hi}).one())
        if low is None:  # no row in the range
            return [*out, S.trajectories.c.id < 0]
        return [*out, S.trajectories.c.id.between(low, high)]

    def find_trajectories(self, f: TrajectoryFilter, limit: int = 200) -> list[dict]:
        """Trajectories matching a filter, newest first, without their token arrays (a table's worth).

        Each row: id, run_id, iteration, prompt_id, sample_index, tag, reward, correct, length,
        truncated, repeated, difficulty, and `preview` (the first 160 characters of the response).
        """
        T = S.trajectories
        q = select(
            T.c.id, T.c.run_id, T.c.iteration, T.c.prompt_id, T.c.sample_index, T.c.tag, T.c.reward, T.c.correct, T.c.length,
            T.c.truncated, T.c.repeated, T.c.difficulty, func.substr(T.c.response, 1, 160).label("preview"),
        ).where(*self.where(f)).order_by(T.c.id.desc()).limit(limit)
        return [dict(r) for r in self._read(lambda c: c.execute(q).mappings().all())]

    def count_matching(self, f: TrajectoryFilter, cap: int | None = None) -> int:
        """How many trajectories match; with `cap`, counting stops at cap + 1 (a big store need not be scanned to the end)."""
        if cap is None:
            q = select(func.count()).select_from(S.trajectories).where(*self.where(f))
        else:
            inner = select(S.trajectories.c.id).where(*self.where(f)).order_by(S.trajectories.c.id.desc()).limit(cap + 1).subquery()
            q = select(func.count()).select_from(inner)
        return self._read(lambda c: c.execute(q).scalar())

    def trajectory_group(self, trajectory_id: int) -> list[dict]:
        """Every sample of the group a trajectory belongs to (same run, iteration, group tag and prompt), with tokens."""
        T = S.trajectories
        one = self._read(lambda c: c.execute(select(T).where(T.c.id == trajectory_id)).mappings().first())
        if one is None:
            return []
        q = select(T).where(T.c.run_id == one["run_id"], T.c.iteration == one["iteration"], T.c.tag == one["tag"], T.c.prompt_id == one["prompt_id"])
        rows = self._read(lambda c: c.execute(q.order_by(T.c.sample_index, T.c.id)).mappings().all())
        return [_full_trajectory(r) for r in rows]

    def prompt_over_iterations(self, run_id: int, prompt_id: str) -> list[dict]:
        """One row per iteration a prompt was trained in: samples, accuracy, mean reward and length, one response."""
        T = S.trajectories
        q = (
            select(T.c.iteration, func.count().label("samples"), func.avg(T.c.correct).label("accuracy"), func.avg(T.c.reward).label("reward"),
                   func.avg(T.c.length).label("len_mean"), func.min(T.c.id).label("first_id"))
            .where(T.c.run_id == run_id, T.c.prompt_id == prompt_id).group_by(T.c.iteration).order_by(T.c.iteration)
        )
        return [dict(r) for r in self._read(lambda c: c.execute(q).mappings().all())]

    def group_stats(self, run_id: int) -> list[dict]:
        """Per group (iteration, tag, prompt): size, distinct responses, min/max reward, accuracy and lengths. For the suspicion queue."""
        T = S.trajectories
        q = (
            select(T.c.iteration, T.c.tag, T.c.prompt_id, T.c.difficulty, func.count().label("k"), func.count(T.c.response.distinct()).label("distinct"),
                   func.min(T.c.reward).label("reward_min"), func.max(T.c.reward).label("reward_max"), func.min(T.c.id).label("first_id"))
            .where(T.c.run_id == run_id, T.c.tag.like("group:%")).group_by(T.c.iteration, T.c.tag, T.c.prompt_id, T.c.difficulty)
        )
        return [dict(r) for r in self._read(lambda c: c.execute(q).mappings().all())]

    def correct_lengths(self, run_id: int) -> list[dict]:
        """id, difficulty, length, reward of every correct RL response of a run (for length outliers)."""
        T = S.trajectories
        q = select(T.c.id, T.c.iteration, T.c.prompt_id, T.c.difficulty, T.c.length, T.c.reward).where(
            T.c.run_id == run_id, T.c.correct > 0, T.c.tag.like("group:%"))
        return [dict(r) for r in self._read(lambda c: c.execute(q).mappings().all())]

    def prompt_stats(self) -> dict[str, dict]:
        """Per prompt id: RL samples drawn and their success rate (over every run)."""
        T = S.trajectories
        q = select(T.c.prompt_id, func.count().label("samples"), func.avg(T.c.correct).label("success")).where(T.c.tag.like("group:%")).group_by(T.c.prompt_id)
        return {r["prompt_id"]: dict(r) for r in self._read(lambda c: c.execute(q).mappings().all())}

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

    def prompt(self, prompt_id: str) -> dict | None:
        row = self._read(lambda c: c.execute(select(S.prompts).where(S.prompts.c.id == prompt_id)).mappings().first())
        return dict(row) if row else None

    def prompts(self) -> list[dict]:
        return [dict(r) for r in self._read(lambda c: c.execute(select(S.prompts).order_by(S.prompts.c.id)).mappings().all())]

    def add_label_event(self, prompt_id: str, field: str, value: Any, author: str, source: str) -> int:
        """Append one raw label event (no check, no de-duplication). Tools should prefer `set_label`."""
        row = dict(prompt_id=prompt_id, field=field, value=json.dumps(value), author=author, source=source, created_at=time.time(), action=_new_action())
        return self._write(lambda c: c.execute(S.label_events.insert().values(**row)).inserted_primary_key[0])

    def set_label(self, prompt_ids: str | list[str], field: str, value: Any, author: str, source: str) -> LabelWrite:
        """Give one label to one or many prompts as one user action; idempotent.

        Only prompts whose recorded value differs get an event, so a UI event that fires twice writes
        one row, and a bulk action over a filter writes rows for the prompts it changes. All rows go in
        one transaction and share one action id (undo takes the whole action back). ValueError for a
        label that does not validate (nothing is written).
        """
        ids = [prompt_ids] if isinstance(prompt_ids, str) else list(dict.fromkeys(prompt_ids))
        field, value = labels.normalise(field, value)
        action = _new_action()

        def write(conn: Connection) -> int:
            recorded = labels.last_values(self._events_of(conn, ids))
            now = time.time()
            rows = [
                dict(prompt_id=pid, field=field, value=json.dumps(value), author=author, source=source, created_at=now, action=action)
                for pid in ids
                if recorded.get((pid, field)) != value
            ]
            if rows:
                conn.execute(S.label_events.insert(), rows)
            return len(rows)

        written = self._write(write) if ids else 0
        return LabelWrite(action=action if written else None, events=written)

    def undo(self, author: str, action: str | None = None) -> LabelWrite:
        """Take back `author`'s newest action that is not undone yet (or exactly `action`, if still undone-able).

        Writes, for every event of that action, an event restoring the value the field had before it;
        the new events record the action they undo. Undoing an action twice does nothing the second
        time, so a double-fired Undo button cannot take back two actions.
        """
        E = S.label_events

        def write(conn: Connection) -> LabelWrite:
            undone = set(conn.execute(select(E.c.undoes).where(E.c.undoes.is_not(None))).scalars())
            if action is None:
                q = select(E.c.action).where(E.c.author == author, E.c.undoes.is_(None)).order_by(E.c.seq.desc())
                target = next((a for a in conn.execute(q).scalars() if a not in undone), None)
            else:
                target = action if action not in undone else None
            if target is None:
                return LabelWrite(action=None, events=0, undid=None)
            events = conn.execute(select(E).where(E.c.action == target).order_by(E.c.seq)).mappings().all()
            if not events:
                return LabelWrite(action=None, events=0, undid=None)
            new_action, now, rows = _new_action(), time.time(), []
            for ev in events:
                before = conn.execute(select(E).where(E.c.prompt_id == ev["prompt_id"], E.c.seq < ev["seq"]).order_by(E.c.seq)).mappings().all()
                state = labels.fold({**b, "value": json.loads(b["value"])} for b in before).get(ev["prompt_id"], labels.DEFAULT)
                field, _ = labels.normalise(ev["field"], None)
                rows.append(dict(prompt_id=ev["prompt_id"], field=field, value=json.dumps(labels.value_of(state, field)), author=author,
                                 source=ev["source"], created_at=now, action=new_action, undoes=target))
            conn.execute(E.insert(), rows)
            return LabelWrite(action=new_action, events=len(rows), undid=target)

        return self._write(write)

    @staticmethod
    def _events_of(conn: Connection, prompt_ids: list[str]) -> list[dict]:
        rows: list[dict] = []
        for i in range(0, len(prompt_ids), 500):  # stay under SQLite's bound-parameter limit
            q = select(S.label_events).where(S.label_events.c.prompt_id.in_(prompt_ids[i:i + 500]))
            rows += [{**r, "value": json.loads(r["value"])} for r in conn.execute(q).mappings()]
        return sorted(rows, key=lambda r: r["seq"])

    def label_events(self, since_seq: int = 0, prompt_ids: list[str] | None = None) -> list[dict]:
        """Label events with seq > since_seq (of these prompts, if given), oldest first."""
        if prompt_ids is not None:
            return [r for r in self._read(lambda c: self._events_of(c, list(prompt_ids))) if r["seq"] > since_seq]
        q = select(S.label_events).where(S.label_events.c.seq > since_seq).order_by(S.label_events.c.seq)
        return [{**r, "value": json.loads(r["value"])} for r in self._read(lambda c: c.execute(q).mappings().all())]

    def prompt_labels(self, prompt_ids: list[str] | None = None) -> dict[str, labels.PromptLabels]:
        """Current labels of the prompts that have any (all of them, or these)."""
        return labels.fold(self.label_events(prompt_ids=prompt_ids))


@dataclass(frozen=True)
class TrajectoryFilter:
    """What the Rollouts tab filters on. None means "any"."""

    run_id: int | None = None
    iteration_min: int | None = None
    iteration_max: int | None = None
    prompt_id: str | None = None
    text: str | None = None
    """Matched against prompt and response: a substring, or a regular expression when `regex`."""
    regex: bool = False
    correct: bool | None = None
    length_min: int | None = None
    length_max: int | None = None
    truncated: bool | None = None
    repeated: bool | None = None
    tag: str | None = None
    """'rl' for training samples, an evaluation style ('free', 'long', ...) or an exact tag."""

    def conditions(self) -> list:
        T = S.trajectories
        out = []
        if self.run_id is not None:
            out.append(T.c.run_id == self.run_id)
        # `+ 0`: the planner stays off the (run_id, iteration) index; Store.where walks the (run_id, id) index
        # inside id bounds instead, newest first, and stops at its limit
        if self.iteration_min is not None:
            out.append(T.c.iteration + 0 >= self.iteration_min)
        if self.iteration_max is not None:
            out.append(T.c.iteration + 0 <= self.iteration_max)
        if self.prompt_id:
            out.append(T.c.prompt_id == self.prompt_id)
        if self.text:
            if self.regex:
                re.compile(self.text)  # a bad pattern is the user's error, said before SQL sees it
                out.append(or_(T.c.response.regexp_match(self.text), T.c.prompt.regexp_match(self.text)))
            else:
                needle = "%" + self.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                out.append(or_(T.c.response.like(needle, escape="\\"), T.c.prompt.like(needle, escape="\\")))
        if self.correct is not None:
            out.append(T.c.correct > 0 if self.correct else T.c.correct <= 0)
        if self.length_min is not None:
            out.append(T.c.length >= self.length_min)
        if self.length_max is not None:
            out.append(T.c.length <= self.length_max)
        if self.truncated is not None:
            out.append(T.c.truncated == self.truncated)
        if self.repeated is not None:
            out.append(T.c.repeated == self.repeated)
        if self.tag:
            out.append(T.c.tag.like("group:%") if self.tag == "rl" else T.c.tag == self.tag)
        return out


# The smallest and largest trajectory id at the iterations [lo, hi] of one run: a recursive walk from one
# recorded iteration to the next through the (run_id, iteration) index, two seeks per iteration.
_ID_BOUNDS = text("""
WITH RECURSIVE its(i) AS (
    SELECT min(iteration) FROM trajectories WHERE run_id = :run AND iteration >= :lo
    UNION ALL
    SELECT (SELECT min(iteration) FROM trajectories WHERE run_id = :run AND iteration > its.i) FROM its WHERE its.i < :hi
)
SELECT min((SELECT min(id) FROM trajectories WHERE run_id = :run AND iteration = its.i)),
       max((SELECT max(id) FROM trajectories WHERE run_id = :run AND iteration = its.i))
FROM its WHERE its.i <= :hi
""")


def _full_trajectory(r) -> dict:
    return {**r, "token_ids": decode_ints(r["token_ids"]), "logprobs": decode_floats(r["logprobs"]), "reward_parts": json.loads(r["reward_parts"]),
            "entropies": decode_floats(r["entropies"]) if r["entropies"] else []}


@dataclass(frozen=True)
class LabelWrite:
    """What a label write did: the action id of the rows it wrote (None: nothing changed) and how many."""

    action: str | None
    events: int
    undid: str | None = None
    """For an undo: the action it took back."""


def _new_action() -> str:
    return uuid.uuid4().hex[:16]
