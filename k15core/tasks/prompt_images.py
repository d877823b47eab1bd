"""The `images` column of a prompt file: image paths, each checked, then stored content-addressed in the workspace.

A row's `images` is a list of paths (JSONL/Parquet), or in a CSV cell one path or a JSON list of paths. A relative
path is read relative to the prompt file's folder (`FolderImages`); the studio's upload, which has no folder, finds
each image among the files uploaded with the prompt file by its file name (`studio.prompts_import.UploadedImages`),
so a studio user never makes the server read a path of their choosing. Every image is checked while the file is read (`check_images`):
missing, unreadable, too many pixels or too many bytes is a bad row with the reason, and a bad row stops the whole
import (`prompt_file.problems_or_error`). Only after that are the images written, to the image store
(`store_images`); a prompt row keeps their addresses, never the bytes.

A dataset's `datasets.Image` column (or a list of them; a Parquet file written by `datasets` holds the same cells) is
read undecoded, as each image's encoded bytes (`InlineImage`), and checked and stored exactly as a file is; its bytes
are held until the import stores them.

Each image is kept as its RGB pixels alone (re-encoded as PNG by the store): a file's metadata (text chunks, EXIF,
ICC profiles) is not carried over, so nothing a file smuggles in its metadata reaches a trajectory or the studio.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from PIL import Image, UnidentifiedImageError

from k15core.vlm.images import ImageStore, image_address

IMAGE_MARKER = "<image>"
"""Where a prompt's image goes in its text (`k15core.vlm.model.IMAGE_TOKEN`): one marker per image, in order."""


@dataclass(frozen=True)
class ImageLimits:
    """The largest image an import accepts. A picture for a vision-language model is a few hundred pixels a side;
    the limits keep a wrong file (a scan, a photo folder) or a decompression bomb from filling memory and the store."""

    max_pixels: int = 4096 * 4096
    max_bytes: int = 20 * 1024 * 1024
    max_images: int = 16
    """Images per prompt."""


LIMITS = ImageLimits()


class ImageFiles(Protocol):
    """Where an import finds the image a row names: its file, or None when there is none."""

    def locate(self, ref: str) -> Path | None: ...


@dataclass(frozen=True)
class FolderImages:
    """Paths relative to a prompt file's folder (absolute paths as they are): `k15 prompts import`, a user's own files."""

    base: Path

    def locate(self, ref: str) -> Path | None:
        path = Path(ref).expanduser()
        return path if path.is_absolute() else self.base / path


@dataclass(frozen=True)
class InlineImage:
    """An image a dataset row holds itself: a `datasets.Image` cell, read as its encoded bytes (`dataset_source`
    casts the column to `Image(decode=False)`), named by its original path where it has one."""

    data: bytes
    name: str

    def __repr__(self) -> str:  # the bytes stay out of messages and logs
        return f"InlineImage({self.name!r}, {len(self.data):,} bytes)"


ImageSource = Path | InlineImage
"""Where a checked image is read again to be stored: a file, or the bytes a dataset row held."""


@dataclass(frozen=True)
class CheckedImages:
    """A row's images, read and checked: their addresses (what the prompt row keeps) and sources (read again to store)."""

    addresses: tuple[str, ...]
    files: tuple[ImageSource, ...]


def image_refs(value: object) -> list[str | InlineImage]:
    """The images an `images` cell names: [] for none; a list of paths; one path, or a JSON list, in a string; a
    `datasets.Image` cell undecoded ({"bytes", "path"}; bytes None: the path), or a list of them.

    >>> image_refs('["a.png", "b.png"]'), image_refs("a.png"), image_refs(None), image_refs("")
    (['a.png', 'b.png'], ['a.png'], [], [])
    >>> image_refs([{"bytes": b"PNG...", "path": "cat.png"}, {"bytes": None, "path": "dog.png"}])
    [InlineImage('cat.png', 6 bytes), 'dog.png']
    """
    if value is None or value == "" or value == []:
        return []
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError("'images' is not a JSON list of paths") from None
    if isinstance(value, (str, dict)):
        value = [value]
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list):
        raise ValueError("'images' must be a list of image paths")
    return [_ref(v, i) for i, v in enumerate(value, 1)]


