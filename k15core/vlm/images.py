"""Content-addressed images: a prompt refers to its images by address, the workspace keeps each one once.

The address of an image is the SHA-256 of its decoded pixels (mode, size and raw bytes), not of a file: the
same picture saved as PNG by two Pillow/zlib versions, or imported twice, has one address (choice). Files
live in <workspace>/images/<first 2 hex digits>/<address>.png, written whole or not at all; trajectories and
prompt rows carry only addresses, never image bytes.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from PIL import Image

from k15core.errors import K15Error


def image_address(img: Image.Image) -> str:
    """The SHA-256 hex digest of the image's mode, size and pixels.

    >>> image_address(Image.new("L", (2, 2), 0)) == image_address(Image.new("L", (2, 2), 0))
    True
    >>> image_address(Image.new("L", (2, 2), 0)) == image_address(Image.new("L", (2, 2), 1))
    False
    """
    digest = hashlib.sha256(f"{img.mode}:{img.width}x{img.height}:".encode())
    digest.update(img.tobytes())
    return digest.hexdigest()


class ImageStore:
    """The images of one workspace, by address."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, address: str) -> Path:
        if len(address) != 64 or any(c not in "0123456789abcdef" for c in address):
            raise K15Error(f"{address!r} is not an image address", "an address is the 64 hex digits image_address gives")
        return self.root / address[:2] / f"{address}.png"

    def put(self, img: Image.Image) -> str:
        """Store `img` (once: an address already stored is not written again); returns its address."""
        address = image_address(img)
        target = self.path(address)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            img.save(tmp, format="PNG")
            os.replace(tmp, target)  # whole or not at all, also with two writers of the same image
        return address

    def load(self, address: str) -> Image.Image:
        """The stored image (RGB), checked against its address."""
        target = self.path(address)
        if not target.exists():
            raise K15Error(f"image {address[:12]}... is not in {self.root}", "store the prompts' images first (ImageStore.put)")
        with Image.open(target) as f:
            img = f.convert("RGB") if f.mode != "RGB" else f.copy()
        if image_address(img) != address:
            raise K15Error(f"the image file {target} does not hold the image its name says", "delete it and store the image again")
        return img

    def __contains__(self, address: str) -> bool:
        return self.path(address).exists()
