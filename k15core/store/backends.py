"""The databases the run store lives in, and all that differs between them; every query of the table families is
portable SQLAlchemy Core and runs unchanged on both.

- SQLite (the default): the workspace's k15.db, one file that the trainer, the studio and the tools on one machine
  open at once. WAL journal, a busy timeout on every connection, writers open with BEGIN IMMEDIATE (see base.py).
- PostgreSQL (`--store postgresql://user@host/db`, or $K15_STORE): a server that a team or a cluster shares, through
  the psycopg 3 driver (`pip install 'k15-studio[postgres]'`). The same rules, said in PostgreSQL's terms:
  * writers take one transaction-scoped advisory lock first (`pg_advisory_xact_lock`), as BEGIN IMMEDIATE takes
    SQLite's write lock: writes run one at a time, a read-then-write (an idempotent label write, a run claim) sees
    every write committed before it, and ids (trajectories, label_events.seq) grow in commit order, so a reader
    that polls `label_events(since_seq=...)` can never step past an event that commits later;
  * waiting for that lock is bounded by `lock_timeout` (the busy timeout) and retried with backoff, like SQLITE_BUSY;
  * readers run REPEATABLE READ, read-only: one snapshot per transaction, never blocking a writer, so a reader sees
    whole iterations, as a WAL reader does.
  What PostgreSQL does not have, it does not need: no pragmas, no WAL checkpoint (`checkpoint` is a no-op), no page
  check at open (`check` reads every table instead). A regex filter runs PostgreSQL's own `~` (its POSIX-style
  regular expressions: `\\d`, `\\s`, `\\w`, classes, lookahead work as in Python; `\\b` does not mean a word boundary
  there, `\\y` does) under `statement_timeout` rather than SQLite's REGEXP function under `TimedRegexp`.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event, func, select, table
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, DataError, OperationalError

from k15core.errors import K15Error
from k15core.store import schema as S
from k15core.store.filters import RegexTimeout, TimedRegexp, plain_regexp

QUICK_CHECK_BYTES = 256 * 2**20
"""SQLite stores up to this size get SQLite's quick_check at every open (about a second per 100 MB here); larger ones
are checked in full by `k15 store check`, which a person runs when they choose."""


def store_url(target: str | Path) -> URL:
    """The SQLAlchemy URL of a store: a path is a SQLite file; a URL names its database (`postgresql://` uses psycopg 3).

    >>> store_url("/tmp/ws/k15.db").render_as_string()
    'sqlite:////tmp/ws/k15.db'
    >>> store_url("postgresql://ann:secret@db.lab:5432/k15").render_as_string(hide_password=False)
    'postgresql+psycopg://ann:secret@db.lab:5432/k15'
    """
    text = str(target)
    if "://" not in text:
        return URL.create("sqlite", database=text)
    try:
        url = make_url(text)
    except (ArgumentError, ValueError) as err:
        shown = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", text)
        raise K15Error(f"the run store {shown!r} is not a database URL ({str(err).replace(text, shown)})", "use postgresql://user@host/dbname, or a SQLite file's path") from None
    backend = url.get_backend_name()
    if backend not in BACKENDS:
        raise K15Error(f"the run store {display(url)!r} is a {backend} database; k15 keeps its store in {' or '.join(BACKENDS)}",
                       "use postgresql://user@host/dbname, or a SQLite file's path (the default is k15.db in the workspace)")
    if backend == "postgresql" and url.drivername not in ("postgresql", "postgresql+psycopg"):
        raise K15Error(f"the run store {display(url)!r} names the driver {url.get_driver_name()}; k15 talks to PostgreSQL through psycopg 3",
                       "write the URL as postgresql://user@host/dbname")
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url


def display(url: URL) -> str:
    """How messages name a store: a SQLite file by its path, a server's database by its URL without the password.

    >>> display(store_url("postgresql://ann:secret@db.lab/k15"))
    'postgresql://ann:***@db.lab/k15'
    """
    if url.get_backend_name() == "sqlite":
        return url.database or ""
    return url.set(drivername=url.get_backend_name()).render_as_string(hide_password=True)


def backend_for(url: URL) -> "SQLite | PostgreSQL":
    return BACKENDS[url.get_backend_name()]()


class SQLite:
    name = "sqlite"
    reuses_ids = True
    """A table without AUTOINCREMENT gives a new row max(id) + 1: ids deleted at the top (a resume's rollback) come
    back, and a label that names one would land on another response (the store keeps a floor: runs.py)."""

    def engines(self, url: URL, busy_timeout_s: float) -> tuple[Engine, Engine]:
        """(writer, reader): the writer's transactions open with BEGIN IMMEDIATE."""
        return _sqlite_engine(url, busy_timeout_s, immediate=True), _sqlite_engine(url, busy_timeout_s, immediate=False)

    @staticmethod
    def is_busy(err: OperationalError) -> bool:
        text = str(err.orig).lower()
        return "locked" in text or "busy" in text

    def open_error(self, err: DatabaseError, where: str) -> K15Error:
        """What opening a store that failed with `err` tells the user."""
        text = str(err.orig).lower()
        if isinstance(err, OperationalError) and ("readonly" in text or "read-only" in text or "unable to open database file" in text):
            return K15Error(f"the run store {where!r} cannot be written ({err.orig}): the file or its folder is read-only",
                            "give this user write permission on the workspace folder, or use another --workspace")
        return corrupt(where, str(err.orig))

    def damage_at_open(self, reader: Engine, url: URL) -> list[str]:
        path = Path(url.database)
        return quick_check(reader) if path.exists() and path.stat().st_size <= QUICK_CHECK_BYTES else []

    def check(self, reader: Engine, full: bool) -> list[str]:
        return quick_check(reader, full=full)

    def checkpoint(self, writer: Engine) -> None:
        raw = writer.raw_connection()  # outside any transaction: a checkpoint cannot run inside one
        try:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            raw.close()

    @contextmanager
    def regex_limit(self, conn: Connection, pattern: str, seconds: float | None) -> Iterator[None]:
        """The block's queries run their regex filter under `seconds` (RegexTimeout past them): `TimedRegexp` as the
        connection's REGEXP for the block; the pooled connection gets the plain REGEXP back afterwards."""
        if seconds is None:
            yield
            return
        matcher = TimedRegexp(pattern, seconds)
        raw = conn.connection.driver_connection
        raw.create_function("regexp", 2, matcher)
        try:
            yield
        except OperationalError as err:
            if matcher.timed_out:
                raise RegexTimeout(pattern, seconds) from err
            raise
        finally:
            raw.create_function("regexp", 2, plain_regexp, deterministic=True)


def _sqlite_engine(url: URL, busy_timeout_s: float, immediate: bool) -> Engine:
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


def corrupt(where: str, detail: str) -> K15Error:
    return K15Error(
        f"the run store {where!r} is not a readable k15 database ({detail}); it was left untouched",
        f"move it aside (mv {where} {where}.bad) to start a fresh store, or use another --workspace",
    )


def quick_check(engine: Engine, full: bool = False) -> list[str]:
    """SQLite's own check of every page (`quick_check`, or the slower `integrity_check` with `full`): the problems
    it names, [] for a sound database."""
    try:
        with engine.connect() as conn:
            rows = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check" if full else "PRAGMA quick_check").fetchall()]
    except DatabaseError as err:  # damage bad enough that the check itself cannot read on
        if isinstance(err, OperationalError) and SQLite.is_busy(err):
            raise
        return [str(err.orig)]
    return [] if rows == ["ok"] else rows


WRITE_LOCK = 0x6B31355F73746F72  # "k15_stor": the advisory lock every write transaction takes first (per database)
BUSY_STATES = {"40001", "40P01", "55P03"}
"""Errors after which PostgreSQL has rolled the transaction back and a retry is safe: serialization failure, deadlock,
lock_timeout passed. A lost connection is not among them: its commit may have happened, and a retry could write twice."""
QUERY_CANCELED, INVALID_REGEX = "57014", "2201B"


class PostgreSQL:
    name = "postgresql"
    reuses_ids = False
    """Its identity sequences never hand out an id twice."""

    def engines(self, url: URL, busy_timeout_s: float) -> tuple[Engine, Engine]:
        """(writer, reader): READ COMMITTED writers that take WRITE_LOCK first; REPEATABLE READ read-only readers."""
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise K15Error(f"the run store {display(url)!r} is on PostgreSQL, and its driver (psycopg 3) is not installed",
                           "pip install 'psycopg[binary]' (or the k15-studio[postgres] extra)") from None
        args = {"connect_timeout": 10, "application_name": "k15", "options": f"-c lock_timeout={max(1, int(busy_timeout_s * 1000))}"}
        writer = create_engine(url, pool_pre_ping=True, isolation_level="READ COMMITTED", connect_args=args)

        @event.listens_for(writer, "begin")
        def _on_begin(conn):
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")  # released when the transaction ends

        reader = create_engine(url, pool_pre_ping=True, isolation_level="REPEATABLE READ", connect_args=args)
        return writer, reader.execution_options(postgresql_readonly=True)

    @staticmethod
    def is_busy(err: OperationalError) -> bool:
        return getattr(err.orig, "sqlstate", None) in BUSY_STATES

    def open_error(self, err: DatabaseError, where: str) -> K15Error:
        return K15Error(f"cannot use the run store {where!r}: {str(err.orig).strip()}",
                        "check the URL, that the server runs and the database exists (createdb NAME), and the password "
                        "(PGPASSWORD or ~/.pgpass keep it off the command line)")

    def damage_at_open(self, reader: Engine, url: URL) -> list[str]:
        return []  # the server checks its own pages (data checksums, where the cluster has them on)

    def check(self, reader: Engine, full: bool) -> list[str]:
        """Every table read to its end (what a damaged page would stop): the tables that could not be, [] when sound."""
        problems = []
        for name in (t.name for t in S.metadata.sorted_tables):
            try:
                with reader.connect() as conn:
                    conn.execute(select(func.count()).select_from(table(name))).scalar()
            except DatabaseError as err:
                problems.append(f"{name}: {str(err.orig).strip()}")
        return problems

    def checkpoint(self, writer: Engine) -> None:
        """Nothing to do: the server folds its own write-ahead log."""

    @contextmanager
    def regex_limit(self, conn: Connection, pattern: str, seconds: float | None) -> Iterator[None]:
        """The block's queries under `statement_timeout` (RegexTimeout past it); a pattern PostgreSQL's regular
        expressions cannot read is the user's bad pattern (re.error), as a pattern Python cannot read is."""
        if seconds is not None:  # at least 1 ms: 0 would mean no limit at all
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, int(seconds * 1000))}")
        try:
            yield
        except OperationalError as err:
            if getattr(err.orig, "sqlstate", None) == QUERY_CANCELED and seconds is not None:
                raise RegexTimeout(pattern, seconds) from err
            raise
        except DataError as err:
            if getattr(err.orig, "sqlstate", None) == INVALID_REGEX:
                raise re.error(f"PostgreSQL's regular expressions cannot read it ({str(err.orig).strip()})") from None
            raise


BACKENDS = {"sqlite": SQLite, "postgresql": PostgreSQL}