def _ref(value: object, number: int) -> str | InlineImage:
    if isinstance(value, dict) and set(value) <= {"bytes", "path"}:
        if isinstance(value.get("bytes"), bytes):
            return InlineImage(value["bytes"], str(value.get("path") or f"image {number}"))
        value = value.get("path")
    if not isinstance(value, str) or not value.strip():
        raise ValueError("'images' must be a list of image paths")
    return value.strip()


def read_image(path: Path, ref: str, limits: ImageLimits = LIMITS) -> Image.Image:
    """The image at `path` as RGB pixels only (no metadata), or ValueError naming `ref` and what is wrong with it.
    The byte and pixel limits are checked before the pixels are decoded."""
    if not path.is_file():
        raise ValueError(f"image {ref[:200]!r} is missing")
    return _decode(path, path.stat().st_size, ref, limits)


def read_inline_image(image: InlineImage, limits: ImageLimits = LIMITS) -> Image.Image:
    """A dataset row's own image as RGB pixels only, checked as a file is (`read_image`)."""
    return _decode(io.BytesIO(image.data), len(image.data), image.name, limits)


def read_source(source: ImageSource, limits: ImageLimits = LIMITS) -> Image.Image:
    """A checked image read again from where it came from."""
    return read_inline_image(source, limits) if isinstance(source, InlineImage) else read_image(Path(source), image_name(source), limits)


def _decode(file, size: int, ref: str, limits: ImageLimits) -> Image.Image:
    shown = repr(ref[:200])
    if size > limits.max_bytes:
        raise ValueError(f"image {shown} is {size:,} bytes; the most is {limits.max_bytes:,}")
    try:
        with Image.open(file) as f:
            pixels = f.width * f.height  # read from the header: a decompression bomb is refused before it is decoded
            if pixels > limits.max_pixels:
                raise ValueError(f"image {shown} is {f.width} x {f.height} = {pixels:,} pixels; the most is {limits.max_pixels:,}")
            rgb = f.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as err:
        raise ValueError(f"image {shown} is not an image that can be read ({type(err).__name__})") from None
    return Image.frombytes("RGB", rgb.size, rgb.tobytes())  # pixels alone: no text chunk, EXIF or profile travels on


def check_images(value: object, prompt: str, files: ImageFiles | None, limits: ImageLimits = LIMITS) -> CheckedImages:
    """Check a row's `images` cell against its prompt; ValueError with the reason for the first thing wrong."""
    refs = image_refs(value)
    if not refs:
        return CheckedImages((), ())
    if len(refs) > limits.max_images:
        raise ValueError(f"{len(refs)} images; the most a prompt may show is {limits.max_images}")
    markers = prompt.count(IMAGE_MARKER)
    if markers != len(refs):
        raise ValueError(f"the prompt has {markers} {IMAGE_MARKER} marker(s) for {len(refs)} image(s); put one where each image goes")
    addresses, found = [], []
    for ref in refs:
        if isinstance(ref, InlineImage):
            addresses.append(image_address(read_inline_image(ref, limits)))
            found.append(ref)
            continue
        if files is None:
            raise ValueError("'images' names files, but this source has no folder to read them from")
        path = files.locate(ref)
        if path is None:
            raise ValueError(f"image {ref[:200]!r} is missing (upload it together with the prompt file)")
        addresses.append(image_address(read_image(path, ref, limits)))
        found.append(path)
    return CheckedImages(tuple(addresses), tuple(found))


def store_images(problems: list, store: ImageStore, limits: ImageLimits = LIMITS) -> int:
    """Put the images of checked problems (`meta["image_files"]`) into the workspace's image store; returns how many
    images the problems show. A file changed since it was checked (its address differs) is a ValueError, raised
    before the prompts are added, so the store never holds a prompt whose image is not the one checked."""
    count = 0
    for p in problems:
        for address, source in zip(p.images, p.meta.get("image_files", ())):
            img = read_source(source, limits)
            if image_address(img) != address:
                raise ValueError(f"image {image_name(source)!r} of prompt {p.id!r} changed since it was checked; import again")
            store.put(img)
            count += 1
    return count


def image_name(source: ImageSource) -> str:
    """How messages and the studio's preview name a checked image: its file's name, or a dataset image's."""
    return source.name if isinstance(source, InlineImage) else Path(source).name
