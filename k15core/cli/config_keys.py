"""`k15 config`: every config key with its default and meaning, read from the config dataclasses."""
from __future__ import annotations

from k15core.cli.common import add_common, console


def register(sub) -> None:
    p = sub.add_parser("config", help="list every config key with its default and meaning")
    add_common(p)
    p.set_defaults(func=cmd_config)


def cmd_config(args) -> int:
    from rich.table import Table

    from k15core.config import describe

    table = Table(title="k15 config keys (override with --set key=value)")
    for col in ("key", "default", "meaning"):
        table.add_column(col)
    for key, default, help_text in describe():
        table.add_row(key, default, help_text)
    console().print(table)
    return 0
