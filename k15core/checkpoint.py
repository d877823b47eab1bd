"""RL checkpoints: the policy (Hugging Face layout) and everything `--resume` needs, saved and restored.

Nothing in a checkpoint depends on the world size: the weights and optimiser state are full tensors keyed by
name, the replay buffer holds every rank's groups, and the sampler is the same on every rank. So a run saved
by N processes resumes with any number.

A checkpoint is a folder (runs/rl-N) that must never be seen half-written, yet a folder cannot be replaced by
one atomic rename. So a save writes the new one whole beside it (rl-N.tmp, every file fsynced), then swaps:
rl-N -> rl-N.old, rl-N.tmp -> rl-N, the parent folder fsynced, rl-N.old deleted last. A crash at any step
leaves rl-N whole, or rl-N missing and rl-N.old whole; `recover_checkpoint`, run before every save and resume,
puts rl-N.old back in the second case and deletes whatever else is left (a .tmp, a half-deleted .old). Chosen:
the previous checkpoint wins over a finished .tmp, so recovery never has to judge whether a .tmp is complete;
the store is rolled back to whichever checkpoint a resume loads (`RunsMixin.rollback_run`), so either is consistent.
"""
from __future__ import annotations

import dataclasses
import os
import random
import shutil
from pathlib import Path

import torch

from k15core import dist
from k15core.models import save_model
from k15core.policy_step import new_optimizer
from k15core.rollout.partial import ReplayBuffer
from k15core.types import TrainState


def save_checkpoint(run, directory: Path) -> None:
    """Policy weights (save_pretrained layout) and trainer state, written to a temp dir then swapped in.

    Called by every rank (the full weights, buffers and optimiser state are collectives); rank 0 writes.
    """
    dist.on_main(recover_checkpoint, directory)  # a crashed save's leftovers would block this one's swap
    keep_optimizer = not run.cfg.reset_optimizer and run.optimizer is not None
    state = {
        "state": dataclasses.asdict(run.state),
        "sampler": run.sampler.state_dict(),
        "buffer": ReplayBuffer([g for groups in dist.gather_to_main(run.buffer.groups) or [] for g in groups]),
        "problems": run.problems,
        "optimizer": dist.optimizer_state(run.model, run.optimizer) if keep_optimizer else None,
        "torch_rng": dist.gather_to_main(torch.get_rng_state()),  # one per rank
        "python_rng": random.getstate(),
        "world_size": dist.world_size(),
    }
    tmp = directory.with_name(directory.name + ".tmp")
    save_policy(run, tmp / "policy")
    dist.on_main(_finish_checkpoint, tmp, directory, state)


def save_policy(run, out_dir: Path) -> None:
    """The policy in the Hugging Face layout. Every rank calls it (the full weights of a wrapped model are a
    collective); rank 0 writes."""
    weights = dist.full_state_dict(run.model) if dist.active() else None  # None: the module saves its own
    # a VLM's processor is saved whole (image processor + tokenizer), so the folder loads with AutoProcessor
    dist.on_main(save_model, dist.unwrap(run.model), getattr(run, "processor", None) or run.tokenizer, out_dir, state_dict=weights)


def _finish_checkpoint(tmp: Path, directory: Path, state: dict) -> None:
    """Write the trainer state beside the policy in `tmp`, make all of `tmp` durable, then swap it in for
    `directory` (the order of the steps is what `recover_checkpoint` relies on)."""
    torch.save(state, tmp / "trainer_state.pt")
    _swap_in(tmp, directory)


def save_final_policy(run, out_dir: Path) -> None:
    """The run's final policy as `out_dir` (models/<out>), written whole beside it and swapped in as a checkpoint
    is: a crash while saving leaves the previous model there, whole, never a half-written folder or new files
    over old weights. Every rank calls it; rank 0 writes."""
    dist.on_main(recover_checkpoint, out_dir)
    tmp = _beside(out_dir, ".tmp")
    save_policy(run, tmp)
    dist.on_main(_swap_in, tmp, out_dir)


def _swap_in(tmp: Path, directory: Path) -> None:
    """Make all of `tmp` durable, then put it in `directory`'s place (the order `recover_checkpoint` relies on)."""
    _fsync_tree(tmp)
    old = _beside(directory, ".old")
    if directory.exists():
        os.rename(directory, old)
    os.rename(tmp, directory)
    _fsync_dir(directory.parent)  # the renames themselves on disk before the old checkpoint goes
    if old.exists():
        shutil.rmtree(old)


def recover_checkpoint(directory: Path) -> None:
    """Undo what a crash inside `save_checkpoint` left: `directory` missing but its .old there -> the .old is
    the checkpoint (put back); a .old beside a present `directory` (the swap was done but for the delete) and
    any .tmp (a save that never got swapped in) are deleted. Call it on rank 0, by the process that owns the
    run, before reading or writing the checkpoint."""
    old, tmp = _beside(directory, ".old"), _beside(directory, ".tmp")
    if old.exists() and not directory.exists():
        os.rename(old, directory)
        _fsync_dir(directory.parent)
    for leftover in (old, tmp):
        if leftover.exists():
            shutil.rmtree(leftover)


def _beside(directory: Path, suffix: str) -> Path:
    return directory.with_name(directory.name + suffix)


def _fsync_tree(root: Path) -> None:
    """Every file under `root`, then every folder (deepest first), flushed to disk."""
    folders = []
    for here, _dirs, files in os.walk(root):
        folders.append(here)
        for name in files:
            fd = os.open(os.path.join(here, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    for folder in reversed(folders):
        _fsync_dir(Path(folder))


def _fsync_dir(folder: Path) -> None:
    """A folder's entries (renames, new files) flushed to disk. POSIX only: Windows cannot open a folder."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_checkpoint(run, directory: Path) -> None:
    """Restore the trainer state saved by `save_checkpoint` (the policy weights are loaded by the caller, after
    `recover_checkpoint`: `stages.prepare_rl` runs both, in that order, once it owns the run).

    At the world size it was saved with, every rank gets its own random state back and the run continues
    exactly. At another, the buffered groups are shared out again and each rank's sampling is reseeded
    (from the seed, the iteration and the rank), with a notice: the run continues, not bit for bit.
    """
    saved = torch.load(directory / "trainer_state.pt", weights_only=False)
    run.state = TrainState(**saved["state"])
    run.sampler.load_state_dict(saved["sampler"])
    run.buffer = ReplayBuffer(dist.shard(saved["buffer"].groups))
    run.problems = saved["problems"]
    run.sampler.pool = [run.problems.get(p.id, p) for p in run.sampler.pool]
    if saved["optimizer"] is not None:
        run.optimizer = new_optimizer(run)
        dist.load_optimizer_state(run.model, run.optimizer, saved["optimizer"])
    rng_states = saved["torch_rng"] if isinstance(saved["torch_rng"], list) else [saved["torch_rng"]]
    if len(rng_states) == dist.world_size():
        torch.set_rng_state(rng_states[dist.rank()])
    else:
        dist.print0(f"resuming on {dist.world_size()} process(es) a run saved on {len(rng_states)}: rollouts are reseeded, so it will not repeat the original run's samples")
        torch.manual_seed(dist.rank_seed(run.cfg.seed + 7919 * run.state.iteration))
    random.setstate(saved["python_rng"])
