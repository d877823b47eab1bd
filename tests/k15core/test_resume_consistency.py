"""The store and the checkpoint agree after any stop: what a resume trains again is stored once, what the
checkpoint covers is kept."""
from __future__ import annotations

from collections import Counter

import pytest

from k15core import stages
from k15core.config import load_config
from k15core.trainer import train

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
