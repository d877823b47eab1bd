"""A Hugging Face dataset's `Image` column (one image a row, or a list): each image read as its encoded bytes, checked
as an image file is (too many bytes or pixels, unreadable: the row is named, nothing imported), then stored
content-addressed as its pixels alone; the same from a dataset folder and from a Parquet file `datasets` wrote."""
from __future__ import annotations

import io

import pytest
from PIL import Image, PngImagePlugin

from k15core.cli import main
from k15core.store import Store
from k15core.tasks import read_checked_prompt_file, store_prompt_images
from k15core.vlm.images import ImageStore, image_address

SCRIPT = "<script>window.__pwned = 3</script>"


def _png_bytes(size=(8, 6), colour=(200, 30, 30), text: str | None = None) -> bytes:
    info = PngImagePlugin.PngInfo()
    if text:
        info.add_text("Comment", text)
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def _dataset(images: list, column_type: str = "one"):
    """A dataset of visual-recurrence rows whose `picture` column is a datasets.Image (or a list of them)."""
    from datasets import Dataset, Features, List, Value
    from datasets import Image as HFImage

    n = len(images)
    feature = HFImage() if column_type == "one" else List(HFImage())
    cells = [{"bytes": b, "path": f"pic{i}.png"} for i, b in enumerate(images)]
    return Dataset.from_dict({"id": [f"r{i}" for i in range(n)], "prompt": ["Seq <image>, steps: 1\n"] * n, "reference": ["5"] * n,
                              "task": ["visual-recurrence"] * n, "picture": cells if column_type == "one" else [[c] for c in cells]},
                             features=Features({"id": Value("string"), "prompt": Value("string"), "reference": Value("string"),
                                                "task": Value("string"), "picture": feature}))


@pytest.mark.parametrize("column_type", ["one", "list"])
def test_an_image_column_is_checked_and_stored_as_pixels_alone(tmp_path, column_type):
    red, blue = _png_bytes(text=SCRIPT), _png_bytes(colour=(0, 0, 255))
    report = read_checked_prompt_file(_dataset([red, blue], column_type), "visual-recurrence", columns="images=picture")
    assert report.errors == []
    want = [image_address(Image.open(io.BytesIO(b)).convert("RGB")) for b in (red, blue)]
    assert [p.images for p in report.problems] == [(want[0],), (want[1],)]
    store = ImageStore(tmp_path / "images")
    assert store_prompt_images(report.problems, store) == 2
    kept = store.load(want[0])
    assert kept.tobytes() == Image.open(io.BytesIO(red)).convert("RGB").tobytes()
    assert not any(SCRIPT.encode() in f.read_bytes() for f in (tmp_path / "images").rglob("*.png"))  # the text chunk stayed behind


def test_a_bad_dataset_image_names_its_row_and_nothing_is_imported(tmp_path, capsys):
    huge = io.BytesIO()
    Image.new("L", (4100, 4100), 0).save(huge, format="PNG")  # a few KB of PNG, 16.8 M pixels: refused before decoding
    dataset = _dataset([_png_bytes(), b"\x89PNG\r\n\x1a\n not really", huge.getvalue()])
    report = read_checked_prompt_file(dataset, "visual-recurrence", columns="images=picture")
    assert [p.id for p in report.problems] == ["r0"]
    assert report.errors == [
        ("row 2", "image 'pic1.png' is not an image that can be read (UnidentifiedImageError)"),
        ("row 3", "image 'pic2.png' is 4100 x 4100 = 16,810,000 pixels; the most is 16,777,216"),
    ]
    folder = tmp_path / "ds"
    dataset.save_to_disk(str(folder))
    ws = tmp_path / "ws"
    assert main(["prompts", "import", str(folder), "--columns", "images=picture", "--workspace", str(ws), "--quiet"]) == 2
    assert "row 3: image 'pic2.png' is 4100 x 4100" in capsys.readouterr().err
    assert not (ws / "images").exists() or not any((ws / "images").rglob("*.png"))
    assert Store(ws / "k15.db").prompts() == []


def test_k15_prompts_import_reads_images_from_a_dataset_folder_and_from_a_parquet_file(tmp_path, capsys):
    dataset = _dataset([_png_bytes(), _png_bytes(colour=(0, 90, 0))], "list").rename_column("picture", "images")
    folder, parquet = tmp_path / "ds", tmp_path / "p.parquet"
    dataset.save_to_disk(str(folder))
    dataset.to_parquet(str(parquet))  # datasets writes each image as a {bytes, path} struct
    want = {f"r{i}": [image_address(Image.new("RGB", (8, 6), c))] for i, c in enumerate([(200, 30, 30), (0, 90, 0)])}
    for source, ws in ((folder, tmp_path / "w1"), (parquet, tmp_path / "w2")):
        assert main(["prompts", "import", str(source), "--workspace", str(ws)]) == 0
        assert "2 images stored" in capsys.readouterr().out
        store = Store(ws / "k15.db")
        assert {pid: store.prompt(pid)["images"] for pid in want} == want
