"""Read prompt files (JSONL, CSV or Parquet): one problem per line/row with `prompt` and `reference`.

Columns: `prompt` (required), `reference` (required; `answer` is accepted as a synonym), `difficulty`
(optional integer), `id` (optional; default derived from the prompt text), `task` (optional),
`solution` (optional worked solution, kept in the problem's meta for the warm-up). Code problems give
`tests` (a list of {"input", "output"} objects) instead of a reference; they become the reference as JSON.
The whole file is validated before anything is returned, and every bad row is reported with its line
number, so a bad file never half-imports.
"""
from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from k15core.errors import K15Error
from k15core.tasks.problem import Problem

FORMAT_HELP = 'each row needs "prompt" and "reference" (text), optionally "difficulty" (integer), "id" and "task"'


def _row_to_problem(row: object, default_task: str) -> Problem:
    if not isinstance(row, dict):
        raise ValueError("not an object with named fields")
    prompt = row.get("prompt")
    reference = row.get("reference", row.get("answer"))
    if reference is None and isinstance(row.get("tests"), list):  # a code problem: its test cases are its reference
        reference = json.dumps(row["tests"])
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
    meta = {"solution": row["solution"]} if isinstance(row.get("solution"), str) and row["solution"].strip() else {}
    return Problem(id=str(pid), prompt=prompt, reference=str(reference).strip(), difficulty=difficulty, task=str(row.get("task") or default_task),
                   meta=meta)


@dataclass
class PromptFileReport:
    """A prompt file read and checked row by row: the good problems, and (where, what) for every bad row."""

    problems: list[Problem]
    errors: list[tuple[str, str]]


def _raw_rows(path: Path) -> list[tuple[str, object]]:
    """(where, row) pairs: 'line N' for text files, 'row N' for Parquet; a row that cannot be parsed is an Exception."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        try:
            import pyarrow.parquet as pq

            table = pq.read_table(path)
        except FileNotFoundError:
            raise K15Error(f"prompt file {str(path)!r} does not exist", "check the path") from None
        except Exception as err:  # pyarrow raises its own types for a file that is not Parquet
            raise K15Error(f"prompt file {str(path)!r} is not a readable Parquet file ({err})", FORMAT_HELP) from None
        return [(f"row {i + 1}", r) for i, r in enumerate(table.to_pylist())]
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise K15Error(f"prompt file {str(path)!r} does not exist", "check the path") from None
    except IsADirectoryError:
        raise K15Error(f"prompt file {str(path)!r} is a directory", "pass a .jsonl, .csv or .parquet file") from None
    except UnicodeDecodeError:
        raise K15Error(f"prompt file {str(path)!r} is not UTF-8 text", "save it as UTF-8 JSONL or CSV") from None
    except OSError as err:
        raise K15Error(f"cannot read prompt file {str(path)!r}: {err.strerror}", "check its permissions") from None
    if suffix == ".csv":
        return [(f"line {i + 2}", r) for i, r in enumerate(csv.DictReader(text.splitlines()))]  # line 1 is the header
    if suffix in (".jsonl", ".json", ".ndjson"):
        rows: list[tuple[str, object]] = []
        for lineno, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append((f"line {lineno}", json.loads(line)))
                except json.JSONDecodeError as err:
                    rows.append((f"line {lineno}", ValueError(f"not valid JSON ({err.msg})")))
        return rows
    raise K15Error(f"prompt file {str(path)!r} has an unknown extension {path.suffix!r}", "use .jsonl, .csv or .parquet")


def read_prompt_file(path: str | Path, default_task: str = "arithmetic") -> PromptFileReport:
    """Read every row of a JSONL, CSV or Parquet prompt file; bad rows are reported, not raised (for a preview)."""
    problems, errors, seen = [], [], set()
    for where, row in _raw_rows(Path(path)):
        try:
            if isinstance(row, Exception):
                raise row
            p = _row_to_problem(row, default_task)
            if p.id in seen:
                raise ValueError(f"duplicate id {p.id!r}")
            seen.add(p.id)
            problems.append(p)
        except ValueError as err:
            errors.append((where, str(err)))
    return PromptFileReport(problems, errors)


def load_prompt_file(path: str | Path, default_task: str = "arithmetic") -> list[Problem]:
    """All problems of a prompt file, or a K15Error naming every bad row (a bad file never half-imports)."""
    report = read_prompt_file(path, default_task)
    if report.errors:
        errors = [f"{where}: {msg}" for where, msg in report.errors]
        shown = "; ".join(errors[:10]) + (f"; and {len(errors) - 10} more" if len(errors) > 10 else "")
        raise K15Error(f"prompt file {str(path)!r} has {len(errors)} malformed row(s): {shown}", FORMAT_HELP)
    if not report.problems:
        raise K15Error(f"prompt file {str(path)!r} holds no prompts", FORMAT_HELP)
    return report.problems
