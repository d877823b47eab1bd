"""Token-level arrays as stored: little-endian int32 / float32 bytes, 4 bytes a value, not JSON lists.

The studio colours every token of a response, so each trajectory keeps its token ids, log-probs and
entropies; as binary they cost a quarter of their JSON text and decode without parsing.

>>> encode_ints([1, 2, 258])
b'\\x01\\x00\\x00\\x00\\x02\\x00\\x00\\x00\\x02\\x01\\x00\\x00'
>>> decode_ints(encode_ints([7, -1]))
[7, -1]
>>> decode_floats(encode_floats([0.5, -0.25]))
[0.5, -0.25]
"""
from __future__ import annotations

from typing import Iterable

import numpy as np


def encode_ints(values: Iterable[int]) -> bytes:
    return np.asarray(list(values), dtype="<i4").tobytes()


def encode_floats(values: Iterable[float]) -> bytes:
    return np.asarray(list(values), dtype="<f4").tobytes()


def decode_ints(blob: bytes) -> list[int]:
    return np.frombuffer(blob, dtype="<i4").tolist()


def decode_floats(blob: bytes) -> list[float]:
    return np.frombuffer(blob, dtype="<f4").tolist()
