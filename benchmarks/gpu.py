"""The GPU path, measured: rollout tokens/s of k15's sampler (and vLLM's, where installed) against plain
`model.generate`, and the training step's model-FLOP utilisation against a bf16 matrix product timed in the same run.

    python benchmarks/gpu.py                 # one CUDA GPU: a model of SmolLM2-135M's shape, bf16
    python benchmarks/gpu.py --model DIR     # a local Hugging Face causal LM instead
    python benchmarks/gpu.py --smoke         # the tiny model on the CPU: checks the script runs (CI)

Without --model the model has SmolLM2-135M-Instruct's architecture (Llama, 576 wide, 30 layers, 49,152-token
vocabulary) with random weights: no weights can be downloaded, and the speed of a forward or backward pass does
not depend on the values. Random weights seldom sample EOS, so every row runs to --max-tokens on every side:
equal work. Rollout sides alternate over --rounds; throughput counts the tokens each side made.
Training: one `policy_step.optimise` (one optimiser step on all rows) on --rows responses of --max-tokens after
--prompt tokens; MFU = 6 x parameters x trained tokens / seconds, over the product's measured FLOP/s (the
achievable peak here, not the data-sheet figure). Without CUDA (and without --smoke) it prints why and exits 0.
The last line is JSON.
Not measured yet: vLLM's rollout tokens/s (its wheel cannot travel to the GPU machines this was written on;
tests/gpu/test_vllm.py checks its log-probs where it is installed).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from k15core.rollout.compact import compact_continue  # noqa: E402
from k15core.rollout.hf import sampling_kwargs  # noqa: E402
from k15core.tokens import left_pad  # noqa: E402

SMOLLM2_SHAPE = dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                     vocab_size=49152, max_position_embeddings=8192, tie_word_embeddings=True, rms_norm_eps=1e-5, rope_theta=100000.0)
EOS, PAD = 2, 0


def build_model(args, device: torch.device):
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    if args.model:
        return AutoModelForCausalLM.from_pretrained(args.model, dtype=dtype).to(device), args.model
    shape = dict(SMOLLM2_SHAPE, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                 num_key_value_heads=1, vocab_size=512) if args.smoke else SMOLLM2_SHAPE
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**shape, bos_token_id=1, eos_token_id=EOS, pad_token_id=PAD)).to(dtype).to(device)
    return model, "SmolLM2-135M shape, random weights" if not args.smoke else "tiny, random weights"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def rollout_sides(model, contexts: list[list[int]], max_tokens: int, device: torch.device) -> dict:
    def generate():
        ids, mask = (x.to(device) for x in left_pad(contexts, PAD))
        with torch.no_grad():
            out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_tokens, **sampling_kwargs(False, 1.0, 1.0),
                                 eos_token_id=EOS, pad_token_id=PAD)
        return sum(min(max_tokens, r.index(EOS) + 1 if EOS in r else len(r)) for r in out[:, ids.shape[1]:].tolist())

    def k15():
        return sum(len(c.token_ids) for c in compact_continue(model, contexts, [max_tokens] * len(contexts), eos=EOS, pad=PAD))

    return {"generate": generate, "k15": k15}


def matmul_flops(device: torch.device, n: int) -> float:
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(device)
    t0, reps = time.perf_counter(), 10
    for _ in range(reps):
        a @ b
    sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t0)


def training_step(model, args, device: torch.device) -> dict:
    from k15core.config import RLConfig
    from k15core.policy_step import optimise
    from k15core.tasks.problem import Problem
    from k15core.types import ScoredBatch, Trajectory

    g = torch.Generator().manual_seed(0)
    vocab = model.config.vocab_size
    trajs = []
    for gid in range(max(1, args.rows // 8)):
        prompt = torch.randint(3, vocab, (args.prompt,), generator=g).tolist()
        for j in range(8):
            t = Trajectory(Problem(id=f"p{gid}", prompt="", reference="0"), gid, j, prompt)
            t.add_segment(0, torch.randint(3, vocab, (args.max_tokens,), generator=g).tolist(), [0.0] * args.max_tokens)
            trajs.append(t)
    total = torch.tensor([float(t.sample_index % 2) for t in trajs])
    batch = ScoredBatch(trajs, torch.tensor([t.group for t in trajs]), correct=total, length=torch.zeros_like(total),
                        repeat=torch.zeros_like(total), total=total)
    run = SimpleNamespace(cfg=RLConfig(minibatches=1), model=model.float() if device.type == "cuda" else model,
                          tokenizer=SimpleNamespace(pad_token_id=PAD), device=device, bf16=device.type == "cuda", optimizer=None)
    optimise(run, batch, it=0)  # first-call overheads (kernels, allocator) out of the way
    sync(device)
    t0 = time.perf_counter()
    optimise(run, batch, it=1)
    sync(device)
    seconds = time.perf_counter() - t0
    tokens = len(trajs) * (args.prompt + args.max_tokens)
    params = sum(p.numel() for p in model.parameters())
    return {"seconds": seconds, "tokens": tokens, "flops_per_s": 6 * params * tokens / seconds, "parameters": params}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="a local Hugging Face causal LM folder (default: SmolLM2-135M's shape, random weights)")
    ap.add_argument("--rows", type=int, default=64, help="rollout rows and training responses (8 per group)")
    ap.add_argument("--prompt", type=int, default=64, help="prompt tokens per row")
    ap.add_argument("--max-tokens", type=int, default=256, help="new tokens per row")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--smoke", action="store_true", help="the tiny model on the CPU, tiny budget (a check that the script runs)")
    args = ap.parse_args()
    if args.smoke:
        args.rows, args.prompt, args.max_tokens, args.rounds = 8, 8, 8, 1
    elif not torch.cuda.is_available():
        print(json.dumps({"benchmark": "gpu", "skipped": "no CUDA GPU (torch.cuda.is_available() is False)"}))
        return
    device = torch.device("cuda" if torch.cuda.is_available() and not args.smoke else "cpu")
    model, label = build_model(args, device)
    model.eval()
    g = torch.Generator().manual_seed(1)
    contexts = [torch.randint(3, model.config.vocab_size, (args.prompt,), generator=g).tolist() for _ in range(args.rows)]
    sides = rollout_sides(model, contexts, args.max_tokens, device)
    rates: dict[str, list[float]] = {name: [] for name in sides}
    for fn in sides.values():
        fn()  # warm-up: kernels loaded, allocator primed
    for r in range(args.rounds):
        for name, fn in sides.items():
            torch.manual_seed(r)
            sync(device)
            t0 = time.perf_counter()
            made = fn()
            sync(device)
            rates[name].append(made / (time.perf_counter() - t0))
            print(f"round {r + 1}/{args.rounds} {name}: {rates[name][-1]:.0f} tokens/s", file=sys.stderr, flush=True)
    tps = {name: statistics.median(v) for name, v in rates.items()}
    peak = matmul_flops(device, 256 if args.smoke else 8192)
    train = training_step(model, args, device)
    print(json.dumps({
        "benchmark": "gpu", "smoke": args.smoke, "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
        "torch": torch.__version__, "model": label, "rows": args.rows, "prompt_tokens": args.prompt, "max_tokens": args.max_tokens,
        "rounds": args.rounds, "rollout_tokens_per_s": {k: round(v, 1) for k, v in tps.items()},
        "k15_over_generate": round(tps["k15"] / tps["generate"], 3),
        "vllm": "installed, not timed here" if importlib.util.find_spec("vllm") else "not installed",
        "train_step_seconds": round(train["seconds"], 3), "train_tokens_per_s": round(train["tokens"] / train["seconds"], 1),
        "matmul_tflops": float(f"{peak / 1e12:.4g}"), "train_model_tflops": float(f"{train['flops_per_s'] / 1e12:.4g}"),
        "mfu_vs_measured_matmul": round(train["flops_per_s"] / peak, 4),
    }))


if __name__ == "__main__":
    main()
