"""Warm-up SFT by token-budget slices (`sft.microbatch_tokens`): speed and peak memory against the whole batch.

    python benchmarks/sft_microbatch.py                      # budgets 0 (whole batch), 2048, 1024, 512
    python benchmarks/sft_microbatch.py --smoke              # a few steps: checks the script runs (CI)

The demo's tiny model and warm-up set (the digit recurrence, its style mix), real `accumulate_gradients` and AdamW
steps. Speed: rounds alternate between the budgets in one process, so machine noise hits each alike; tokens/s
counts real tokens (padding excluded). Memory: each budget trains the same steps in its own child process, and its
peak RSS is the kernel's (`ru_maxrss`): what a slice's activations cost, allocator retention included. The last
line is the JSON; ratios are against budget 0 in the same run.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402

from k15core.config import DEMO_CONFIG, load_config  # noqa: E402
from k15core.models import build_tiny_model, load_model  # noqa: E402
from k15core.sft import accumulate_gradients, build_warmup_set, make_batches, tokenize_examples  # noqa: E402
from k15core.tasks import make_task  # noqa: E402


def batches_for(cfg, tok, steps: int) -> list:
    examples = build_warmup_set(make_task(cfg.task), cfg.sft.__class__(**{**cfg.sft.__dict__, "examples": cfg.sft.batch_size * steps}))
    return list(make_batches(tokenize_examples(tok, examples), cfg.sft.batch_size, 0, tok.pad_token_id))[:steps]


def train(model, batches, budget: int) -> tuple[int, float]:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    tokens, t0 = 0, time.perf_counter()
    for batch in batches:
        opt.zero_grad(set_to_none=True)
        accumulate_gradients(model, batch, budget, scale=1000.0, bf16=False)
        opt.step()
        tokens += int(batch[1].sum())
    return tokens, time.perf_counter() - t0


def child(model_dir: str, budget: int, steps: int, overrides: list[str]) -> None:
    """One budget's steps in this (fresh) process; the parent reads its peak RSS."""
    cfg = load_config(DEMO_CONFIG, overrides)
    model, tok = load_model(model_dir)
    train(model, batches_for(cfg, tok, steps), budget)


def peak_rss_mib(model_dir: str, budget: int, steps: int, overrides: list[str]) -> float:
    helper = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
              "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    cmd = [sys.executable, __file__, "--child", model_dir, str(budget), str(steps), *overrides]
    out = subprocess.run([sys.executable, "-c", helper, *cmd], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        return child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budgets", type=int, nargs="+", default=[0, 2048, 1024, 512], help="token budgets; the first is the baseline")
    ap.add_argument("--steps", type=int, default=12, help="optimiser steps per round (and per memory child)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--smoke", action="store_true", help="a tiny model and a few steps")
    args = ap.parse_args()
    overrides = ["model.hidden_size=64", "model.num_layers=2", "model.num_heads=2", "model.num_kv_heads=1",
                 "model.intermediate_size=128", "sft.batch_size=8"] if args.smoke else []
    steps, rounds = (2, 1) if args.smoke else (args.steps, args.rounds)
    cfg = load_config(DEMO_CONFIG, overrides)
    model_dir = str(build_tiny_model(cfg.model, tempfile.mkdtemp(prefix="k15-mb-")))
    model, tok = load_model(model_dir)
    batches = batches_for(cfg, tok, steps + 1)
    train(model, batches[:1], 0)  # first-call overheads out of the way
    totals = {b: [0, 0.0] for b in args.budgets}
    for _ in range(rounds):
        for b in args.budgets:
            n, s = train(model, batches[1:], b)
            totals[b][0] += n
            totals[b][1] += s
    tps = {b: n / s for b, (n, s) in totals.items()}
    peaks = {b: peak_rss_mib(model_dir, b, steps, overrides) for b in args.budgets}
    base = args.budgets[0]
    print(json.dumps({
        "benchmark": "sft_microbatch", "smoke": args.smoke,
        "budgets": {str(b): {"tokens_per_s": round(tps[b], 1), "speed_vs_whole": round(tps[b] / tps[base], 3),
                             "peak_rss_mib": round(peaks[b], 1), "peak_vs_whole": round(peaks[b] / peaks[base], 3)} for b in args.budgets},
        "steps_per_round": steps, "rounds": rounds, "batch_size": cfg.sft.batch_size, "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
