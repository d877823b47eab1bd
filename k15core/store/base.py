"""`StoreBase`: opening the run store and running transactions on it, for every table family.

The rules (see shared/design/studio-ux.md §5), on SQLite: WAL journal, a busy timeout on every connection, writers
open transactions with BEGIN IMMEDIATE (a deferred transaction that reads then writes can fail at once with
SQLITE_BUSY), one short transaction per iteration, and retry with backoff around every transaction so that a trainer
never dies because the studio holds a lock. Readers use plain (deferred) transactions: in WAL mode they see a
consistent snapshot and never block the writer, so a reader only ever sees whole iterations. On PostgreSQL the same
rules hold through a write lock and snapshot readers (backends.py says how).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, TypeVar

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DatabaseError, OperationalError

from k15core.errors import K15Error
from k15core.store import schema as S
from k15core.store.backends import backend_for, corrupt, display, store_url

T = TypeVar("T")


class StoreBase:
    """One workspace's database: a writer and a reader engine, the schema brought up to date on open.

    Safe to open from several processes at once. The table families (runs, trajectories, labels) add
    their queries on top of `_read` and `_write`, so every query runs inside the retry and locking rules.
    """

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 5.0, retries: int = 8):
        """`path`: a SQLite file, or a database URL (sqlite:///FILE, postgresql://user@host/dbname)."""
        self.url = store_url(path)
        self.backend = backend_for(self.url)
        self.location = display(self.url)
        """The store as messages name it: the file's path, or the URL without its password."""
        self.path = Path(self.url.database) if self.backend.name == "sqlite" else None
        self.retries = retries
        if self.path is not None and self.path.is_dir():
            raise K15Error(f"the run store path {str(self.path)!r} is a directory", "point --workspace at a folder; the store is k15.db inside it")
        # No peeking at the file with open()/close() here: closing any descriptor of a database file
        # drops every POSIX lock this process holds on it, so a second Store in a process (the
        # studio, a test) would silently lose its connections' locks and read a half-written WAL
        # ("database disk image is malformed"). SQLite itself reports a file that is not a database.
        self._writer, self._reader = self.backend.engines(self.url, busy_timeout_s)
        try:
            self._write(self._init_schema)
        except DatabaseError as err:
            if isinstance(err, OperationalError) and self.backend.is_busy(err):
                raise
            raise self.backend.open_error(err, self.location) from err
        damage = self.backend.damage_at_open(self._reader, self.url)
        if damage:
            raise corrupt(self.location, "damaged pages: " + "; ".join(damage[:3]))

    def _retry(self, engine: Engine, fn: Callable[[Connection], T]) -> T:
        delay = 0.05
        for attempt in range(self.retries + 1):
            try:
                with engine.begin() as conn:
                    return fn(conn)
            except OperationalError as err:
                if not self.backend.is_busy(err) or attempt == self.retries:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")

    def _write(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn` in one write transaction (BEGIN IMMEDIATE; PostgreSQL: the write lock), retried while another writer holds the lock."""
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
                f"the run store {self.location!r} has schema version {found}; this k15 reads version {S.SCHEMA_VERSION}",
                "use the k15 version that wrote it, or start a fresh workspace",
            )

    def check(self, full: bool = True) -> list[str]:
        """Every problem found in the database ([] when sound): `k15 store check`. SQLite checks its pages and indexes;
        on PostgreSQL every table is read to its end."""
        return self.backend.check(self._reader, full=full)

    def close(self) -> None:
        self._writer.dispose()
        self._reader.dispose()

    def checkpoint(self) -> None:
        """Fold SQLite's WAL back into the database (call at iteration boundaries to keep the WAL small); no-op on PostgreSQL."""
        self.backend.checkpoint(self._writer)
