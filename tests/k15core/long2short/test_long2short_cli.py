"""`k15 long2short` end to end on a small model: short baseline, merge, rejection, DPO, RL, compare."""
from __future__ import annotations

import json

import pytest
import yaml

from k15core.long2short.stages import L2S_RL_PRESET
from k15core.store import Store

pytestmark = pytest.mark.slow
SMALL_MODEL = ["model.hidden_size=64", "model.num_layers=2", "model.num_heads=2", "model.num_kv_heads=1", "model.intermediate_size=128"]
# Budgets that only exercise the code paths. The prompts ask for a digit and the math task reads the last
# number of the last line, so even a barely trained model is sometimes right, with answers of any length:
# correct samples of different lengths exist for rejection sampling and DPO to use.
BUDGET = ["sft.examples=1280", "sft.batch_size=32", "sft.warmup_steps=5", "sft.lr=3e-3", "sft.style_mix={short: 0.5, long: 0.5}", "sft.style_mix_by_level={}", "long2short.prompts=12", "long2short.samples=6", "long2short.max_new_tokens=24",
          "long2short.rs_epochs=1", "long2short.dpo_epochs=1", "long2short.dpo_batch_size=4", "long2short.max_pairs=2",
          "rl.iterations=1", "rl.prompts_per_iter=4", "rl.k=4", "rl.pool_size=8", "eval.max_new_tokens=24", "eval.samples=1"]


def digit_prompts(path):
    rows = [{"prompt": f"Say the digit {d} ({i}).", "reference": str(d), "difficulty": 1 + i % 2} for i, d in enumerate([1, 2, 3, 4, 5, 6, 7, 8, 9] * 2)]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def k15(*argv):
    from k15core.cli import main

    return main(list(argv))


def test_every_method_makes_a_model_and_compare_reports_them(tmp_path, capsys):
    ws = str(tmp_path / "ws")
    task = ["task.name=math", f"task.path={digit_prompts(tmp_path / 'digits.jsonl')}"]
    sets = [x for kv in SMALL_MODEL + BUDGET + task for x in ("--set", kv)]
    common = ["--workspace", ws, "--quiet", *sets]
    assert k15("sft", *common, "--out", "rl") == 0  # stands in for the long model
    assert k15("long2short", "short", *common) == 0
    assert k15("long2short", "merge", *common, "--alpha", "0.5") == 0
    assert "merged rl (0.5) and short (0.5)" in capsys.readouterr().out
    assert k15("long2short", "rejection", *common) == 0
    out = capsys.readouterr().out
    kept = int(out.split("rejection sampling: ")[1].split(" of ")[0])
    assert 0 < kept <= 12  # the math sample split: 12 training prompts drawn
    assert k15("long2short", "dpo", *common) == 0
    assert "pairs from 12 prompts" in capsys.readouterr().out
    assert k15("long2short", "rl", *common) == 0
    preset = yaml.safe_load(L2S_RL_PRESET.read_text())["rl"]
    assert f"length penalty {preset['length_penalty']}, cap {preset['max_response_tokens']} tokens" in capsys.readouterr().out  # the preset, layered on the config
    rows_file = tmp_path / "rows.json"
    assert k15("long2short", "compare", *common, "long=rl", "short=short", "merge=l2s-merge", "rs=l2s-rejection", "dpo=l2s-dpo",
               "rl=l2s-rl", "--json", str(rows_file)) == 0
    rows = json.loads(rows_file.read_text())
    assert {r["model"] for r in rows} == {"long", "short", "merge", "rs", "dpo", "rl"}
    assert all(0 <= r["accuracy"] <= 1 and r["len_mean"] > 0 for r in rows)
    runs = Store(tmp_path / "ws" / "k15.db").runs()
    assert {r["name"] for r in runs} >= {"long2short:merge:l2s-merge", "long2short:rejection:l2s-rejection", "long2short:dpo:l2s-dpo",
                                         "eval:l2s:merge", "eval:l2s:rl"}
    assert k15("long2short", "compare", *common, "nonsense") == 2
