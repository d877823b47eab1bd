"""Prompt sets from any source: a prompt file, a local dataset folder, or a Hugging Face `datasets` object.

- a file (JSONL, CSV, Parquet): read by `prompt_file` (bad rows named by line), with an optional column mapping;
- a folder written by `Dataset.save_to_disk` / `DatasetDict.save_to_disk` (Arrow): `datasets.load_from_disk`;
- a folder of Parquet, JSON/JSONL, CSV or Arrow files (e.g. a clone of a dataset repository, `data/train-*.parquet`):
  `datasets.load_dataset("parquet"|"json"|"csv"|"arrow", data_dir=...)`, which also tells the splits apart by file name;
- a `datasets.Dataset` or `DatasetDict` in memory (a notebook).

Every row then goes through the same check as a prompt file's (`prompt_file.report_rows`), so a bad row gets the
same message whichever source it came from ("row N" counts a dataset split's rows from 1).

Nothing is downloaded: a source is a local path or an object, a name that is not a local path is refused, and
`datasets` runs in offline mode while it reads. `datasets` is imported only when a dataset is read (it takes ~1 s).
"""
from __future__ import annotations

import csv
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

from k15core.errors import K15Error
from k15core.tasks.columns import ColumnMap, check_columns, map_row, parse_columns, used_columns
from k15core.tasks.prompt_file import PromptFileReport, raw_rows, report_rows
from k15core.tasks.prompt_images import FolderImages, ImageFiles

_BUILDERS = {".parquet": "parquet", ".json": "json", ".jsonl": "json", ".ndjson": "json", ".csv": "csv", ".arrow": "arrow"}
"""Data-file extensions of a dataset folder and the `datasets` builder that reads each."""
_BATCH = 1000  # rows converted to Python per step: a bounded cost per step, whatever the dataset's size
LOCAL_ONLY_FIX = ("pass a local file or folder; save a hub dataset first, "
                  "e.g. datasets.load_dataset(NAME, split='train').save_to_disk(FOLDER), and pass FOLDER")


def read_prompt_source(source: Any, default_task: str = "arithmetic", columns: str | Mapping[str, str] | None = None,
                       split: str | None = None, files: ImageFiles | None = None) -> PromptFileReport:
    """Every row of a prompt file, dataset folder or `datasets` object, checked; bad rows reported, not raised.

    `columns` maps fields to columns ("prompt=question,reference=answer" or a dict, see `columns`); `split` picks
    one split of a DatasetDict (needed when it has more than one). Image paths are read relative to the file's or the
    folder's own place, or found by `files` when given (the studio's upload); an in-memory dataset's rows name none."""
    mapping = parse_columns(columns)
    what = describe(source)
    if isinstance(source, (str, Path)):
        path = _local_path(source)
        if path.is_file():
            if split:
                raise K15Error(f"{what} is a single file, it has no splits", "drop --split (it picks a split of a dataset folder)")
            return report_rows(_file_rows(path, mapping, what), default_task, files or FolderImages(path.parent))
        files = files or FolderImages(path)
    return report_rows(_dataset_rows(source, mapping, split, what), default_task, files)


def describe(source: Any) -> str:
    """How messages name the source: "prompt file 'p.jsonl'", "dataset folder 'gsm8k'", "dataset (7,473 rows)"."""
    if isinstance(source, (str, Path)):
        return f"{'dataset folder' if Path(source).expanduser().is_dir() else 'prompt file'} {str(source)!r}"
    try:
        return f"dataset ({source.num_rows:,} rows)" if isinstance(source.num_rows, int) else f"dataset (splits {', '.join(source)})"
    except (AttributeError, TypeError):
        return f"{type(source).__name__} object"


def _local_path(source: str | Path) -> Path:
    path = Path(source).expanduser()
    if path.exists():
        return path
    if path.suffix.lower() in _BUILDERS:
        raise K15Error(f"prompt file {str(source)!r} does not exist", "check the path")
    # a hub name ("openai/gsm8k") lands here: it is never looked up
    raise K15Error(f"{str(source)!r} does not exist here, and only local datasets are read (nothing is downloaded)", LOCAL_ONLY_FIX)


def _file_rows(path: Path, mapping: ColumnMap, what: str) -> list[tuple[str, object]]:
    """A prompt file's rows ('line N'), mapped; a mapped column no row has is one error, not one per row."""
    rows = raw_rows(path)
    if not mapping:
        return rows  # the file reader exactly as before
    present = dict.fromkeys(k for _, row in rows if isinstance(row, dict) for k in row)
    check_columns(mapping, present, what)
    return [(where, map_row(row, mapping)) for where, row in rows]


def _dataset_rows(source: Any, mapping: ColumnMap, split: str | None, what: str) -> list[tuple[str, object]]:
    """('row N', mapped row) for each row of the chosen split of a dataset folder or object."""
    with _offline_and_quiet(), tempfile.TemporaryDirectory(prefix="k15-datasets-") as cache:
        data = _load_folder(_local_path(source), cache, what) if isinstance(source, (str, Path)) else source
        dataset = _pick_split(data, split, what)
        check_columns(mapping, dataset.column_names, what)
        return list(_rows(dataset, mapping))  # read inside: the folder's cache goes when the block ends


