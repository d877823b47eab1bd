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


def test_a_stopped_vlm_run_resumes_to_the_same_weights_with_its_processor(tmp_path, tiny_vlm_dir, monkeypatch):
    """Stop a VLM run after its first iteration, `--resume` it: it ends where an uninterrupted run ends (weights
    equal, the vision tower's included), in the same store run, and its final policy has the processor."""
    import pytest
    import torch

    from k15core import stages
    from k15core.config import load_config
    from k15core.trainer import StopTraining, train
    from k15core.workspace import Workspace

    monkeypatch.delenv("K15_WORKSPACE", raising=False)
    cfg = load_config(overrides=[*TINY, *RL, "rl.iterations=2", "rl.segment_tokens=0", "rl.doctor=false", "rl.checkpoint_every=10"])
    straight_ws = Workspace.resolve(str(tmp_path / "a"))
    straight, _ = stages.run_rl(straight_ws, straight_ws.store(), cfg, tiny_vlm_dir, out_name="rl-vlm", progress=False)
    expected = {k: v.detach().clone() for k, v in straight.model.state_dict().items()}

    ws = Workspace.resolve(str(tmp_path / "b"))
    store = ws.store()
    first, _ = stages.prepare_rl(ws, store, cfg, tiny_vlm_dir, name="rl-vlm")

    def stop_after_the_first(it, metrics):
        if it == 0:
            raise StopTraining()  # what SIGTERM raises: checkpoint, status 'stopped'

    with pytest.raises(StopTraining):
        train(first, stages.rl_checkpoint_dir(ws, first.state.run_id), on_iteration=stop_after_the_first, progress=False)
    assert store.run(first.state.run_id)["status"] == "stopped" and store.last_iteration(first.state.run_id) == 0
    resumed, _ = stages.run_rl(ws, store, cfg, None, resume=True, out_name="rl-vlm", progress=False)
    assert resumed.state.run_id == first.state.run_id and resumed.state.iteration == 2
    assert resumed.processor is not None  # the resumed run reads its prompts' pictures
    got = resumed.model.state_dict()
    assert any("vision_tower" in k for k in got)
    for k, v in expected.items():
        assert torch.equal(v, got[k]), k
    assert store.run(first.state.run_id)["status"] == "finished" and store.last_iteration(first.state.run_id) == 1
    records = store.trajectories(first.state.run_id, iteration=1)
    assert records and all(r.prompt.startswith("Seq <image>") for r in records)
    _, processor = load_vlm(ws.model_dir("rl-vlm"))
    assert type(processor).__name__ == "LlavaProcessor"


def test_the_doctors_heldout_check_of_a_vlm_run_shows_the_model_each_problems_picture(tmp_path, tiny_vlm_dir, monkeypatch):
    """The reward-hacking check's greedy answers (doctor.heldout_accuracy) are generated from the held-out prompts
    with their pictures, as the run's rollouts are: without them a VLM sees only its `<image>` token and the check
    measured 0 % on a model that reads (issue 23's benchmark)."""
    import torch

    from k15core import doctor, stages
    from k15core.config import load_config
    from k15core.rollout import hf
    from k15core.workspace import Workspace

    monkeypatch.delenv("K15_WORKSPACE", raising=False)
    cfg = load_config(overrides=[*TINY, *RL, "rl.doctor_eval_problems=4"])
    ws = Workspace.resolve(str(tmp_path / "ws"))
    run, _ = stages.prepare_rl(ws, ws.store(), cfg, tiny_vlm_dir, name="rl-vlm")
    seen, generate = [], hf.generate
    monkeypatch.setattr(hf, "generate", lambda *a, **kw: seen.append(kw.get("encoded")) or generate(*a, **kw))
    measured = doctor.heldout_accuracy(run)
    assert 0.0 <= measured["rl/heldout_accuracy"] <= 1.0
    problems = run.task.eval_problems()
    assert len(seen) == 1 and seen[0] is not None and len(seen[0]) == len(problems) == 4
    for got, problem in zip(seen[0], problems):
        want = run.encode(problem)
        assert got.ids == want.ids and got.pixel_values is not None and torch.equal(got.pixel_values, want.pixel_values)
    if run.lock is not None:
        run.lock.release()
