"""The engine's CUDA path without vLLM (skipped without a CUDA GPU): the compacting sampler and one RL policy
step on the GPU against the same on the CPU, and bf16 autocast where the GPU runs it natively."""
from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import torch

pytestmark = pytest.mark.gpu


def test_greedy_rollouts_on_the_gpu_are_the_cpu_ones(tiny_model_dir):
    from k15core.models import load_model
    from k15core.rollout.compact import compact_continue

    cpu, tok = load_model(tiny_model_dir)
    gpu = copy.deepcopy(cpu).to("cuda")
    contexts = [tok("Seq 372, steps: 4\n", add_special_tokens=False)["input_ids"], tok("Seq 01, steps: 2\n", add_special_tokens=False)["input_ids"]]
    kwargs = dict(eos=tok.eos_token_id, pad=tok.pad_token_id, greedy=True, response_starts=[len(c) for c in contexts])
    on_cpu = compact_continue(cpu, contexts, [24, 24], **kwargs)
    on_gpu = compact_continue(gpu, contexts, [24, 24], **kwargs)
    for a, b in zip(on_cpu, on_gpu):
        assert a.token_ids == b.token_ids
        assert torch.allclose(torch.tensor(a.logprobs), torch.tensor(b.logprobs), atol=1e-3)


@pytest.mark.parametrize("bf16", [False, True])
def test_one_policy_step_on_the_gpu_matches_the_cpu(tiny_model_dir, bf16):
    from k15core.config import RLConfig
    from k15core.models import load_model
    from k15core.policy_step import optimise
    from k15core.precision import bf16_supported
    from k15core.tasks.problem import Problem
    from k15core.types import ScoredBatch, Trajectory

    if bf16 and not bf16_supported(torch.device("cuda")):
        pytest.skip("this GPU has no native bf16")
    cpu, tok = load_model(tiny_model_dir)
    gpu = copy.deepcopy(cpu).to("cuda")
    g = torch.Generator().manual_seed(0)
    trajs = []
    for gid in range(4):
        prompt = torch.randint(3, len(tok), (6,), generator=g).tolist()
        for j in range(4):
            t = Trajectory(Problem(id=f"p{gid}", prompt="", reference="0"), gid, j, prompt)
            n = int(torch.randint(3, 20, (1,), generator=g))
            t.add_segment(0, torch.randint(3, len(tok), (n,), generator=g).tolist(), [0.0] * n)
            trajs.append(t)
    total = torch.tensor([float((j + gid) % 2) for gid in range(4) for j in range(4)])
    batch = ScoredBatch(trajs, torch.tensor([t.group for t in trajs]), correct=total, length=torch.zeros_like(total),
                        repeat=torch.zeros_like(total), total=total)
    stats = {}
    for name, model, device, use_bf16 in (("cpu", cpu, torch.device("cpu"), False), ("gpu", gpu, torch.device("cuda"), bf16)):
        run = SimpleNamespace(cfg=RLConfig(minibatches=1, lr=1e-3, grad_clip=0.0), model=model, tokenizer=tok, device=device,
                              bf16=use_bf16, optimizer=None)
        stats[name] = optimise(run, batch, it=0)
    tolerance = 5e-2 if bf16 else 1e-4
    assert stats["gpu"]["loss"] == pytest.approx(stats["cpu"]["loss"], rel=tolerance, abs=tolerance)
    for (name, a), b in zip(cpu.named_parameters(), gpu.parameters()):
        assert torch.allclose(a, b.cpu(), atol=5e-3 if bf16 else 1e-5), name
