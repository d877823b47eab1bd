"""`k15 prompts import FILE`: add a JSONL/CSV/Parquet prompt file to the run store, all of it or none."""
from __future__ import annotations

from pathlib import Path

from k15core.cli.common import add_common, setup


def register(sub) -> None:
    p = sub.add_parser("prompts", help="manage the prompt set in the run store")
    add_common(p)
    psub = p.add_subparsers(dest="prompts_command", required=True)
    pi = psub.add_parser("import", help="add prompts from a JSONL/CSV file")
    pi.add_argument("file")
    add_common(pi)
    pi.set_defaults(func=cmd_prompts_import)


def cmd_prompts_import(args) -> int:
    from k15core.tasks import load_checked_prompt_file

    cfg, ws = setup(args)
    problems = load_checked_prompt_file(args.file, cfg.task.name)  # every row checked (as the studio does) before anything is written
    added = ws.store().add_prompts(problems, source=f"file:{Path(args.file).name}")
    print(f"{args.file}: {len(problems)} prompts read, {added} new, {len(problems) - added} already in the store")
    return 0
