"""glibc's malloc, told to give freed memory back: less peak memory, at half the speed, so off unless asked for.

A training step frees and re-allocates tensors of many sizes (activations, gradients, padded batches whose
length changes every step). glibc serves requests under its mmap threshold from heaps (arenas) and keeps the
freed pages for reuse; its threshold also grows by itself, after the first large block is freed, up to 32 MiB,
so later activations land in the heap too. The heap then fragments and the process keeps hundreds of MiB it no
longer uses: measured on the demo's warm-up (benchmarks/memory.py), peak RSS grew from about 410 MiB with the
model built to 900 MiB, although one step's tensors need far less.

`tune()` sets, through `mallopt` (the same knobs as the MALLOC_*_ environment variables, which must be set
before the process starts and so cannot come from a command):
- M_MMAP_THRESHOLD 128 KiB, fixed: blocks from 128 KiB up are their own mappings and go back to the kernel
  when freed; fixing the value also stops glibc from raising it;
- M_ARENA_MAX 2: more arenas (8 per core by default) each keep their own free pages.

The trim threshold is left at glibc's default: a trim at every free (MALLOC_TRIM_THRESHOLD_=0) measured the same
peak. A value already given in the environment wins (a person measuring other settings). Not glibc (macOS, musl):
nothing is done.

Off by default (choice, measured): it is on only with K15_MALLOC_TUNING=1. Every block from 128 KiB up then
costs an mmap, page faults and an munmap, and on the 2-core development machine that halved the warm-up's and the
rollouts' tokens/s (benchmarks/malloc_tuning.py: 0.51x and 0.52x) for a peak 10-15 % lower (the whole demo,
benchmarks/memory.py: 642 against 758 MiB). A fixed threshold of 1 or 4 MiB keeps the speed and saves nothing.
For a machine where memory, not time, is short.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os

M_MMAP_THRESHOLD, M_ARENA_MAX = -3, -8  # glibc's malloc.h
MMAP_THRESHOLD = 128 * 1024
ARENA_MAX = 2
SETTINGS = {  # mallopt parameter -> (its environment variable, value)
    M_MMAP_THRESHOLD: ("MALLOC_MMAP_THRESHOLD_", MMAP_THRESHOLD),
    M_ARENA_MAX: ("MALLOC_ARENA_MAX", ARENA_MAX),
}


def _libc():
    """The C library if it is glibc (it has mallopt and malloc_trim), else None."""
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.gnu_get_libc_version  # only glibc has it
    except (OSError, AttributeError):
        return None
    return libc


def tune(environ: dict[str, str] | None = None) -> dict[str, int]:
    """With K15_MALLOC_TUNING=1, apply SETTINGS where the environment does not set them; returns the ones applied
    ({} when off or not glibc)."""
    environ = os.environ if environ is None else environ
    libc = _libc()
    if libc is None or environ.get("K15_MALLOC_TUNING", "0") != "1":
        return {}
    applied = {}
    for param, (variable, value) in SETTINGS.items():
        if variable in environ:
            continue
        if libc.mallopt(ctypes.c_int(param), ctypes.c_int(value)) == 1:  # 1 = success
            applied[variable] = value
    return applied
