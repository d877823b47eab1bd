"""`k15 train` on the tiny VLM: k1.5 RL on image prompts end to end (partial rollouts included), recorded in the
store, the final policy saved with its processor."""
from __future__ import annotations

from k15core.cli import main
from k15core.config import TaskConfig
from k15core.tasks import make_task
from k15core.vlm.model import load_vlm

TINY = ["model.hidden_size=64", "model.num_layers=2", "model.num_heads=2", "model.num_kv_heads=1", "model.intermediate_size=128"]
RL = ["task.name=visual-recurrence", "task.levels=[1,2]", "task.eval_per_level=2", "rl.iterations=2", "rl.prompts_per_iter=2", "rl.k=2",
      "rl.max_response_tokens=12", "rl.segment_tokens=6", "rl.pool_size=8", "rl.checkpoint_every=1"]


def _sets(keys):
    return [a for k in keys for a in ("--set", k)]


def test_k15_train_runs_rl_on_image_prompts(workspace, capsys):
    ws = ["--workspace", str(workspace.root), "--quiet"]
    assert main(["build-model", "--kind", "vlm", *ws, *_sets(TINY)]) == 0
    assert main(["train", "--model", "tiny-vlm", "--out", "rl-vlm", *ws, *_sets(RL)]) == 0
    assert "2 iterations" in capsys.readouterr().out
    store = workspace.store()
    run = store.runs(kind="rl")[-1]
    assert run["status"] == "finished"
    records = store.trajectories(run["id"])
    assert records and all(r.prompt.startswith("Seq <image>, steps: ") and 0 < r.length <= 12 for r in records)
    assert all(len(r.logprobs) == r.length for r in records)
    # partial rollouts: a 12-token response is written in segments of at most 6 tokens, each prefilled with its picture
    assert all(r.segments <= 2 for r in records) and any(r.segments == 2 for r in records)
    model, processor = load_vlm(workspace.model_dir("rl-vlm"))  # the final policy: model + processor, Auto-loadable
    assert type(processor).__name__ == "LlavaProcessor"
    pool = make_task(TaskConfig(name="visual-recurrence", levels=[1, 2], eval_per_level=2)).train_problems(8, seed=10_000)
    assert all(p.images[0] in workspace.images for p in pool)
    # the run's prompt rows carry their pictures' addresses, so the studio shows each group's picture
    shown = {r.prompt_id: store.prompt(r.prompt_id)["images"] for r in records}
    assert all(len(a) == 1 and a[0] in workspace.images for a in shown.values())