@contextmanager
def _offline_and_quiet() -> Iterator[None]:
    """`datasets` in offline mode (it checks the flag on every call) and without progress bars, then as it was.
    Paths are local anyway; this makes sure no lookup of a name, a script or a README's config can reach the hub."""
    import datasets
    from datasets.utils.tqdm import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars
    from huggingface_hub import constants as hub

    saved = datasets.config.HF_HUB_OFFLINE, hub.HF_HUB_OFFLINE, are_progress_bars_disabled()
    datasets.config.HF_HUB_OFFLINE = hub.HF_HUB_OFFLINE = True
    disable_progress_bars()
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, hub.HF_HUB_OFFLINE = saved[0], saved[1]
        if not saved[2]:
            enable_progress_bars()


def _load_folder(path: Path, cache: str, what: str) -> Any:
    """A save_to_disk folder, else a folder of data files of one format (converted into `cache`, a temporary folder,
    so an import leaves no copy of the data behind)."""
    import datasets

    try:
        if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
            return datasets.load_from_disk(str(path))
        builder, files = _data_files(path, what)
        extra = _csv_as_text(files) if builder == "csv" else {}
        return datasets.load_dataset(builder, data_dir=str(path), cache_dir=cache, keep_in_memory=True, **extra)
    except K15Error:
        raise
    except Exception as err:  # datasets and pyarrow raise many types for a file they cannot parse
        raise K15Error(f"{what} cannot be read: {type(err).__name__}: {str(err)[:300]}",
                       "check its files (one format per folder: Parquet, JSON/JSONL, CSV or Arrow)") from None


def _data_files(path: Path, what: str) -> tuple[str, list[Path]]:
    """The builder for the folder's data files, and the files; hidden folders (.git) are skipped, as `datasets` does."""
    files = sorted(f for f in path.rglob("*") if f.is_file() and f.suffix.lower() in _BUILDERS
                   and not any(part.startswith(".") for part in f.relative_to(path).parts))
    builders = sorted({_BUILDERS[f.suffix.lower()] for f in files})
    if not builders:
        raise K15Error(f"{what} holds no dataset: no save_to_disk files and no {', '.join(sorted(_BUILDERS))} files",
                       "pass a folder written by Dataset.save_to_disk, or one of data files")
    if len(builders) > 1:
        raise K15Error(f"{what} mixes data formats ({', '.join(builders)})", "keep one format per folder, or pass one file")
    return builders[0], files


def _csv_as_text(files: list[Path]) -> dict[str, Any]:
    """Read every CSV column as text, as the prompt-file reader does: left to pandas, a reference '007' would become
    the number 7 and a reference 'NA' a missing value."""
    from datasets import Features, Value

    with files[0].open(newline="", encoding="utf-8") as f:
        header = next(csv.reader(f), [])
    return {"features": Features({name: Value("string") for name in header}), "keep_default_na": False}


def _pick_split(data: Any, split: str | None, what: str) -> Any:
    """The Dataset to read: the object itself, the named split, or a DatasetDict's only split."""
    from datasets import Dataset, DatasetDict

    if isinstance(data, Dataset):
        if split and data.split is not None and str(data.split) != split:
            raise K15Error(f"{what} is the {str(data.split)!r} split, not {split!r}", "drop --split, or pass the folder of the whole dataset")
        return data
    if not isinstance(data, DatasetDict):
        raise K15Error(f"{what} is not a datasets.Dataset or DatasetDict", "load it with datasets.load_dataset or load_from_disk first")
    names = ", ".join(data) or "none"
    if split is None and len(data) == 1:
        return next(iter(data.values()))
    if split is None:
        raise K15Error(f"{what} has several splits ({names})", "pick one with --split NAME (split= in Python)")
    if split not in data:
        raise K15Error(f"{what} has no split {split!r}; its splits: {names}", "pick one of them with --split")
    return data[split]


def _rows(dataset: Any, mapping: ColumnMap) -> Iterator[tuple[str, object]]:
    """('row N', mapped row), reading only the columns a problem uses (a dataset may also hold images or long texts)."""
    names = used_columns(mapping, dataset.column_names)
    dataset = dataset.with_format(None).select_columns(names)  # plain Python values, whatever format the user set
    dataset = _undecoded_images(dataset, mapping.get("images", "images"))
    number = 0
    for batch in dataset.iter(batch_size=_BATCH):
        for values in zip(*(batch[n] for n in names)):
            number += 1
            yield f"row {number}", map_row(dict(zip(names, values)), mapping)


def _undecoded_images(dataset: Any, column: str) -> Any:
    """The dataset with its `datasets.Image` images column (one image or a list a row) read as encoded bytes
    ({"bytes", "path"}) rather than decoded pictures: `prompt_images` checks their size before decoding them."""
    from datasets import Image, List

    feature = dataset.features.get(column)
    if isinstance(feature, Image):
        return dataset.cast_column(column, Image(decode=False))
    if isinstance(feature, List) and isinstance(feature.feature, Image):
        return dataset.cast_column(column, List(Image(decode=False)))
    return dataset
