"""`k15 store check`: the full check of the workspace's run store: SQLite's integrity_check (every page and index), or
on PostgreSQL every table read to its end."""
from __future__ import annotations

from k15core.cli.common import add_common, setup
from k15core.errors import K15Error


def register(sub) -> None:
    p = sub.add_parser("store", help="look after the run store")
    add_common(p)
    ssub = p.add_subparsers(dest="store_command", required=True)
    check = ssub.add_parser("check", help="check every page and index of the run store (SQLite's integrity_check; PostgreSQL: read every table)")
    add_common(check)
    check.set_defaults(func=cmd_store_check)


def cmd_store_check(args) -> int:
    """Exit 0 with 'ok' for a sound store; a K15Error (exit 2) listing what SQLite found otherwise. Opening the store
    already refuses a damaged one up to `store.backends.QUICK_CHECK_BYTES`; this checks a store of any size, fully."""
    _, ws = setup(args)
    store = ws.store()
    problems = store.check(full=True)
    if problems:
        shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
        fix = (f"copy what can be read (sqlite3 {store.path} .recover > recovered.sql) and start a fresh workspace" if store.path is not None
               else "ask the server's administrator (pg_amcheck, the server's log); restore the database from a backup (pg_dump)")
        raise K15Error(f"the run store {store.location!r} is damaged: {shown}", fix)
    how = "integrity_check found no problem" if store.path is not None else "every table read to its end"
    print(f"{store.location}: ok ({how})")
    return 0
