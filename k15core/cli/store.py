"""`k15 store check`: SQLite's full integrity check of the workspace's run store (every page and index)."""
from __future__ import annotations

from k15core.cli.common import add_common, setup
from k15core.errors import K15Error


def register(sub) -> None:
    p = sub.add_parser("store", help="look after the run store")
    add_common(p)
    ssub = p.add_subparsers(dest="store_command", required=True)
    check = ssub.add_parser("check", help="check every page and index of the run store (PRAGMA integrity_check)")
    add_common(check)
    check.set_defaults(func=cmd_store_check)


def cmd_store_check(args) -> int:
    """Exit 0 with 'ok' for a sound store; a K15Error (exit 2) listing what SQLite found otherwise. Opening the store
    already refuses a damaged one up to `store.base.QUICK_CHECK_BYTES`; this checks a store of any size, fully."""
    _, ws = setup(args)
    problems = ws.store().check(full=True)
    if problems:
        shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise K15Error(f"the run store {str(ws.db_path)!r} is damaged: {shown}",
                       f"copy what can be read (sqlite3 {ws.db_path} .recover > recovered.sql) and start a fresh workspace")
    print(f"{ws.db_path}: ok (integrity_check found no problem)")
    return 0
