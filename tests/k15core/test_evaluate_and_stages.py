"""Evaluation summaries (hand numbers), and the stages end to end on a tiny budget."""
from __future__ import annotations

import re
import urllib.request

import pytest

from k15core import stages
from k15core.cli import main
from k15core.config import load_config
from k15core.evaluate import ALL, _rows, eval_metrics
from k15core.types import TrajectoryRecord


def _rec(difficulty: int, correct: float, length: int) -> TrajectoryRecord:
    return TrajectoryRecord("p", 0, "q", "r", [0] * length, [0.0] * length, correct, correct, length, difficulty=difficulty)


def test_rows_hand_numbers():
    records = [_rec(1, 1.0, 10), _rec(1, 0.0, 20), _rec(2, 1.0, 30), _rec(2, 1.0, 50), _rec(2, 0.0, 100)]
    rows = {r.difficulty: r for r in _rows("free", records)}
    assert rows[1].accuracy == 0.5 and rows[1].len_mean == 15 and rows[1].len_p50 == 15
    assert rows[2].accuracy == pytest.approx(2 / 3) and rows[2].len_p50 == 50
    assert rows[2].len_p90 == pytest.approx(90)  # numpy linear interpolation: 50 + 0.8 * (100 - 50)
    assert rows[ALL].n == 5 and rows[ALL].accuracy == 0.6 and rows[ALL].len_mean == 42
    m = eval_metrics(list(rows.values()))
    assert m["eval/free/accuracy/d1"] == 0.5 and m["eval/free/accuracy"] == 0.6 and m["eval/free/len_p90/d2"] == pytest.approx(90)


TINY = [
    "model.hidden_size=64", "model.num_layers=2", "model.num_heads=2", "model.num_kv_heads=1", "model.intermediate_size=128",
    "sft.examples=96", "sft.batch_size=16", "task.eval_per_level=3", "eval.max_new_tokens=24", "eval.styles=[free, short, long]",
    "rl.iterations=2", "rl.prompts_per_iter=2", "rl.k=2", "rl.max_response_tokens=24", "rl.pool_size=20",
]


def test_sft_then_eval_records_everything(workspace):
    cfg = load_config(overrides=TINY)
    store = workspace.store()
    base = stages.base_model(workspace, cfg, progress=False)
    assert workspace.has_model("tiny") and not stages.warmup_is_current(workspace, cfg)
    result = stages.run_sft(workspace, store, cfg, base, progress=False)
    assert result.steps == 6 and stages.warmup_is_current(workspace, cfg)
    assert not stages.warmup_is_current(workspace, load_config(overrides=TINY + ["sft.lr=0.01"]))
    assert stages.warmup_is_current(workspace, load_config(overrides=TINY + ["sft.microbatch_tokens=64"]))  # speed, not the model
    rows = stages.run_eval(workspace, store, cfg, workspace.model_dir("warmup"), name="warmup", progress=False)
    assert {r.style for r in rows} == {"free", "short", "long"}
    runs = store.runs()
    assert [(r["kind"], r["status"]) for r in runs] == [("sft", "finished"), ("eval", "finished")]
    assert any(m["name"] == "sft/loss" for m in store.metrics(runs[0]["id"]))
    traj = store.trajectories(runs[1]["id"])
    assert len(traj) == 3 * 5 * 3  # problems per level x levels x styles
    from k15core.tasks import make_task

    task = make_task(cfg.task)
    reference = {p.id: p.reference for p in task.eval_problems()}
    assert all(t.correct == task.verify(t.response, reference[t.prompt_id]) for t in traj)
    assert all(t.response.startswith(task.style_prefix("long")) for t in traj if t.tag == "long")


def test_demo_command_end_to_end(capsys, workspace):
    args = ["demo", "--workspace", str(workspace.root), "--quiet"] + [a for o in TINY for a in ("--set", o)]
    assert main(args) == 0
    out = capsys.readouterr().out
    studio_url = re.search(r"studio: (http://127\.0\.0\.1:\d+/)", out)
    assert studio_url, "k15 demo starts the studio beside the run and prints its URL"
    with pytest.raises(OSError):  # ... and closes it when the demo ends (stdin is not a terminal here)
        urllib.request.urlopen(studio_url.group(1), timeout=5)
    assert "Warm-up model on the held-out set" in out and "hardest level 5" in out
    warmup_eval = workspace.store().runs(kind="eval")[0]
    acc = {m["name"]: m["value"] for m in workspace.store().metrics(warmup_eval["id"])}
    pays = acc["eval/long/accuracy/d5"] >= acc["eval/short/accuracy/d5"] + 0.10  # the verdict the stored numbers call for
    assert ("thinking longer pays" in out) == pays and ("no gap yet" in out) == (not pays)
    assert "After RL" in out and "RL: accuracy" in out
    assert [r["kind"] for r in workspace.store().runs()] == ["sft", "eval", "rl", "eval"]
    assert workspace.store().runs(kind="rl")[0]["status"] == "finished" and workspace.has_model("rl")
    assert main(args + ["--no-rl", "--no-studio"]) == 0  # second run reuses the cached warm-up
    out = capsys.readouterr().out
    assert "reusing the cached warm-up model" in out and "After RL" not in out and "studio:" not in out
