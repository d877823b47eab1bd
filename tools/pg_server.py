"""A throwaway PostgreSQL server in a temporary folder: the run store's tests start one per test run (tests/conftest.py),
and a person can start one to try a shared store:

    python tools/pg_server.py            # prints a store URL, serves until Ctrl-C, then removes the folder
    k15 demo --store '<that URL>'        # in another terminal; k15 studio --store '<that URL>' beside it

It uses Debian's binaries (/usr/lib/postgresql/<version>/bin; tools/install_postgresql.sh installs them), or those
in $K15_PG_BIN. The server listens only on a Unix socket in its own folder (no TCP port: none to find free, nothing
reachable from elsewhere) and trusts local connections. PostgreSQL refuses to run as root, so under root (CI, this
project's machines) it runs as the `postgres` user that Debian's package creates, through runuser.
"""
from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

PORT = 5432  # only names the socket file (.s.PGSQL.5432) inside the server's own folder
USER = "k15"
SETTINGS = {
    "listen_addresses": "''",
    "max_connections": "200",  # each store holds a writer and a reader pool; many tests' stores are open at once
}
FAST = {"fsync": "off", "full_page_writes": "off"}
"""For tests: nothing on a throwaway server must survive a crash of the machine (commits stay transactional)."""


def find_bindir() -> Path | None:
    """$K15_PG_BIN, else the newest /usr/lib/postgresql/<version>/bin, else the folder of an initdb on PATH."""
    if os.environ.get("K15_PG_BIN"):
        return Path(os.environ["K15_PG_BIN"])
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if debian:
        return debian[-1].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def unavailable() -> str | None:
    """Why no server can start here (None: one can)."""
    bindir = find_bindir()
    if bindir is None or not (bindir / "pg_ctl").exists():
        return "no PostgreSQL server binaries (tools/install_postgresql.sh installs Debian's postgresql)"
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root without runuser: PostgreSQL cannot be started as another user"
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` user to run the server as (Debian's postgresql package creates it)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "the psycopg driver is not installed (pip install 'psycopg[binary]'; the dev extra has it)"
    return None


class PostgresServer:
    """One server in a temporary folder, from `start()` (or `with`) to `stop()`, which removes the folder."""

    def __init__(self, bindir: Path | None = None, durable: bool = False):
        """`durable`: PostgreSQL's own fsync settings (for measuring); else FAST."""
        self.bindir = bindir or find_bindir()
        self.settings = SETTINGS if durable else {**SETTINGS, **FAST}
        self.root: Path | None = None
        self._names = itertools.count(1)

    def _run(self, *cmd: str) -> subprocess.CompletedProcess:
        as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        out = subprocess.run([*as_owner, *cmd], cwd=self.root, capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"{Path(cmd[0]).name} failed ({out.returncode}): {(out.stderr or out.stdout).strip()[-2000:]}")
        return out

    def start(self) -> "PostgresServer":
        # in /tmp, not $TMPDIR: a Unix socket's path may be at most 107 bytes, and the postgres user must reach the folder
        self.root = Path(tempfile.mkdtemp(prefix="k15-pg-", dir="/tmp" if os.path.isdir("/tmp") else None))
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        data = self.root / "data"
        try:
            self._run(str(self.bindir / "initdb"), "-D", str(data), "-U", USER, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
            options = " ".join([f"-k {self.root}", f"-p {PORT}", *(f"-c {k}={v}" for k, v in self.settings.items())])
            self._run(str(self.bindir / "pg_ctl"), "-D", str(data), "-l", str(self.root / "server.log"), "-o", options, "-w", "-t", "60", "start")
        except Exception:
            self._remove()
            raise
        return self

    def url(self, database: str = "postgres") -> str:
        """The store URL of one database on this server (the socket folder as its host)."""
        return f"postgresql://{USER}@/{database}?host={self.root}&port={PORT}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(host=str(self.root), port=PORT, user=USER, dbname="postgres", autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self) -> str:
        """A new empty database; returns its store URL."""
        name = f"k15_{os.getpid()}_{next(self._names)}"
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by `create_database`, closing any connection still open on it."""
        name = url.split("/", 3)[3].split("?")[0]
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self.root is None:
            return
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        finally:
            self._remove()

    def _remove(self) -> None:
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> "PostgresServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main() -> int:
    why = unavailable()
    if why:
        print(f"cannot start PostgreSQL here: {why}", file=sys.stderr)
        return 2
    with PostgresServer(durable=True) as server:
        url = server.create_database()
        print(f"PostgreSQL {server.bindir.parent.name} serving in {server.root}; a store for k15:\n\n    {url}\n\nCtrl-C stops it and removes everything.", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
