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

    rows = describe()
    table = Table(title="k15 config keys (override with --set key=value)")
    # A key is what a reader copies into --set, so it is never wrapped or cut: its column is as wide as the longest
    # key. On a narrow terminal the default and the meaning wrap instead, breaking inside a long word (a path)
    # rather than ending it with an ellipsis.
    table.add_column("key", no_wrap=True, min_width=max(len(key) for key, _, _ in rows))
    table.add_column("default", overflow="fold")
    table.add_column("meaning", overflow="fold")
    for key, default, help_text in rows:
        table.add_row(key, default, help_text)
    console().print(table)
    return 0
