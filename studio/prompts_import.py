"""The Prompts tab's import: preview an upload (a prompt file, and the images its `images` column names), then add
it to the store, all of it or none. The rows are read and checked as `k15 prompts import` reads them."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from gradio_client.utils import strip_invalid_filename_characters

from k15core.errors import K15Error
from k15core.store import Store
from k15core.tasks import read_checked_prompt_file, store_prompt_images
from k15core.tasks.prompt_images import image_name


@dataclass(frozen=True)
class UploadedImages:
    """The images of an upload (a `prompt_images.ImageFiles`): an image is found by its file name among the uploaded
    files, and nowhere else on the server, whatever path the row gives."""

    files: dict[str, Path]
    """Uploaded file name (as the upload stored it) -> its path."""

    @classmethod
    def of(cls, paths: list[Path]) -> "UploadedImages":
        return cls({p.name: p for p in paths})

    def locate(self, ref: str) -> Path | None:
        name = Path(ref.replace("\\", "/")).name
        return self.files.get(name) or self.files.get(strip_invalid_filename_characters(name))  # the name gradio stored it under

PROMPT_FILE_TYPES = (".jsonl", ".csv", ".parquet", ".json", ".ndjson")
IMAGE_FILE_TYPES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")


def split_upload(upload: str | list[str] | None) -> tuple[str | None, UploadedImages | None, str]:
    """(the prompt file, the images uploaded with it, what is wrong or ""). One path (an API client, a test): a prompt
    file whose images are found relative to its folder. Several (the page): one prompt file and its images, found by
    file name among them and nowhere else on the server."""
    if not upload:
        return None, None, "Choose a JSONL, CSV or Parquet file (and the images it names, if any)."
    if isinstance(upload, str):
        return upload, None, ""
    files = [Path(u) for u in upload]
    prompt_files = [f for f in files if f.suffix.lower() in PROMPT_FILE_TYPES]
    if len(prompt_files) != 1:
        return None, None, f"upload one prompt file (JSONL, CSV or Parquet) with its images; got {len(prompt_files)} prompt files"
    return str(prompt_files[0]), UploadedImages.of([f for f in files if f is not prompt_files[0]]), ""


def preview_import(upload: str | list[str] | None, default_task: str) -> tuple[pd.DataFrame, pd.DataFrame, str, bool]:
    """Read an upload: (first 50 good rows, every bad row, message, whether it can be imported). Every image a row
    names is checked here (missing, unreadable, too large: the row is named, and nothing can be imported)."""
    good_cols, bad_cols = ["id", "prompt", "reference", "difficulty", "task", "images"], ["where", "problem"]
    path, images, wrong = split_upload(upload)
    if path is None:
        return pd.DataFrame(columns=good_cols), pd.DataFrame(columns=bad_cols), wrong, False
    try:
        report = read_checked_prompt_file(path, default_task, files=images)  # the same rows `k15 prompts import` accepts
    except Exception as err:  # K15Error: not a file we can read at all
        return pd.DataFrame(columns=good_cols), pd.DataFrame(columns=bad_cols), f"cannot import: {getattr(err, 'problem', err)}", False
    errors = list(report.errors)
    good = pd.DataFrame([[p.id, p.prompt, p.reference, p.difficulty, p.task, ", ".join(image_name(f) for f in p.meta.get("image_files", ()))]
                         for p in report.problems[:50]], columns=good_cols)
    bad = pd.DataFrame(errors, columns=bad_cols)
    if errors:
        return good, bad, f"{len(errors)} row(s) are wrong (listed below); nothing will be imported until the file is fixed.", False
    if not report.problems:
        return good, bad, "the file holds no prompts", False
    return good, bad, f"{len(report.problems)} prompts read, all valid. Press Import to add them.", True


def commit_import(store: Store, upload: str | list[str] | None, default_task: str, images=None) -> str:
    """Import a previewed upload, all of it or none; its images go to `images` (the workspace's image store) first."""
    _, _, message, ok = preview_import(upload, default_task)
    if not ok:
        return message
    path, files, _ = split_upload(upload)
    problems = read_checked_prompt_file(path, default_task, files=files).problems
    if any(p.images for p in problems):
        if images is None:
            return "cannot import: these prompts show images, and no image store was given"
        try:
            store_prompt_images(problems, images)
        except K15Error as err:
            return f"cannot import: {err.problem}"
    added = store.add_prompts(problems, source=f"file:{Path(path).name}")
    return f"{added} new prompts imported; {len(problems) - added} were already in the store"
