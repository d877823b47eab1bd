"""Read prompt files (JSONL or CSV): one problem per line/row with `prompt` and `reference`.

Columns: `prompt` (required), `reference` (required; `answer` is accepted as a synonym), `difficulty`
(optional integer), `id` (optional; default derived from the prompt text), `task` (optional).
The whole file is validated before anything is returned, and every bad row is reported with its line
number, so a bad file never half-imports.
"""
from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

from k15core.errors import K15Error
from k15core.tasks.base import Problem

FORMAT_HELP = 'each row needs "prompt" and "reference" (text), optionally "difficulty" (integer), "id" and "task"'


def _row_to_problem(row: object, default_task: str) -> Problem:
    if not isinstance(row, dict):
        raise ValueError("not an object with named fields")
    prompt = row.get("prompt")
    reference = row.get("reference", row.get("answer"))
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("missing or empty 'prompt'")
    if reference is None or (isinstance(reference, str) and not reference.strip()) or isinstance(reference, (dict, list, bool)):
        raise ValueError("missing or empty 'reference'")
    difficulty = row.get("difficulty", 0)
    if difficulty in ("", None):
        difficulty = 0
    try:
        difficulty = int(difficulty)
    except (TypeError, ValueError):
        raise ValueError(f"'difficulty' must be an integer, got {difficulty!r}") from None
    pid = row.get("id") or "file:" + hashlib.sha1(prompt.encode()).hexdigest()[:12]
    return Problem(id=str(pid), prompt=prompt, reference=str(reference).strip(), difficulty=difficulty, task=str(row.get("task") or default_task))


def load_prompt_file(path: str | Path, default_task: str = "arithmetic") -> list[Problem]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise K15Error(f"prompt file {str(path)!r} does not exist", "check the path") from None
    except IsADirectoryError:
        raise K15Error(f"prompt file {str(path)!r} is a directory", "pass a .jsonl or .csv file") from None
    except UnicodeDecodeError:
        raise K15Error(f"prompt file {str(path)!r} is not UTF-8 text", "save it as UTF-8 JSONL or CSV") from None
    except OSError as err:
        raise K15Error(f"cannot read prompt file {str(path)!r}: {err.strerror}", "check its permissions") from None
    if path.suffix.lower() == ".csv":
        rows = [(i + 2, r) for i, r in enumerate(csv.DictReader(text.splitlines()))]  # line 1 is the header
    elif path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        rows = []
        for lineno, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append((lineno, json.loads(line)))
                except json.JSONDecodeError as err:
                    rows.append((lineno, ValueError(f"not valid JSON ({err.msg})")))
    else:
        raise K15Error(f"prompt file {str(path)!r} has an unknown extension {path.suffix!r}", "use .jsonl or .csv")
    problems, errors, seen = [], [], set()
    for lineno, row in rows:
        try:
            if isinstance(row, Exception):
                raise row
            p = _row_to_problem(row, default_task)
            if p.id in seen:
                raise ValueError(f"duplicate id {p.id!r}")
            seen.add(p.id)
            problems.append(p)
        except ValueError as err:
            errors.append(f"line {lineno}: {err}")
    if errors:
        shown = "; ".join(errors[:10]) + (f"; and {len(errors) - 10} more" if len(errors) > 10 else "")
        raise K15Error(f"prompt file {str(path)!r} has {len(errors)} malformed row(s): {shown}", FORMAT_HELP)
    if not problems:
        raise K15Error(f"prompt file {str(path)!r} holds no prompts", FORMAT_HELP)
    return problems
