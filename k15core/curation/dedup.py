"""De-duplication of prompts: exact (after normalising case and spacing) and near duplicates (MinHash
LSH from `datasketch` over word 3-shingles, each candidate confirmed with its exact Jaccard similarity).

Choices the report leaves open: words, not characters, are shingled and numbers are words, so
"Seq 372, steps: 4" and "Seq 372, steps: 5" (different problems) stay apart while a reworded copy of a
long question is caught; the threshold is a Jaccard similarity of 0.8; in each cluster the first
prompt (in the order given: by id) is kept and every other one points at it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from datasketch import MinHash, MinHashLSH

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Duplicate:
    dropped: str
    kept: str
    similarity: float
    """Exact Jaccard similarity of the two prompts' shingle sets (1.0 for exact duplicates)."""
    kind: str
    """'exact' (same text after normalising) or 'near'."""


def normalise(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def shingles(text: str, n: int = 3) -> set[str]:
    """Word n-grams of the normalised text; a text shorter than n words is one shingle."""
    words = normalise(text).split()
    if len(words) < n:
        return {" ".join(words)}
    return {" ".join(words[i:i + n]) for i in range(len(words) - n + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def find_duplicates(items: list[tuple[str, str]], threshold: float = 0.8, num_perm: int = 128, seed: int = 0) -> list[Duplicate]:
    """Duplicates among (id, text) items: each later copy points at the first prompt of its cluster."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    first_by_text: dict[str, str] = {}
    kept_shingles: dict[str, set[str]] = {}
    out: list[Duplicate] = []
    for pid, text in items:
        key = normalise(text)
        if key in first_by_text:
            out.append(Duplicate(pid, first_by_text[key], 1.0, "exact"))
            continue
        sh = shingles(text)
        mh = MinHash(num_perm=num_perm, seed=seed)
        mh.update_batch([s.encode() for s in sh])
        best = max(((jaccard(sh, kept_shingles[c]), c) for c in lsh.query(mh)), default=(0.0, ""))
        if best[0] >= threshold:  # LSH proposes; the exact similarity decides
            out.append(Duplicate(pid, best[1], round(best[0], 4), "near"))
            continue
        first_by_text[key] = pid
        kept_shingles[pid] = sh
        lsh.insert(pid, mh)
    return out
