"""torch.distributed with real processes (torchrun, gloo on CPU): the helpers, and the invariant that
2 processes x b prompts take the same optimiser step as 1 process x 2b prompts, with DDP and FSDP2, for
one step and for whole RL iterations; and `k15 train` itself under torchrun, resumed on one process."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from k15core import dist
from k15core.errors import K15Error

WORKER = Path(__file__).with_name("worker.py")
ROOT = Path(__file__).resolve().parents[2]


ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TRANSFORMERS_VERBOSITY": "error", "PYTHONPATH": str(ROOT)}


def torchrun(nproc: int, *args: str, timeout: int = 300, module: bool = False) -> subprocess.CompletedProcess:
    """`torchrun --standalone --nproc-per-node N` on the worker script (or, with `module`, `-m args[0]`)."""
    target = ["-m", *args] if module else [str(WORKER), *args]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", *target]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=ENV, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def off_fraction(a: dict, b: dict) -> float:
    """Share of weight elements that differ by more than 1e-6 (relative 1e-5)."""
    off = sum(int((~torch.isclose(a[k], v, atol=1e-6, rtol=1e-5)).sum()) for k, v in b.items())
    return off / sum(v.numel() for v in b.values())


def test_shard_bounds_cover_the_list_in_order():
    for n in range(0, 12):
        for ranks in (1, 2, 3, 4):
            spans = [dist.shard_bounds(n, ranks, r) for r in range(ranks)]
            assert spans[0][0] == 0 and spans[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))  # contiguous, in rank order
            sizes = [e - s for s, e in spans]
            assert max(sizes) - min(sizes) <= 1


def test_single_process_helpers_are_identities():
    assert not dist.active() and dist.rank() == 0 and dist.world_size() == 1 and dist.is_main()
    assert dist.shard([1, 2, 3]) == [1, 2, 3] and dist.all_gather("x") == ["x"] and dist.gather_to_main(5) == [5]
    assert dist.broadcast({"a": 1}) == {"a": 1} and dist.all_reduce_mean(3.0) == 3.0
    model = torch.nn.Linear(2, 2)
    assert dist.wrap_model(model, "ddp") is model  # nothing to wrap without a process group
    with pytest.raises(K15Error, match="unknown distribution strategy"):
        dist.wrap_model(model, "zero3")


def test_split_new_groups_evens_out_what_the_ranks_hold():
    assert dist.split_new_groups(5, [0]) == [5]  # one process: everything
    assert dist.split_new_groups(5, [0, 0]) == [3, 2]  # nothing held: shard_bounds's split
    assert [e - s for s, e in (dist.shard_bounds(5, 2, r) for r in range(2))] == [3, 2]
    assert dist.split_new_groups(6, [3, 0]) == [0, 3]  # rank 0's buffer already holds its share
    assert dist.split_new_groups(6, [5, 0]) == [0, 1]  # more held than a fair share: the total still holds
    assert dist.split_new_groups(4, [3, 3]) == [0, 0]  # the buffers alone exceed the total: no new prompt
    assert dist.split_new_groups(7, [1, 0, 2]) == [2, 2, 0]  # 4 new ones fill the ranks up to 3, 2, 2
    for total in range(0, 9):
        for held in ([0, 0], [2, 1], [0, 4, 1]):
            counts = dist.split_new_groups(total, held)
            assert sum(counts) == max(0, total - sum(held)) and min(counts) >= 0


def test_on_main_in_one_process_calls_and_raises():
    assert dist.on_main(lambda a, b=0: a + b, 2, b=3) == 5
    with pytest.raises(KeyError):
        dist.on_main(lambda: {}["missing"])
    assert dist.rank_seed(7) == 7  # rank 0 samples as a one-process run does


@pytest.mark.slow
def test_helpers_across_two_processes(tmp_path):
    torchrun(2, "primitives", str(tmp_path))
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert (r0["world"], r1["world"]) == (2, 2)
    assert r0["shard"] == [0, 1, 2, 3] and r1["shard"] == [4, 5, 6]
    assert r0["all_gather"] == r1["all_gather"] == [0, 10]
    assert r0["gathered"] == [{"r": 0}, {"r": 1}] and r1["gathered"] is None
    assert r0["broadcast"] == r1["broadcast"] == "from 0"
    assert r0["sum"] == r1["sum"] == 3.0 and r0["mean"] == 1.5


def _load_run(out: Path) -> tuple[dict, dict]:
    return json.loads((out / "records.json").read_text()), torch.load(out / "weights.pt")


@pytest.mark.slow
def test_two_processes_take_the_single_process_step_and_train_like_one(tmp_path):
    """One launch per setup (1 process; 2 with DDP; 2 with FSDP2; 2 that do not sync), two checks:

    One optimiser step of the trainer's `optimise`: 1 process on all 4 groups, 2 processes on 2 each. The
    gradients and the weights after the step agree.

    Two RL iterations through the trainer's own `train` (prompt draw, group ids, sampler updates, metrics,
    store, checkpoints), rollouts scripted so they do not depend on the rank: 1 process with 4 prompts per
    iteration vs 2 processes with 2 each. Same trajectories, same metrics, same weights; 2 processes that do
    not average their gradients end elsewhere."""
    from safetensors.torch import load_file

    for name, nproc, strategy, jobs in (("single", 1, "none", "optimise+train"), ("ddp", 2, "ddp", "optimise+train"),
                                        ("fsdp2", 2, "fsdp2", "optimise+train"), ("unsynced", 2, "none", "train")):
        torchrun(nproc, jobs, strategy, str(tmp_path / name))

    # one step
    step = {name: (torch.load(tmp_path / name / "optimise" / "weights.pt"), torch.load(tmp_path / name / "optimise" / "grads.pt"))
            for name in ("single", "ddp", "fsdp2")}
    single_weights, single_grads = step["single"]
    assert set(single_grads) and set(step["ddp"][1]) == set(step["fsdp2"][1]) == set(single_grads)
    for name in ("ddp", "fsdp2"):
        weights, grads = step[name]
        for key, value in single_grads.items():
            assert torch.allclose(grads[key], value, atol=1e-7, rtol=1e-4), (name, "grad", key)
        # Adam's first step is lr * g / (|g| + eps): where |g| is ~1e-7, float noise in the gradient's last bits
        # moves a weight by up to lr. So the weights must agree everywhere but a handful of such elements.
        assert off_fraction(weights, single_weights) < 1e-4, name
    # the step moved the weights (lr 1e-3): the comparison above is not between untouched copies
    initial = load_file(tmp_path / "single" / "optimise" / "model" / "model.safetensors")
    moved = [k for k in initial if k in single_weights and not torch.allclose(initial[k], single_weights[k])]
    assert len(moved) > len(initial) // 2

    # whole iterations
    runs = {name: _load_run(tmp_path / name / "train") for name in ("single", "ddp", "fsdp2", "unsynced")}
    single, single_weights = runs["single"]

    def rows(records):
        return sorted((t["tag"], t["sample_index"], t["prompt_id"], t["response"], t["reward"]) for t in records["trajectories"])

    def metrics(records):
        return {(m["iteration"], m["name"]): m["value"] for m in records["metrics"] if not m["name"].startswith("time/")}

    assert len(rows(single)) == 2 * 4 * 4 and len({r[0] for r in rows(single)}) == 8  # 2 iterations x 4 groups x k=4
    assert metrics(single)[(1, "rl/same_reward_groups")] < 1  # groups mix rewards: the loss has a gradient
    initial = load_file(tmp_path / "single" / "train" / "model" / "model.safetensors")
    assert all(not torch.allclose(initial[k], single_weights[k]) for k in initial)  # every weight moved
    for name in ("ddp", "fsdp2"):
        records, weights = runs[name]
        assert rows(records) == rows(single), name
        assert metrics(records).keys() == metrics(single).keys()
        for key, value in metrics(single).items():
            assert metrics(records)[key] == pytest.approx(value, rel=1e-4, abs=1e-6), (name, key)
        assert records["run"]["config"]["world_size"] == 2 and records["run"]["status"] == "finished"
        assert off_fraction(weights, single_weights) < 1e-3, name  # 4 Adam steps: float noise flips a few tiny gradients
    records, weights = runs["unsynced"]
    assert rows(records) == rows(single)  # the same data ...
    assert off_fraction(weights, single_weights) > 0.05  # ... but each rank stepped on its own half


@pytest.mark.slow
def test_k15_train_under_torchrun_then_resumed_on_one_process(tmp_path):
    """The CLI under `torchrun --nproc-per-node 2` with partial rollouts (groups wait in the ranks' replay
    buffers), then `--resume` on one process: the checkpoint holds nothing tied to the world size."""
    from k15core.store import Store

    ws = tmp_path / "ws"
    subprocess.run([sys.executable, "-m", "k15core.cli", "build-model", "--workspace", str(ws), "--quiet"], check=True, env=ENV, cwd=ROOT, capture_output=True)
    sets = ["rl.iterations=3", "rl.prompts_per_iter=4", "rl.k=2", "rl.max_response_tokens=24", "rl.segment_tokens=10",
            "rl.pool_size=30", "task.eval_per_level=2", "rl.checkpoint_every=1", "rl.strategy=fsdp2"]
    args = [a for s in sets for a in ("--set", s)]
    out = torchrun(2, "k15core.cli", "train", "--workspace", str(ws), "--model", "tiny", "--quiet", *args, module=True)
    assert "on 2 processes (fsdp2): 3 iterations" in out.stdout and out.stdout.count("RL run") == 1  # rank 0 alone prints
    store = Store(ws / "k15.db")
    [run] = store.runs(kind="rl")
    assert run["status"] == "finished" and run["config"]["world_size"] == 2 and store.last_iteration(run["id"]) == 2
    metrics = {(m["iteration"], m["name"]): m["value"] for m in store.metrics(run["id"])}
    assert metrics[(0, "rl/buffered_groups")] > 0  # answers longer than a 10-token segment wait for the next iteration
    assert (ws / "models" / "rl" / "model.safetensors").exists()

    store.set_run_status(run["id"], "stopped")
    resumed = subprocess.run([sys.executable, "-m", "k15core.cli", "train", "--workspace", str(ws), "--quiet", "--resume", "--set", "rl.iterations=5"],
                             capture_output=True, text=True, timeout=300, env=ENV, cwd=ROOT)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming on 1 process(es) a run saved on 2" in resumed.stdout
    assert store.last_iteration(run["id"]) == 4 and store.run(run["id"])["status"] == "finished"
    trajectories = store.trajectories(run["id"])
    members: dict[str, list[int]] = {}
    for t in trajectories:
        members.setdefault(t.tag, []).append(t.sample_index)
    assert all(sorted(m) == [0, 1] for m in members.values())  # every group recorded once, whole: no id used by two ranks
    assert any(t.segments > 1 for t in trajectories)  # some answers were finished in a later iteration than they started
