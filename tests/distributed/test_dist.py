"""torch.distributed with real processes (torchrun, gloo on CPU): the helpers, and the invariant that
2 processes x b prompts take the same optimiser step as 1 process x 2b prompts, with DDP and FSDP2."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from k15core import dist

WORKER = Path(__file__).with_name("worker.py")
ROOT = Path(__file__).resolve().parents[2]


def torchrun(nproc: int, *args: str, timeout: int = 300) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TRANSFORMERS_VERBOSITY": "error", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", str(WORKER), *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]


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
    with pytest.raises(ValueError, match="unknown distribution strategy"):
        dist.wrap_model(model, "zero3")


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


@pytest.mark.slow
def test_two_processes_take_the_single_process_step(tmp_path):
    """One optimiser step of the trainer's `optimise`: 1 process on all 4 groups, 2 processes on 2 each
    (DDP, then FSDP2). The weights after the step agree; a step on only one rank's half would not."""
    runs, grads = {}, {}
    for name, nproc, strategy in (("single", 1, "none"), ("ddp", 2, "ddp"), ("fsdp2", 2, "fsdp2"), ("unsynced", 2, "none")):
        out = tmp_path / name
        out.mkdir()
        torchrun(nproc, "optimise", strategy, str(out))
        runs[name] = torch.load(out / "weights.pt")
        grads[name] = torch.load(out / "grads.pt")
    assert set(grads["single"]) and set(grads["ddp"]) == set(grads["fsdp2"]) == set(grads["single"])
    for name in ("ddp", "fsdp2"):
        for key, value in grads["single"].items():
            assert torch.allclose(grads[name][key], value, atol=1e-7, rtol=1e-4), (name, "grad", key)
        # Adam's first step is lr * g / (|g| + eps): where |g| is ~1e-7, float noise in the gradient's last bits
        # moves a weight by up to lr. So the weights must agree everywhere but a handful of such elements.
        assert off_fraction(runs[name], runs["single"]) < 1e-4, name
    # without DDP/FSDP2 each rank steps on its own half: rank 0's gradient and weights differ from the single process's
    assert any(not torch.allclose(grads["unsynced"][k], v, atol=1e-7, rtol=1e-4) for k, v in grads["single"].items())
    assert off_fraction(runs["unsynced"], runs["single"]) > 0.05
    # the step moved the weights (lr 1e-3): the comparison above is not between untouched copies
    from safetensors.torch import load_file

    initial = load_file(tmp_path / "single" / "model" / "model.safetensors")
    moved = [k for k in initial if k in runs["single"] and not torch.allclose(initial[k], runs["single"][k])]
    assert len(moved) > len(initial) // 2
