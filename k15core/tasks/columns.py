"""Column mappings: which column of a dataset (or prompt file) holds each field of a problem.

`--columns prompt=question,reference=answer,difficulty=level,id=idx` reads the field `prompt` from the
column `question`, and so on. A field the mapping does not name is read from the column of its own name
when there is one (as in a prompt file: `prompt`, `reference` or `answer`, `difficulty`, `id`, `task`,
`solution`, `tests`, `images`), so a dataset whose columns already have those names needs no mapping at all.
"""
from __future__ import annotations

from typing import Iterable, Mapping

from k15core.errors import K15Error

FIELDS = ("prompt", "reference", "difficulty", "id", "task", "solution", "tests", "images")
"""The fields a mapping may name: the columns a prompt file may have (`answer` is `reference`'s synonym there)."""
_OWN_NAMES = (*FIELDS, "answer")
COLUMNS_HELP = "map the dataset's columns, e.g. --columns prompt=question,reference=answer (prompt and reference are needed)"

ColumnMap = dict[str, str]


def parse_columns(spec: str | Mapping[str, str] | None) -> ColumnMap:
    """{field: column} from "field=column,field=column" (the CLI) or a dict (the library); K15Error on a bad entry."""
    if spec is None or spec == "":
        return {}
    pairs = spec.items() if isinstance(spec, Mapping) else (_pair(part) for part in spec.split(","))
    mapping: ColumnMap = {}
    for field, column in pairs:
        if field not in FIELDS:
            raise K15Error(f"unknown field {field!r} in the column mapping", f"the fields are {', '.join(FIELDS)}")
        if field in mapping:
            raise K15Error(f"the column mapping names {field!r} twice", COLUMNS_HELP)
        if not isinstance(column, str) or not column:
            raise K15Error(f"the column mapping gives no column for {field!r}", COLUMNS_HELP)
        mapping[field] = column
    return mapping


def _pair(part: str) -> tuple[str, str]:
    field, sep, column = part.partition("=")
    if not sep:
        raise K15Error(f"column mapping entry {part.strip()!r} is not FIELD=COLUMN", COLUMNS_HELP)
    return field.strip(), column.strip()


def check_columns(mapping: ColumnMap, present: Iterable[str], what: str) -> None:
    """One K15Error, naming the columns `what` has, when a mapped column is missing or nothing holds the prompt or
    the reference (checked once for the whole source, rather than as the same bad row repeated on every row)."""
    present = list(present)
    have = ", ".join(present) or "none"
    missing = [f"{column!r} (for {field})" for field, column in mapping.items() if column not in present]
    if missing:
        raise K15Error(f"{what} has no column {', '.join(missing)}; its columns: {have}", COLUMNS_HELP)
    if "prompt" not in mapping and "prompt" not in present:
        raise K15Error(f"{what} has no 'prompt' column and the mapping names none; its columns: {have}", COLUMNS_HELP)
    if "reference" not in mapping and not {"reference", "answer", "tests"} & set(present):
        raise K15Error(f"{what} has no 'reference' (or 'answer', 'tests') column and the mapping names none; its columns: {have}",
                       COLUMNS_HELP)


def used_columns(mapping: ColumnMap, present: Iterable[str]) -> list[str]:
    """The columns a mapped row reads: the mapped ones and those named like a field (a dataset may hold far more)."""
    present = list(present)
    own = [c for c in _OWN_NAMES if c in present and c not in mapping]
    return list(dict.fromkeys([*mapping.values(), *own]))


def map_row(row: object, mapping: ColumnMap) -> object:
    """The row with each mapped field read from its column; other fields keep their own columns. A row that is
    not an object (a JSON list) is left as it is, so the row check reports it as a file's would."""
    if not mapping or not isinstance(row, dict):
        return row
    out = {k: v for k, v in row.items() if k in _OWN_NAMES and k not in mapping}
    if "reference" in mapping:  # a mapped reference wins over a column named 'answer' or 'tests'
        out.pop("answer", None)
        out.pop("tests", None)
    out.update({field: row.get(column) for field, column in mapping.items()})
    return out
