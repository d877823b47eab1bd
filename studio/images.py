"""A prompt's images on a studio page: the Rollouts group view and the Prompts focus view show them beside the text.

Served safely (choices):
- only from the workspace's image store, by address (`ImageStore.path` accepts 64 hex digits and nothing else, and
  `load` checks the file holds the image its address says): no path a user typed, no file outside images/;
- as data: URIs inside the view's HTML, so no file route is opened and nothing is served apart from the page;
- re-encoded as PNG from the pixels alone: whatever a file carried besides pixels (text chunks, EXIF, scripts in
  them) never reaches the page, and the browser decodes nothing but a plain PNG;
- every word around them (alt text, captions, messages) goes through `html.escape`;
- shrunk to at most `MAX_SIDE` pixels a side before encoding, so a large picture does not bloat each refresh of
  the view; small pictures (the tiny model's 48 x 48) are drawn larger, pixels kept sharp.
"""
from __future__ import annotations

import base64
import functools
import html
import io

from PIL import Image

from k15core.errors import K15Error
from k15core.vlm.images import ImageStore

MAX_SIDE = 512
"""Largest side, in pixels, of the copy a page gets."""
SHOWN_SIDE = 160
"""Smaller pictures are drawn this large on the page (CSS), pixelated rather than blurred."""


@functools.lru_cache(maxsize=512)
def _data_uri(root: str, address: str) -> tuple[str, int, int]:
    """(data: URI of the stored image as a fresh PNG, width, height). Cached: an address always names the same pixels."""
    img = ImageStore(root).load(address)
    img.thumbnail((MAX_SIDE, MAX_SIDE))
    pixels = Image.frombytes("RGB", img.size, img.convert("RGB").tobytes())  # pixels alone, nothing the file carried
    buffer = io.BytesIO()
    pixels.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"), pixels.width, pixels.height


def images_html(store: ImageStore | None, addresses: list[str] | tuple[str, ...], owner: str) -> str:
    """The images (in order) of the prompt `owner` (its id, for the alt text) as a row of figures; "" for a text
    prompt. An image the store cannot give (gone, damaged) is named in a line of text instead."""
    if not addresses:
        return ""
    figures = []
    for i, address in enumerate(addresses, start=1):
        caption = f"image {i} of {len(addresses)} · {str(address)[:12]}"
        try:
            if store is None:
                raise K15Error("no image store", "")
            uri, width, height = _data_uri(str(store.root), str(address))
        except (K15Error, OSError, ValueError) as err:
            why = getattr(err, "problem", None) or str(err)
            figures.append(f'<figure class="k15-image k15-image-missing"><figcaption>{html.escape(caption)}: cannot be shown '
                           f"({html.escape(why)})</figcaption></figure>")
            continue
        scale = max(1, SHOWN_SIDE // max(width, height))
        alt = f"image {i} of prompt {owner}"
        figures.append(
            f'<figure class="k15-image" data-address="{html.escape(str(address), quote=True)}">'
            f'<img src="{uri}" alt="{html.escape(alt, quote=True)}" width="{width * scale}" height="{height * scale}" '
            f'style="image-rendering: pixelated; border: 1px solid #ccc">'
            f"<figcaption><small>{html.escape(caption)} · {width} x {height}</small></figcaption></figure>"
        )
    return f'<div class="k15-images" style="display: flex; gap: 12px; flex-wrap: wrap">{"".join(figures)}</div>'
