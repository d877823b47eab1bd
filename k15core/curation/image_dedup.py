"""Near-duplicate images for prompt de-duplication: a perceptual hash (pHash) per image, compared by Hamming distance.

pHash: the picture is made grey and shrunk to (4 * size) pixels a side, its 2-D discrete cosine transform taken,
and each of the size * size lowest frequencies (less the constant one) becomes a bit: above their median or not.
Pixel noise and re-encoding live in the high frequencies, which are dropped, so a re-saved or re-noised copy keeps
nearly all its bits, while a different picture flips about half. Measured on the shipped task's 48 x 48 digit
drawings (60 pictures, tests/k15core/curation/test_image_dedup.py): Gaussian noise of sigma 12 grey levels changes
at most 13 % of the bits (mean 6 %); another drawing, of the same digits or others, changes at least 35 % (mean
46 %). Over 500 different drawings (124,750 pairs) 2 pairs lie within 15 % and 36 within 22 %: MAX_DISTANCE is 0.15,
which keeps those chance look-alikes to about 1 in 60,000 pairs. A difference hash (dHash, pixel against neighbour)
was tried first: on the plain backgrounds of those drawings noise alone flipped 41 % of its bits. numpy and Pillow
only, no extra dependency.

How it joins the text de-duplication (`k15core.curation.run.curate_duplicates`): two image prompts repeat each
other only when their texts do (exact or near, as for text prompts) and their images do too, image by image in
order. The texts of a task's image prompts are often the same ("Seq <image>, steps: 4"): the images tell them apart.
"""
from __future__ import annotations

import functools

import numpy as np
from PIL import Image

HASH_SIZE = 12
MAX_DISTANCE = 0.15
"""Largest share of differing bits for two images to count as one (21 of the 143 bits)."""


@functools.lru_cache(maxsize=8)
def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)
    return np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n))


def phash(img: Image.Image, size: int = HASH_SIZE) -> np.ndarray:
    """The image's perceptual hash: size * size - 1 booleans."""
    n = 4 * size
    grey = np.asarray(img.convert("L").resize((n, n), Image.Resampling.LANCZOS), dtype=np.float64)
    dct = _dct_matrix(n)
    low = (dct @ grey @ dct.T)[:size, :size].ravel()[1:]  # the constant term says only how bright the picture is
    return low > np.median(low)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Share of differing bits of two hashes of one size, 0 (the same) to 1."""
    return float(np.count_nonzero(a != b)) / a.size


def image_groups(items: list[tuple[str, tuple[np.ndarray, ...]]], max_distance: float = MAX_DISTANCE) -> dict[str, str]:
    """prompt id -> the id of the first prompt (in the order given) whose images all lie within `max_distance` of its
    own, image by image (itself when none does). Prompts without images are left out: they are one group, the text's.
    Each prompt is compared with the first prompt of every group so far, the hashes of one image position at a time
    in one array operation."""
    heads: dict[int, list[tuple[str, tuple[np.ndarray, ...]]]] = {}  # image count -> (id, hashes) of each group's first
    out: dict[str, str] = {}
    for pid, hashes in items:
        if not hashes:
            continue
        same_count = heads.setdefault(len(hashes), [])
        close = np.ones(len(same_count), dtype=bool)
        for i, h in enumerate(hashes):
            if same_count:
                stacked = np.stack([head[1][i] for head in same_count])
                close &= np.count_nonzero(stacked != h, axis=1) <= max_distance * h.size
        match = int(np.argmax(close)) if close.any() else None
        if match is None:
            same_count.append((pid, hashes))
            out[pid] = pid
        else:
            out[pid] = same_count[match][0]
    return out


def dedup_groups(problems: list, images) -> dict[str, str]:
    """prompt id -> the group its text is de-duplicated in: "" for every text prompt, and for an image prompt the first
    prompt whose images are near-duplicates of its own (`image_groups`). An image prompt whose images cannot be read
    (no image store given, a file gone) is a group of its own: it is never called a copy on its text alone."""
    hashed, alone = [], {}
    for p in problems:
        if not p.images:
            continue
        try:
            hashed.append((p.id, tuple(phash(images.load(a)) for a in p.images)))
        except Exception:  # K15Error from the store (missing, or not the image its address says), or no store at all
            alone[p.id] = p.id
    groups = {pid: f"image:{head}" for pid, head in image_groups(hashed).items()}
    return {p.id: groups.get(p.id) or alone.get(p.id, "") for p in problems}
