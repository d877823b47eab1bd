"""Run a benchmark script in the test's own process, as `python benchmarks/<script> args` would run it.

Why: a fresh interpreter per benchmark smoke test paid some 3 to 6 s of imports (torch, transformers) each; in
the test's process they are paid once. A benchmark that measures a process's memory, or starts or kills
processes of its own, keeps a process of its own (subprocess) instead.
"""
from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_benchmark(monkeypatch, capsys, script: str, *args: str) -> list[str]:
    """stdout lines of `python benchmarks/<script> args`, run in this process as its `__main__` (cwd and environment
    as they were afterwards). A benchmark that fails raises here, with its traceback."""
    path = ROOT / "benchmarks" / script
    monkeypatch.setattr(sys, "argv", [str(path), *args])
    monkeypatch.chdir(ROOT)
    monkeypatch.syspath_prepend(str(path.parent))
    saved = dict(os.environ)
    capsys.readouterr()
    try:
        runpy.run_path(str(path), run_name="__main__")
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return capsys.readouterr().out.strip().splitlines()
