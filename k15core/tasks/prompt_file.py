"""Read prompt files (JSONL, CSV or Parquet): one problem per line/row with `prompt` and `reference`.

Columns: `prompt` (required), `reference` (required; `answer` is accepted as a synonym), `difficulty`
(optional integer), `id` (optional; default derived from the prompt text), `task` (optional),
`solution` (optional worked solution, kept in the problem's meta for the warm-up), `images` (optional image paths,
relative to the file's folder, one `<image>` marker in the prompt per image: `prompt_images`). Code problems give
`tests` (a list of {"input", "output"} objects) instead of a reference; they become the reference as JSON.
The whole file is validated before anything is returned, and every bad row is reported with its line
number, so a bad file never half-imports.

Limits (a row over one is a bad row, with the reason): a prompt, reference or solution of at most
`MAX_TEXT_CHARS` characters and without NUL characters (SQLite and the tokenizers would cut or choke on them),
a difficulty that is a whole number from 0 (not given) to `MAX_DIFFICULTY`. A CSV field too large to read at
all stops the file with its line number.
"""
from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from k15core.errors import K15Error
from k15core.tasks.prompt_images import LIMITS, FolderImages, ImageFiles, ImageLimits, check_images
from k15core.tasks.problem import Problem

FORMAT_HELP = ('each row needs "prompt" and "reference" (text), optionally "difficulty" (integer), "id", "task" and "images" '
               '(image paths, relative to the file, one <image> in the prompt for each)')
MAX_TEXT_CHARS = 100_000
"""Longest prompt, reference or solution, in characters (a long reasoning problem is a few thousand)."""
MAX_DIFFICULTY = 10
"""Largest difficulty a file may give (the shipped tasks use levels 1-5; 0 means not given)."""
_CSV_FIELD_LIMIT = 4 * MAX_TEXT_CHARS  # above it the csv module refuses a field; below it our own checks give the reason


def _text(key: str, value: object) -> None:
    if isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
        raise ValueError(f"'{key}' is {len(value):,} characters long; the most is {MAX_TEXT_CHARS:,}")
    if isinstance(value, str) and "\x00" in value:
        raise ValueError(f"'{key}' contains a NUL character")


def _difficulty(value: object) -> int:
    """A whole number in 0..MAX_DIFFICULTY from an int, an integral float or a digit string; ValueError otherwise."""
    if value in ("", None):
        return 0
    try:
        if isinstance(value, bool):
            raise TypeError
        number = float(value) if isinstance(value, (str, float)) else value
        if isinstance(number, float) and not number.is_integer():
            raise ValueError
        level = int(number)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"'difficulty' must be an integer, got {str(value)[:40]!r}") from None
    if not 0 <= level <= MAX_DIFFICULTY:
        raise ValueError(f"'difficulty' must be an integer from 0 to {MAX_DIFFICULTY}, got {str(value)[:40]}")
    return level


def _row_to_problem(row: object, default_task: str, files: ImageFiles | None = None, limits: ImageLimits = LIMITS) -> Problem:
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
    for key, value in (("prompt", prompt), ("reference", str(reference)), ("solution", row.get("solution")), ("id", row.get("id"))):
        _text(key, value)
    difficulty = _difficulty(row.get("difficulty", 0))
    pid = row.get("id")
    if pid is None or pid == "":  # an id of 0 is an id (a dataset's row index starts there)
        pid = "file:" + hashlib.sha1(prompt.encode()).hexdigest()[:12]
    meta = {"solution": row["solution"]} if isinstance(row.get("solution"), str) and row["solution"].strip() else {}
    images = check_images(row.get("images"), prompt, files, limits)
    if images.files:
        meta["image_files"] = images.files  # read again when the import stores them (prompt_images.store_images)
    return Problem(id=str(pid), prompt=prompt, reference=str(reference).strip(), difficulty=difficulty, task=str(row.get("task") or default_task),
                   meta=meta, images=images.addresses)


@dataclass
class PromptFileReport:
    """A prompt file read and checked row by row: the good problems, and (where, what) for every bad row."""

    problems: list[Problem]
    errors: list[tuple[str, str]]


def raw_rows(path: Path) -> list[tuple[str, object]]:
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
        return _csv_rows(path, text)
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


def _csv_rows(path: Path, text: str) -> list[tuple[str, object]]:
    """('line N', row) for each CSV row (line 1 is the header); a field the csv module cannot read stops the file."""
    previous = csv.field_size_limit(_CSV_FIELD_LIMIT)
    reader = csv.DictReader(text.splitlines())
    try:
        return [(f"line {i + 2}", r) for i, r in enumerate(reader)]
    except csv.Error as err:
        raise K15Error(f"prompt file {str(path)!r} cannot be read as CSV at line {reader.line_num + 1}: {err}",
                       f"fields hold at most {MAX_TEXT_CHARS:,} characters; check the quoting") from None
    finally:
        csv.field_size_limit(previous)


def read_prompt_file(path: str | Path, default_task: str = "arithmetic") -> PromptFileReport:
    """Read every row of a JSONL, CSV or Parquet prompt file; bad rows are reported, not raised (for a preview)."""
    return report_rows(raw_rows(Path(path)), default_task, FolderImages(Path(path).parent))


def report_rows(rows: Iterable[tuple[str, object]], default_task: str = "arithmetic", files: ImageFiles | None = None,
                limits: ImageLimits = LIMITS) -> PromptFileReport:
    """Check (where, row) pairs one by one: every reader (files, datasets) reports bad rows with the same messages.
    `files` finds the images rows name (None: a row naming images is a bad row)."""
    problems, errors, seen = [], [], set()
    for where, row in rows:
        try:
            if isinstance(row, Exception):
                raise row
            p = _row_to_problem(row, default_task, files, limits)
            if p.id in seen:
                raise ValueError(f"duplicate id {p.id!r}")
            seen.add(p.id)
            problems.append(p)
        except ValueError as err:
            errors.append((where, str(err)))
    return PromptFileReport(problems, errors)


def load_prompt_file(path: str | Path, default_task: str = "arithmetic") -> list[Problem]:
    """All problems of a prompt file, or a K15Error naming every bad row (a bad file never half-imports)."""
    return problems_or_error(path, read_prompt_file(path, default_task))


def problems_or_error(path: str | Path, report: PromptFileReport, what: str | None = None) -> list[Problem]:
    """The report's problems when it has no bad row and at least one problem; else a K15Error naming every bad row.
    `what` names the source in the message (default: "prompt file 'PATH'")."""
    what = what or f"prompt file {str(path)!r}"
    if report.errors:
        errors = [f"{where}: {msg}" for where, msg in report.errors]
        shown = "; ".join(errors[:10]) + (f"; and {len(errors) - 10} more" if len(errors) > 10 else "")
        raise K15Error(f"{what} has {len(errors)} malformed row(s): {shown}", FORMAT_HELP)
    if not report.problems:
        raise K15Error(f"{what} holds no prompts", FORMAT_HELP)
    return report.problems
