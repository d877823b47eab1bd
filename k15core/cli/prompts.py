"""`k15 prompts import PATH`: add a prompt file (JSONL/CSV/Parquet) or a local dataset folder to the run store, all
of it or none; the images an `images` column names go to the workspace's image store."""
from __future__ import annotations

from pathlib import Path

from k15core.cli.common import add_common, setup


def register(sub) -> None:
    p = sub.add_parser("prompts", help="manage the prompt set in the run store")
    add_common(p)
    psub = p.add_subparsers(dest="prompts_command", required=True)
    pi = psub.add_parser("import", help="add prompts from a JSONL/CSV/Parquet file or a local dataset folder")
    pi.add_argument("file", metavar="PATH", help="a prompt file, or a folder from Dataset.save_to_disk or of Parquet/JSON/CSV files")
    pi.add_argument("--columns", metavar="FIELD=COLUMN,...",
                    help="which column holds each field, e.g. prompt=question,reference=answer,difficulty=level,id=idx "
                         "(fields not named are read from columns of their own name)")
    pi.add_argument("--split", help="the split of a dataset folder to import (needed when it has several)")
    add_common(pi)
    pi.set_defaults(func=cmd_prompts_import)


def cmd_prompts_import(args) -> int:
    from k15core.tasks import load_checked_prompt_file, store_prompt_images

    cfg, ws = setup(args)
    # every row checked (as the studio does) before anything is written
    problems = load_checked_prompt_file(args.file, cfg.task.name, columns=args.columns, split=args.split)
    path = Path(args.file)
    source = f"dataset:{path.name}" + (f":{args.split}" if args.split else "") if path.is_dir() else f"file:{path.name}"
    images = store_prompt_images(problems, ws.images)  # the images first: a prompt row never names an image not stored
    added = ws.store().add_prompts(problems, source=source)
    shown = f", {images} images stored in {ws.images.root}" if images else ""
    print(f"{args.file}: {len(problems)} prompts read, {added} new, {len(problems) - added} already in the store{shown}")
    return 0
