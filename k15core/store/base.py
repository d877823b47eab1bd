"""`StoreBase`: opening the run store and running transactions on it, for every table family.

SQLite rules (see shared/design/studio-ux.md §5): WAL journal, a busy timeout on every connection,
writers open transactions with BEGIN IMMEDIATE (a deferred transaction that reads then writes can
fail at once with SQLITE_BUSY), one short transaction per iteration, and retry with backoff around
every transaction so that a trainer never dies because the studio holds a lock. Readers use plain
(deferred) transactions: in WAL mode they see a consistent snapshot and never block the writer, so a
reader only ever sees whole iterations.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, TypeVar

from sqlalchemy import create_engine, event, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DatabaseError, OperationalError

from k15core.errors import K15Error
from k15core.store import schema as S

T = TypeVar("T")


def _corrupt(path: Path, detail: str) -> K15Error:
    return K15Error(
        f"the run store {str(path)!r} is not a readable k15 database ({detail}); it was left untouched",
        f"move it aside (mv {path} {path}.bad) to start a fresh store, or use another --workspace",
    )


QUICK_CHECK_BYTES = 256 * 2**20
"""Stores up to this size get SQLite's quick_check at every open (about a second per 100 MB here); larger ones are
checked in full by `k15 store check`, which a person runs when they choose."""


def quick_check(engine: Engine, full: bool = False) -> list[str]:
    """SQLite's own check of every page (`quick_check`, or the slower `integrity_check` with `full`): the problems
    it names, [] for a sound database."""
    try:
        with engine.connect() as conn:
            rows = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check" if full else "PRAGMA quick_check").fetchall()]
    except DatabaseError as err:  # damage bad enough that the check itself cannot read on
        if isinstance(err, OperationalError) and _is_busy(err):
            raise
        return [str(err.orig)]
    return [] if rows == ["ok"] else rows


def _is_unwritable(err: OperationalError) -> bool:
    text = str(err.orig).lower()
    return "readonly" in text or "read-only" in text or "unable to open database file" in text


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


class StoreBase:
    """One workspace's database: a writer and a reader engine, the schema brought up to date on open.

    Safe to open from several processes at once. The table families (runs, trajectories, labels) add
    their queries on top of `_read` and `_write`, so every query runs inside the retry and locking rules.
    """

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
            if isinstance(err, OperationalError) and _is_unwritable(err):
                raise K15Error(f"the run store {str(self.path)!r} cannot be written ({err.orig}): the file or its folder is read-only",
                               "give this user write permission on the workspace folder, or use another --workspace") from err
            raise _corrupt(self.path, str(err.orig)) from err
        damage = quick_check(self._reader) if self.path.exists() and self.path.stat().st_size <= QUICK_CHECK_BYTES else []
        if damage:
            raise _corrupt(self.path, "damaged pages: " + "; ".join(damage[:3]))

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
        """Run `fn` in one write transaction (BEGIN IMMEDIATE), retried while another writer holds the lock."""
        return self._retry(self._writer, fn)

    def _read(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn` in one read transaction: a consistent snapshot that never blocks the writer."""
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

    def check(self, full: bool = True) -> list[str]:
        """Every problem SQLite finds in the database's pages and indexes ([] when sound): `k15 store check`."""
        return quick_check(self._reader, full=full)

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
