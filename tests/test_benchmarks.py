"""Benchmarks run in smoke mode and print their JSON contract (no timing assertions here)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_warmup_benchmark_smoke():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "warmup.py"), "--smoke"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["smoke"] is True
    assert result["fp32_tokens_per_s"] > 0 and result["bf16_tokens_per_s"] > 0
    assert result["bf16_over_fp32"] == pytest.approx(result["bf16_tokens_per_s"] / result["fp32_tokens_per_s"], rel=0.01)
    assert isinstance(result["bf16_native"], bool)
