"""Checkpoints survive a crash at any step of their directory swap: the next save and the next resume both
work, and what they find is one whole checkpoint (weights and trainer state from the same save)."""
from __future__ import annotations

import os
import shutil

import pytest
import torch

from k15core import stages
from k15core.checkpoint import save_checkpoint
from k15core.config import load_config

CFG = ["rl.prompts_per_iter=3", "rl.k=2", "rl.max_response_tokens=20", "rl.pool_size=30", "task.eval_per_level=2", "eval.max_new_tokens=20"]


class Crash(BaseException):
    """The process dying at that call (BaseException: no `except Exception` on the way cleans up after it)."""


def _mark(run, version: int) -> None:
    """Make the run's state and weights say which save they belong to."""
    run.state.iteration = version
    with torch.no_grad():
        next(run.model.parameters()).fill_(float(version))


def _version(run) -> tuple[int, float]:
    """(trainer state's iteration, the weights' mark): equal for a whole checkpoint."""
    return run.state.iteration, next(run.model.parameters()).flatten()[0].item()


def _crash_at(monkeypatch, k: int) -> list[str]:
    """Make the k-th filesystem step (rename, replace, rmtree, fsync) raise Crash; returns the steps seen."""
    seen: list[str] = []
    for owner, name in ((os, "rename"), (os, "replace"), (shutil, "rmtree"), (os, "fsync")):
        real = getattr(owner, name)

        def step(*args, _real=real, _name=name, **kwargs):
            seen.append(_name)
            if len(seen) == k:
                raise Crash(f"crash at step {k} ({_name})")
            return _real(*args, **kwargs)

        monkeypatch.setattr(owner, name, step)
    return seen


def _leftovers(ckpt) -> list[str]:
    return sorted(p.name for p in ckpt.parent.iterdir() if p.name != ckpt.name)


@pytest.mark.slow
def test_a_crash_at_any_step_of_the_swap_leaves_a_whole_checkpoint_for_the_next_save_and_resume(workspace, tiny_model_dir, monkeypatch):
    store = workspace.store()
    run, _ = stages.prepare_rl(workspace, store, load_config("assets/configs/demo.yaml", CFG), tiny_model_dir)
    ckpt = stages.rl_checkpoint_dir(workspace, run.state.run_id)
    store.set_run_status(run.state.run_id, "stopped")  # the run's process lets go of it, so this one may resume it
    k, crashes = 0, 0
    while True:
        k += 1
        _mark(run, 1)
        save_checkpoint(run, ckpt)  # the checkpoint in place before the crash
        _mark(run, 2)
        with monkeypatch.context() as patch:
            seen = _crash_at(patch, k)
            try:
                save_checkpoint(run, ckpt)  # the save that crashes at its k-th step
            except Crash:
                crashes += 1
            else:
                break  # k is past the last step: every step has crashed once
        resumed, _ = stages.prepare_rl(workspace, store, None, None, resume=True)
        assert _version(resumed) in ((1, 1.0), (2, 2.0)), (k, seen)  # the old checkpoint or the new one, whole
        _mark(resumed, 3)
        save_checkpoint(resumed, ckpt)  # the next save after the crash works ...
        assert _leftovers(ckpt) == [], (k, seen)  # ... and leaves nothing beside the checkpoint
        store.set_run_status(resumed.state.run_id, "stopped")
        again, _ = stages.prepare_rl(workspace, store, None, None, resume=True)
        assert _version(again) == (3, 3.0)
        store.set_run_status(again.state.run_id, "stopped")
    assert crashes >= 4 and {"rename", "rmtree"} <= set(seen)  # the swap's steps were all among those crashed at


def test_leftovers_of_an_interrupted_swap_are_cleaned_up_before_the_next_save(workspace, tiny_model_dir):
    """What the old swap left behind (rl-N missing, rl-N.old and a half-written rl-N.tmp): the next save works."""
    store = workspace.store()
    run, _ = stages.prepare_rl(workspace, store, load_config("assets/configs/demo.yaml", CFG), tiny_model_dir)
    ckpt = stages.rl_checkpoint_dir(workspace, run.state.run_id)
    _mark(run, 1)
    save_checkpoint(run, ckpt)
    ckpt.rename(ckpt.with_name(ckpt.name + ".old"))
    (ckpt.with_name(ckpt.name + ".tmp") / "policy").mkdir(parents=True)
    _mark(run, 2)
    save_checkpoint(run, ckpt)
    assert _leftovers(ckpt) == [] and torch.load(ckpt / "trainer_state.pt", weights_only=False)["state"]["iteration"] == 2


def test_a_crash_while_saving_the_final_policy_leaves_the_previous_model_whole(workspace, tiny_model_dir, monkeypatch):
    """models/<out> is never half-written: a save that dies at any filesystem step leaves the earlier model (its
    weights and config from one save), and the next save replaces it whole."""
    from k15core.checkpoint import save_final_policy
    from k15core.models import load_model

    run, _ = stages.prepare_rl(workspace, workspace.store(), load_config("assets/configs/demo.yaml", CFG), tiny_model_dir)
    out = workspace.model_dir("rl")
    _mark(run, 1)
    save_final_policy(run, out)

    def saved_mark() -> float:
        model, _ = load_model(out)
        return next(model.parameters()).flatten()[0].item()

    assert saved_mark() == 1.0
    from k15core import checkpoint

    def dies_while_writing(model, tokenizer, target, state_dict=None):
        target.mkdir(parents=True, exist_ok=True)
        (target / "model.safetensors").write_bytes(b"half")  # the weights file cut off mid-write
        raise Crash("killed while writing the weights")

    with monkeypatch.context() as m:
        m.setattr(checkpoint, "save_model", dies_while_writing)
        with pytest.raises(Crash):
            save_final_policy(run, out)
    assert saved_mark() == 1.0  # the model folder was never written into
    _mark(run, 2)
    k = 1
    while True:
        with monkeypatch.context() as m:
            seen = _crash_at(m, k)
            try:
                save_final_policy(run, out)
                break
            except Crash:
                pass
        whole = out if out.exists() else out.parent / "rl.old"  # a crash between the two renames: the .old is the model
        assert whole.exists() and (out.exists() and saved_mark() in (1.0, 2.0) or not out.exists()), f"crash at step {k}: {seen}"
        k += 1
    assert k > 3 and saved_mark() == 2.0 and sorted(p.name for p in out.parent.iterdir() if p.name.startswith("rl")) == ["rl"]
