"""Warm-up SFT training throughput, fp32 vs bf16 autocast, measured in the same run.

    python benchmarks/warmup.py            # full measurement
    python benchmarks/warmup.py --smoke    # a few steps: checks the script runs (CI)

Prints one JSON object (its last line): tokens/s for each precision, the bf16/fp32 ratio, and
whether this CPU runs bf16 natively (AVX-512-BF16/AMX). Rounds alternate between the two
precisions so that machine noise hits both alike.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

import torch

from k15core.config import ModelConfig
from k15core.models import build_tiny_model, load_model
from k15core.precision import bf16_supported
from k15core.config import SFTConfig
from k15core.sft import build_warmup_set, make_batches, tokenize_examples
from k15core.tasks.arithmetic import ArithmeticTask


def measure(model, batches, bf16: bool) -> tuple[int, float]:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    tokens, t0 = 0, time.perf_counter()
    for ids, mask, labels in batches:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        tokens += int(mask.sum())
    return tokens, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true", help="tiny run that only checks the script works")
    ap.add_argument("--steps", type=int, default=8, help="optimiser steps per round")
    ap.add_argument("--rounds", type=int, default=2, help="alternating fp32/bf16 rounds")
    args = ap.parse_args()
    steps, rounds = (2, 1) if args.smoke else (args.steps, args.rounds)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    # smoke: a smaller model and batch, because emulated bf16 is ~25x slower than fp32 on CPUs without it
    small = dict(hidden_size=64, num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=128) if args.smoke else {}
    model_dir = build_tiny_model(ModelConfig(**small), tempfile.mkdtemp())
    model, tok = load_model(model_dir)
    batch_size = 8 if args.smoke else SFTConfig().batch_size
    cfg = SFTConfig(examples=batch_size * (steps + 1), batch_size=batch_size)
    tokenized = tokenize_examples(tok, build_warmup_set(ArithmeticTask(eval_per_level=1), cfg))
    batches = list(make_batches(tokenized, cfg.batch_size, 0, tok.pad_token_id))[: steps + 1]
    measure(model, batches[:1], False)  # first-call overheads out of the way
    measure(model, batches[:1], True)
    totals = {"fp32": [0, 0.0], "bf16": [0, 0.0]}
    for _ in range(rounds):
        for name, bf16 in (("fp32", False), ("bf16", True)):
            n, s = measure(model, batches[1:], bf16)
            totals[name][0] += n
            totals[name][1] += s
    tps = {k: v[0] / v[1] for k, v in totals.items()}
    print(json.dumps({
        "benchmark": "warmup_sft_throughput",
        "smoke": args.smoke,
        "fp32_tokens_per_s": float(f"{tps['fp32']:.4g}"),
        "bf16_tokens_per_s": float(f"{tps['bf16']:.4g}"),
        "bf16_over_fp32": float(f"{tps['bf16'] / tps['fp32']:.3g}"),  # 3 significant digits: the ratio can be far below 0.01
        "bf16_native": bf16_supported(torch.device("cpu")),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "batch_size": cfg.batch_size,
        "steps_per_round": steps,
        "rounds": rounds,
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
