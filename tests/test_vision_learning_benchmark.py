"""benchmarks/vision_learning.py: its summary over seeds (hand numbers) and the whole script in smoke mode."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from benchmark_runner import run_benchmark

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("vision_learning", ROOT / "benchmarks" / "vision_learning.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(seed: int, warm: list[float], rl: list[float], minutes: float) -> dict:
    levels = [str(d) for d in range(1, len(warm) + 1)]
    return {"seed": seed, "acc_warmup": sum(warm) / len(warm), "acc_rl": sum(rl) / len(rl), "len_warmup": 20.0, "len_rl": 30.0,
            "acc_by_level_warmup": dict(zip(levels, warm)), "acc_by_level_rl": dict(zip(levels, rl)),
            "len_by_level_warmup": dict.fromkeys(levels, 20.0), "len_by_level_rl": dict.fromkeys(levels, 30.0),
            "warmup_minutes": minutes / 2, "rl_minutes": minutes / 2, "total_minutes": minutes, "warmup_cpu_minutes": 1.0,
            "rl_cpu_minutes": 1.0, "load_start": 1.0, "load_end": 1.0}


def test_summary_means_sds_gains_and_the_issues_criteria():
    bench = _bench()
    # seed 0: 0.5 -> 0.7 overall (+20), hard level 0.2 -> 0.6 (+40); seed 1: 0.5 -> 0.8 (+30), hard 0.2 -> 0.8 (+60)
    runs = [_run(0, [0.8, 0.2], [0.8, 0.6], 12.0), _run(1, [0.8, 0.2], [0.8, 0.8], 14.0)]
    s = bench.summarise(runs)
    assert s["seeds"] == [0, 1]
    assert s["gain_points"] == pytest.approx(25.0) and s["gain_points_std"] == pytest.approx(5.0)  # population sd
    assert s["gain_points_by_level"] == pytest.approx({"1": 0.0, "2": 50.0})
    assert s["gain_points_by_level_std"] == pytest.approx({"1": 0.0, "2": 10.0})
    assert s["acc_by_level_rl"] == pytest.approx({"1": 0.8, "2": 0.7})
    assert s["total_minutes"] == pytest.approx(13.0) and s["total_minutes_std"] == pytest.approx(1.0)
    assert s["done_when"] == {"gain_at_least_15_points": True, "hardest_level_gains_most": True, "warmup_plus_rl_at_most_15_minutes": True}
    # the easy level gains most, by too little, in too long: every criterion fails
    worse = bench.summarise([_run(0, [0.2, 0.2], [0.4, 0.2], 16.0)])
    assert worse["gain_points"] == pytest.approx(10.0)
    assert worse["done_when"] == {"gain_at_least_15_points": False, "hardest_level_gains_most": False, "warmup_plus_rl_at_most_15_minutes": False}


@pytest.mark.slow
def test_vision_learning_benchmark_smoke(tmp_path, monkeypatch, capsys):
    """The whole script on a tiny VLM and budget (one seed); the seed's result is kept in the workspace for a rerun."""
    out = run_benchmark(monkeypatch, capsys, "vision_learning.py", "--smoke", "--seeds", "3", "--samples", "1", "--workspace", str(tmp_path / "ws"))
    lines = [json.loads(line) for line in out]
    seed, summary = lines[-2], lines[-1]
    assert lines[0]["seed"] == 3 and set(lines[0]["warmup"]["acc_by_level"]) == {"1", "2", "3", "4", "5"}
    assert seed["seed"] == 3 and "reused" not in seed and summary["smoke"] is True
    assert summary["acc_rl"] == seed["acc_rl"] and summary["acc_warmup"] == lines[0]["warmup"]["acc"]
    assert summary["total_minutes"] == pytest.approx(seed["warmup_minutes"] + seed["rl_minutes"]) and seed["rl_minutes"] > 0
    assert 0 <= seed["read_warmup"] <= 1 and summary["read_rl"] == seed["read_rl"] and lines[0]["read_warmup"] == seed["read_warmup"]
    assert set(summary["done_when"]) == {"gain_at_least_15_points", "hardest_level_gains_most", "warmup_plus_rl_at_most_15_minutes"}
    # the project's stages made the models (a VLM each) and recorded the runs
    for name in ("tiny-vlm-s3", "warmup-s3", "rl-s3"):
        assert "vision_config" in json.loads((tmp_path / "ws" / "models" / name / "config.json").read_text()), name
    kept = list((tmp_path / "ws" / "bench-runs").glob("vision-s3-*.json"))  # what a rerun on this workspace reads back
    assert len(kept) == 1 and json.loads(kept[0].read_text()) == seed
