"""Export of the Rollouts tab's filtered table, every matching row (not only the 200 shown), as JSONL, CSV or Parquet.

The rows come from the store in keyset pages (`Store.matching_pages`) and each page is written before the next is read,
so an export of 100k rows holds one page in memory, not the table (benchmarks/studio_export.py measures it). A format
is a registered writer (`WRITERS`); the studio's button lists `WRITERS.names()`.

The text columns are written as stored: prompts and responses are model output and user data, and a CSV opened in a
spreadsheet may take a cell that starts with `=` for a formula. The files are for pandas and the like.
"""
from __future__ import annotations

import csv
import json
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from k15core.registry import Registry
from k15core.store import Store
from k15core.store.db import TrajectoryFilter
from k15core.store.filters import RegexTimeout

COLUMNS: dict[str, pa.DataType] = {
    "id": pa.int64(), "run_id": pa.int64(), "iteration": pa.int64(), "prompt_id": pa.string(), "sample_index": pa.int64(),
    "tag": pa.string(), "reward": pa.float64(), "correct": pa.float64(), "length": pa.int64(), "truncated": pa.bool_(),
    "repeated": pa.bool_(), "finished": pa.bool_(), "segments": pa.int64(), "difficulty": pa.int64(), "reward_parts": pa.string(),
    "prompt": pa.string(), "response": pa.string(),
}
"""What an exported row holds, in this order, with its Parquet type: the table's columns, the whole prompt and response,
and `reward_parts` as its stored JSON text. Token arrays are left out (a research export of text and scores)."""
PAGE_ROWS = 1000
EXPORT_ROOT = Path(tempfile.gettempdir()) / "k15-studio-exports"
"""Gradio serves a returned file from its own cache (a copy), so each export's folder here is only needed until then;
folders older than KEEP_S are removed at the next export."""
KEEP_S = 3600.0


class Writer(Protocol):
    """A format's writer: made on the open file (binary when `binary`), given each page's rows, closed once."""
    binary: bool

    def __init__(self, handle: IO) -> None: ...
    def write(self, rows: list[dict]) -> None: ...
    def close(self) -> None: ...


WRITERS: Registry[type] = Registry("export format")


@WRITERS.register("jsonl")
class JsonlWriter:
    """One JSON object per line, UTF-8 as is (no \\u escapes)."""
    binary = False

    def __init__(self, handle: IO):
        self.handle = handle

    def write(self, rows: list[dict]) -> None:
        self.handle.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)

    def close(self) -> None:
        pass


@WRITERS.register("csv")
class CsvWriter:
    """A header line, then one line per row; text with commas, quotes or newlines quoted (RFC 4180)."""
    binary = False

    def __init__(self, handle: IO):
        self.out = csv.DictWriter(handle, fieldnames=list(COLUMNS), lineterminator="\n")
        self.out.writeheader()

    def write(self, rows: list[dict]) -> None:
        self.out.writerows(rows)

    def close(self) -> None:
        pass


@WRITERS.register("parquet")
class ParquetWriter:
    """One row group per page, the types of `COLUMNS`."""
    binary = True

    def __init__(self, handle: IO):
        self.schema = pa.schema(list(COLUMNS.items()))
        self.out = pq.ParquetWriter(handle, self.schema)

    def write(self, rows: list[dict]) -> None:
        self.out.write_table(pa.Table.from_pylist(rows, schema=self.schema))

    def close(self) -> None:
        self.out.close()


@dataclass(frozen=True)
class ExportResult:
    path: Path
    rows: int
    fmt: str


def export(store: Store, f: TrajectoryFilter, fmt: str, path: Path, page_rows: int = PAGE_ROWS,
           regex_timeout_s: float | None = None) -> ExportResult:
    """Write every trajectory matching `f`, newest first, to `path` in format `fmt` (one of WRITERS.names()).
    Raises re.error for a bad pattern and RegexTimeout when a page's regex runs past `regex_timeout_s`."""
    writer_cls = WRITERS.get(fmt)
    rows = 0
    with open(path, "wb" if writer_cls.binary else "w", **({} if writer_cls.binary else {"encoding": "utf-8", "newline": ""})) as handle:
        writer = writer_cls(handle)
        for page in store.matching_pages(f, list(COLUMNS), page_rows, regex_timeout_s=regex_timeout_s):
            writer.write([{**r, "truncated": bool(r["truncated"]), "repeated": bool(r["repeated"]), "finished": bool(r["finished"])} for r in page])
            rows += len(page)
        writer.close()
    return ExportResult(path, rows, fmt)


def file_name(f: TrajectoryFilter, fmt: str) -> str:
    run = f"run{f.run_id}" if f.run_id is not None else "all-runs"
    return f"k15-rollouts-{run}-{time.strftime('%Y%m%d-%H%M%S')}.{fmt}"


def export_for_download(store: Store, f: TrajectoryFilter, fmt: str, regex_timeout_s: float) -> tuple[str | None, str]:
    """The studio's export: a file in a fresh folder under EXPORT_ROOT and a sentence with its row count, or (None,
    what went wrong)."""
    _prune(EXPORT_ROOT, KEEP_S)
    EXPORT_ROOT.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=EXPORT_ROOT))
    try:
        result = export(store, f, fmt, folder / file_name(f, fmt), regex_timeout_s=regex_timeout_s)
    except re.error as err:
        shutil.rmtree(folder, ignore_errors=True)
        return None, f"not a valid regular expression: {err}"
    except RegexTimeout:
        shutil.rmtree(folder, ignore_errors=True)
        return None, f"the regex took longer than {regex_timeout_s:g} s on a page of the export; simplify it"
    size = result.path.stat().st_size
    return str(result.path), f"exported {result.rows:,} rows ({fmt}, {size / 1e6:.2f} MB): every sample the filter matches."


def _prune(root: Path, keep_s: float) -> None:
    if not root.is_dir():
        return
    now = time.time()
    for d in root.iterdir():
        try:
            if d.is_dir() and now - d.stat().st_mtime > keep_s:
                shutil.rmtree(d, ignore_errors=True)
        except OSError:  # another studio process removed it first
            pass


def build(ctx, filters: list, filter_of: Callable[..., TrajectoryFilter], regex_timeout_s: float) -> dict:
    """A format, a button that exports every row the Rollouts filters match (`filter_of(*filters)`), the file to download
    and how many rows it holds."""
    import gradio as gr  # the engine side of this module (export()) is used without gradio by notebooks and tests

    with gr.Row():
        fmt = gr.Radio(WRITERS.names(), value="csv", label="export format", scale=1, elem_id="rollouts-export-format")
        go = gr.Button("Export every matching sample", scale=1, elem_id="rollouts-export")
        said = gr.Markdown(elem_id="rollouts-export-said")
    out = gr.File(label="export", interactive=False, visible=False, elem_id="rollouts-export-file")

    def run(fmt_name, *values):
        try:
            f = filter_of(*values)
        except ValueError as err:
            return gr.File(visible=False), f"check the filter: {err}"
        path, sentence = export_for_download(ctx.store, f, fmt_name, regex_timeout_s)
        return gr.File(value=path, visible=path is not None), sentence

    go.click(run, [fmt, *filters], [out, said], api_name="export_rollouts", concurrency_limit=2)
    return {"format": fmt, "button": go, "file": out, "said": said}
