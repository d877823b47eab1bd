"""Prompt files with an `images` column: every image checked at import (missing, unreadable, too many pixels or bytes:
the row is named and nothing is imported), the images stored content-addressed, the prompt row keeping addresses."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from k15core.errors import K15Error
from k15core.tasks import load_checked_prompt_file, read_checked_prompt_file, store_prompt_images
from k15core.tasks.prompt_file import report_rows
from k15core.tasks.prompt_images import FolderImages, ImageLimits, check_images, image_refs
from k15core.vlm.images import ImageStore, image_address

SCRIPT = "<script>window.__pwned = 3</script>"


def _png(path: Path, size=(8, 6), colour=(200, 30, 30), text: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    info = PngImagePlugin.PngInfo()
    if text:
        info.add_text("Comment", text)
    Image.new("RGB", size, colour).save(path, format="PNG", pnginfo=info)
    return path


def _row(images, prompt="Seq <image>, steps: 1\n", pid="p1") -> dict:
    return {"id": pid, "prompt": prompt, "reference": "5", "task": "visual-recurrence", "images": images}


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_image_paths_resolve_next_to_the_file_and_the_store_keeps_pixels_only(tmp_path):
    _png(tmp_path / "pics" / "a.png", text=SCRIPT)
    f = _write(tmp_path / "p.jsonl", [_row(["pics/a.png"]), _row([], prompt="Seq 123, steps: 1\n", pid="text-only")])
    problems = load_checked_prompt_file(f, "visual-recurrence")
    want = image_address(Image.new("RGB", (8, 6), (200, 30, 30)))
    assert [p.images for p in problems] == [(want,), ()]

    store = ImageStore(tmp_path / "ws" / "images")
    assert store_prompt_images(problems, store) == 1
    stored = store.path(want)
    assert stored.exists() and list(stored.parent.glob("*.png")) == [stored]
    with Image.open(stored) as img:
        assert "Comment" not in img.info and SCRIPT not in stored.read_bytes().decode("latin-1")  # the metadata stayed behind
    assert image_address(store.load(want)) == want


@pytest.mark.parametrize("limit, accepted", [(48, True), (47, False)])
def test_the_pixel_limit_at_its_boundary(tmp_path, limit, accepted):
    _png(tmp_path / "a.png", size=(8, 6))  # 48 pixels
    got = report_rows([("line 1", _row(["a.png"]))], "visual-recurrence", FolderImages(tmp_path), ImageLimits(max_pixels=limit))
    assert (len(got.problems) == 1) == accepted
    if not accepted:
        assert got.errors == [("line 1", "image 'a.png' is 8 x 6 = 48 pixels; the most is 47")]


def test_the_byte_limit_at_its_boundary(tmp_path):
    size = _png(tmp_path / "a.png").stat().st_size
    ok = report_rows([("line 1", _row(["a.png"]))], "visual-recurrence", FolderImages(tmp_path), ImageLimits(max_bytes=size))
    over = report_rows([("line 1", _row(["a.png"]))], "visual-recurrence", FolderImages(tmp_path), ImageLimits(max_bytes=size - 1))
    assert len(ok.problems) == 1 and not ok.errors
    assert over.errors == [("line 1", f"image 'a.png' is {size:,} bytes; the most is {size - 1:,}")]


def test_a_bad_image_names_its_row_and_nothing_is_imported(tmp_path, capsys):
    from k15core.cli import main

    _png(tmp_path / "good.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    f = _write(tmp_path / "p.jsonl", [_row(["good.png"], pid="a"), _row(["gone.png"], pid="b"), _row(["broken.png"], pid="c"),
                                      _row(["good.png", "good.png"], pid="d")])
    report = read_checked_prompt_file(f, "visual-recurrence")
    assert [p.id for p in report.problems] == ["a"]
    assert report.errors == [
        ("line 2", "image 'gone.png' is missing"),
        ("line 3", "image 'broken.png' is not an image that can be read (UnidentifiedImageError)"),
        ("line 4", "the prompt has 1 <image> marker(s) for 2 image(s); put one where each image goes"),
    ]
    ws = tmp_path / "ws"
    assert main(["prompts", "import", str(f), "--workspace", str(ws)]) == 2  # a K15Error
    assert "line 2: image 'gone.png' is missing" in capsys.readouterr().err
    assert not (ws / "images").exists() or not any((ws / "images").rglob("*.png"))  # nothing imported, not even the good image
    from k15core.store import Store

    assert Store(ws / "k15.db").prompts() == []


def test_the_cli_imports_image_prompts_with_addresses_in_the_row(tmp_path, capsys):
    from k15core.cli import main
    from k15core.store import Store

    _png(tmp_path / "a.png")
    f = _write(tmp_path / "p.jsonl", [_row(["a.png"])])
    assert main(["prompts", "import", str(f), "--workspace", str(tmp_path / "ws")]) == 0
    assert "1 images stored" in capsys.readouterr().out
    row = Store(tmp_path / "ws" / "k15.db").prompt("p1")
    assert row["images"] == [image_address(Image.new("RGB", (8, 6), (200, 30, 30)))]


def test_an_upload_finds_images_by_name_among_the_uploaded_files_only(tmp_path):
    from studio.prompts_import import UploadedImages

    outside = _png(tmp_path / "secret" / "x.png")
    uploaded = _png(tmp_path / "upload" / "y.png")
    files = UploadedImages.of([uploaded])
    assert files.locate("y.png") == uploaded and files.locate("some/folder/y.png") == uploaded
    assert files.locate(str(outside)) is None and files.locate("../secret/x.png") is None
    with pytest.raises(ValueError, match="missing"):
        check_images([str(outside)], "<image>", files)


def test_images_cells_in_every_form():
    assert image_refs(["a.png"]) == image_refs("a.png") == image_refs('["a.png"]') == ["a.png"]
    for bad in ([1], {"a": 1}, "[not json", [""]):
        with pytest.raises(ValueError):
            image_refs(bad)
    with pytest.raises(ValueError, match="no folder"):
        check_images(["a.png"], "<image>", None)


def test_a_file_changed_after_its_check_is_not_stored(tmp_path):
    path = _png(tmp_path / "a.png")
    problems = load_checked_prompt_file(_write(tmp_path / "p.jsonl", [_row(["a.png"])]), "visual-recurrence")
    _png(path, colour=(0, 0, 255))
    with pytest.raises(K15Error, match="changed since it was checked"):
        store_prompt_images(problems, ImageStore(tmp_path / "images"))
