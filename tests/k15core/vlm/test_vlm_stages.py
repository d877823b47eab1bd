"""`k15 build-model --kind vlm`, `k15 sft` and `k15 eval` on the tiny VLM and the visual task: the same commands as
for the text model, recorded in the same store, the pictures in the workspace's image store."""
from __future__ import annotations

import pytest

from k15core.cli import main
from k15core.errors import K15Error

TINY = ["--set", "model.hidden_size=64", "--set", "model.num_layers=2", "--set", "model.num_heads=2", "--set", "model.num_kv_heads=1",
        "--set", "model.intermediate_size=128"]
VISUAL = ["--set", "task.name=visual-recurrence", "--set", "task.levels=[1,2]", "--set", "task.eval_per_level=3"]


def test_build_warm_up_and_evaluate_the_tiny_vlm(workspace, capsys):
    ws = ["--workspace", str(workspace.root), "--quiet"]
    assert main(["build-model", "--kind", "vlm", *ws, *TINY]) == 0
    assert main(["sft", "--model", "tiny-vlm", "--out", "warm-vlm", *ws, *VISUAL, "--set", "sft.examples=32", "--set", "sft.batch_size=16",
                 "--set", "sft.warmup_steps=1"]) == 0
    assert main(["eval", "--model", "warm-vlm", *ws, *VISUAL, "--set", "eval.max_new_tokens=8", "--set", "eval.styles=[free,short]"]) == 0
    out = capsys.readouterr().out
    assert "saved" in out and "2 steps" in out
    store = workspace.store()
    sft, ev = store.runs(kind="sft")[-1], store.runs(kind="eval")[-1]
    assert sft["status"] == ev["status"] == "finished"
    assert {m["name"] for m in store.metrics(sft["id"])} >= {"sft/loss"}
    names = {m["name"] for m in store.metrics(ev["id"])}
    assert {"eval/free/accuracy/d1", "eval/free/accuracy/d2", "eval/short/accuracy"} <= names
    records = store.trajectories(ev["id"])
    assert len(records) == 2 * 6 and all(r.prompt.startswith("Seq <image>, steps: ") for r in records)
    # up to 8 sampled tokens after the style's prefilled opening ("Answer:", 7 characters, for short)
    assert all(0 < r.length <= 8 + (7 if r.tag == "short" else 0) and len(r.logprobs) == r.length for r in records)
    # every held-out picture (and every warm-up one) is in the workspace, once each
    from k15core.config import TaskConfig
    from k15core.tasks import make_task

    held = make_task(TaskConfig(name="visual-recurrence", levels=[1, 2], eval_per_level=3)).eval_problems()
    assert all(p.images[0] in workspace.images for p in held)
    assert len(list((workspace.root / "images").rglob("*.png"))) >= 6


def test_a_vlm_refuses_a_task_without_pictures(workspace):
    from k15core.config import load_config
    from k15core.model_kinds import MODEL_KINDS
    from k15core import stages

    cfg = load_config(overrides=["model.hidden_size=64", "model.num_layers=1", "model.num_heads=2", "model.num_kv_heads=1", "model.intermediate_size=64"])
    MODEL_KINDS.get("vlm").build(cfg.model, workspace.model_dir("v"))
    with pytest.raises(K15Error, match="have no pictures"):
        stages.run_eval(workspace, workspace.store(), cfg, workspace.model_dir("v"))
    assert MODEL_KINDS.get("text").tiny_name == stages.BASE_MODEL
