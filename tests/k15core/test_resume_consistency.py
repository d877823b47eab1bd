"""The store and the checkpoint agree after any stop: what a resume trains again is stored once, what the
checkpoint covers is kept, and a SIGTERM never checkpoints an iteration it did not record."""
from __future__ import annotations

import os
import signal
from collections import Counter

import pytest
import torch

from k15core import stages, trainer
from k15core.config import load_config
from k15core.models import load_model
from k15core.trainer import StopTraining, train

SMALL_RL = ["rl.prompts_per_iter=3", "rl.k=2", "rl.max_response_tokens=20", "rl.minibatches=2", "rl.pool_size=30", "task.eval_per_level=2",
            "eval.max_new_tokens=20"]
PER_ITERATION = 3 * 2  # prompts_per_iter * k


def _cfg(*extra: str):
    return load_config("assets/configs/demo.yaml", [*SMALL_RL, *extra])


def _stored(store, run_id: int) -> tuple[Counter, Counter]:
    """Trajectories per iteration, and how often each (iteration, metric name) is stored."""
    per_iteration = Counter(t["iteration"] for t in _rows(store, run_id))
    metrics = Counter((m["iteration"], m["name"]) for m in store.metrics(run_id))
    return per_iteration, metrics


def _rows(store, run_id: int) -> list[dict]:
    from sqlalchemy import select

    from k15core.store import schema as S

    q = select(S.trajectories.c.id, S.trajectories.c.iteration, S.trajectories.c.tag, S.trajectories.c.sample_index, S.trajectories.c.response).where(
        S.trajectories.c.run_id == run_id).order_by(S.trajectories.c.id)
    return [dict(r) for r in store._read(lambda c: c.execute(q).mappings().all())]


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_iterations_stored_after_the_last_checkpoint_are_stored_once_after_a_resume(workspace, tiny_model_dir):
    """checkpoint_every=2, 3 iterations: the run dies after storing iteration 2 (not checkpointed). The resume
    trains iteration 2 again from the checkpoint at 2: it must replace the stored one, not add to it."""
    store = workspace.store()
    run, _ = stages.prepare_rl(workspace, store, _cfg("rl.iterations=3", "rl.checkpoint_every=2"), tiny_model_dir)

    def die_after_storing(it, metrics):
        if it == 2:
            raise RuntimeError("killed")  # no checkpoint: like SIGKILL or a crash after the store write

    with pytest.raises(RuntimeError, match="killed"):
        train(run, stages.rl_checkpoint_dir(workspace, run.state.run_id), on_iteration=die_after_storing, progress=False)
    covered = [r["id"] for r in _rows(store, run.state.run_id) if r["iteration"] < 2]
    assert _stored(store, run.state.run_id)[0] == {0: PER_ITERATION, 1: PER_ITERATION, 2: PER_ITERATION}

    resumed, _ = stages.run_rl(workspace, store, _cfg(), None, resume=True, progress=False)
    assert resumed.state.run_id == run.state.run_id and resumed.state.iteration == 3
    per_iteration, metrics = _stored(store, run.state.run_id)
    assert per_iteration == {0: PER_ITERATION, 1: PER_ITERATION, 2: PER_ITERATION}  # iteration 2 once, not twice
    assert set(metrics.values()) == {1} and {it for it, _ in metrics} == {0, 1, 2}  # each metric of each iteration once
    assert [r["id"] for r in _rows(store, run.state.run_id) if r["iteration"] < 2] == covered  # what the checkpoint covers is kept as it was
    assert store.run(run.state.run_id)["status"] == "finished"


@pytest.mark.slow
@pytest.mark.parametrize("signals", [1, 2])
def test_sigterm_inside_an_iteration_leaves_a_checkpoint_that_agrees_with_the_store(tmp_path, ending_model_dir, monkeypatch, signals, capsys):
    """SIGTERM arrives in iteration 1, just after the optimiser step. One SIGTERM: the iteration finishes (stored)
    and the checkpoint is the state after it. Two: the iteration is dropped at once, and the checkpoint written
    after iteration 0 stands. Either way the resumed run is the uninterrupted one, iteration by iteration."""
    from k15core.tasks.recurrence import RecurrenceTask
    from k15core.workspace import Workspace

    monkeypatch.delenv("K15_WORKSPACE", raising=False)
    # A barely trained model is rarely right, so few groups have a learning signal and few steps move the weights:
    # an answer whose character codes sum to an odd number counts as right (with "Answer: d", an odd digit), so
    # every iteration steps and the weights tell the iterations apart.
    monkeypatch.setattr(RecurrenceTask, "verify", lambda self, response, reference: float(sum(map(ord, response)) % 2))
    cfg = _cfg("rl.iterations=4", "rl.checkpoint_every=1")
    straight_ws = Workspace.resolve(str(tmp_path / "straight"))
    straight_store = straight_ws.store()
    straight, _ = stages.prepare_rl(straight_ws, straight_store, cfg, ending_model_dir)
    after: dict[int, dict] = {}  # weights after each iteration
    train(straight, stages.rl_checkpoint_dir(straight_ws, straight.state.run_id), on_iteration=lambda it, m: after.update({it: _weights(straight.model)}),
          progress=False)
    assert all(any(not torch.equal(after[it][k], after[it - 1][k]) for k in after[it]) for it in range(1, 4))  # every iteration stepped
    straight_rows = [(r["iteration"], r["tag"], r["sample_index"], r["response"]) for r in _rows(straight_store, straight.state.run_id)]

    ws = Workspace.resolve(str(tmp_path / "stopped"))
    store = ws.store()
    run, _ = stages.prepare_rl(ws, store, cfg, ending_model_dir)
    real_optimise = trainer.optimise

    def step_then_sigterm(r, batch, it):
        stats = real_optimise(r, batch, it)
        if it == 1:
            for _ in range(signals):
                os.kill(os.getpid(), signal.SIGTERM)
        return stats

    monkeypatch.setattr(trainer, "optimise", step_then_sigterm)
    ckpt = stages.rl_checkpoint_dir(ws, run.state.run_id)
    with pytest.raises(StopTraining):
        train(run, ckpt, progress=False)
    monkeypatch.setattr(trainer, "optimise", real_optimise)
    assert store.run(run.state.run_id)["status"] == "stopped"

    saved = torch.load(ckpt / "trainer_state.pt", weights_only=False)["state"]
    expected = 2 if signals == 1 else 1  # iterations the checkpoint covers
    assert saved["iteration"] == expected
    assert store.last_iteration(run.state.run_id) == expected - 1  # stored: exactly the iterations the checkpoint covers
    checkpointed, _ = load_model(ckpt / "policy")
    for name, value in checkpointed.state_dict().items():  # the weights after the last stored iteration, not a step past it
        assert torch.equal(value, after[expected - 1][name]), name
    if signals == 2:
        assert "discarded" in capsys.readouterr().err

    resumed, _ = stages.run_rl(ws, store, cfg, None, resume=True, progress=False)
    assert resumed.state.iteration == 4
    for name, value in _weights(resumed.model).items():
        assert torch.equal(value, after[3][name]), name
    per_iteration, metrics = _stored(store, run.state.run_id)
    assert per_iteration == {it: PER_ITERATION for it in range(4)} and set(metrics.values()) == {1}
    assert [(r["iteration"], r["tag"], r["sample_index"], r["response"]) for r in _rows(store, run.state.run_id)] == straight_rows  # same groups, same ids
