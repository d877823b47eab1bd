"""The tiny VLM's costs on this machine: one warm-up SFT step and one RL rollout on image prompts, next to the
tiny text model's on the text task (same sizes otherwise), so the vision tower's share is visible.

    python benchmarks/vlm_step.py            # default model sizes, batch 32 SFT steps, 4 prompts x 8 samples x 64 tokens
    python benchmarks/vlm_step.py --smoke    # a tiny model and budget: checks the script runs (CI)

SFT: `steps` optimiser steps of `sft.batch_size` mixed-style examples after one untimed step; the median seconds
per step. Rollout: `compact_continue` at temperature 1 on P prompts x k samples of the held-out set (the VLM
prefilled with each prompt's picture), an untrained model, so every row runs to `max_tokens` or an early EOS;
seconds and generated tokens/s, median over rounds. Wall and CPU seconds are both reported, and the load average:
on a shared machine the wall time mostly measures the neighbours. The last line is the JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402

from k15core.config import ModelConfig, SFTConfig  # noqa: E402
from k15core.models import build_tiny_model, load_model  # noqa: E402
from k15core.rollout.compact import compact_continue  # noqa: E402
from k15core.sft import build_warmup_set, make_batches, response_token_loss, tokenize_examples  # noqa: E402
from k15core.tasks.recurrence import RecurrenceTask  # noqa: E402
from k15core.tasks.visual_recurrence import VisualRecurrenceTask  # noqa: E402
from k15core.vlm.images import ImageStore  # noqa: E402
from k15core.vlm.inputs import encode_prompt  # noqa: E402
from k15core.vlm.model import build_tiny_vlm, load_vlm  # noqa: E402
from k15core.vlm.sft import encode_examples, response_loss, visual_warmup_set  # noqa: E402


def timed_steps(step, n: int) -> dict:
    """Median wall and CPU seconds (all threads of the process) of `step` over `n` calls, after an untimed one.
    On a shared machine the wall time grows with the load; the CPU time much less."""
    step()  # untimed: first-call allocations
    wall, cpu = [], []
    for _ in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"sft_step_s": statistics.median(wall), "sft_step_cpu_s": statistics.median(cpu)}


def vlm_costs(folder: Path, sft: SFTConfig, prompts: int, k: int, max_tokens: int, steps: int, rounds: int) -> dict:
    model, processor = load_vlm(folder)
    task = VisualRecurrenceTask(eval_per_level=max(1, prompts // 5 + 1))
    store = ImageStore(folder / "images")
    rows = encode_examples(processor, visual_warmup_set(task, sft, store)[: sft.batch_size], store)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        model.train()
        loss, _ = response_loss(model, rows, processor.tokenizer.pad_token_id, "cpu")
        opt.zero_grad()
        loss.backward()
        opt.step()

    enc = [encode_prompt(processor, p.prompt, task.images(p)) for p in task.eval_problems()[:prompts]]
    contexts, pixels = [e.ids for e in enc for _ in range(k)], [e.pixel_values for e in enc for _ in range(k)]
    return {**timed_steps(step, steps), **_rollout(model, processor.tokenizer, contexts, pixels, max_tokens, rounds),
            "prompt_tokens": len(enc[0].ids), "parameters": sum(p.numel() for p in model.parameters())}


def text_costs(folder: Path, sft: SFTConfig, prompts: int, k: int, max_tokens: int, steps: int, rounds: int) -> dict:
    model, tok = load_model(folder)
    task = RecurrenceTask(eval_per_level=max(1, prompts // 5 + 1))
    ids, mask, labels = next(make_batches(tokenize_examples(tok, build_warmup_set(task, sft)[: sft.batch_size]), sft.batch_size, 0, tok.pad_token_id))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        model.train()
        loss = response_token_loss(model(input_ids=ids, attention_mask=mask).logits, labels, reduction="sum")
        opt.zero_grad()
        loss.backward()
        opt.step()

    enc = [tok(p.prompt, add_special_tokens=False)["input_ids"] for p in task.eval_problems()[:prompts]]
    return {**timed_steps(step, steps), **_rollout(model, tok, [e for e in enc for _ in range(k)], None, max_tokens, rounds),
            "prompt_tokens": len(enc[0]), "parameters": sum(p.numel() for p in model.parameters())}


def _rollout(model, tok, contexts, pixels, max_tokens: int, rounds: int) -> dict:
    seconds, cpu, tokens = [], [], []
    for r in range(rounds):
        torch.manual_seed(r)
        t0, c0 = time.perf_counter(), time.process_time()
        out = compact_continue(model, contexts, [max_tokens] * len(contexts), eos=tok.eos_token_id, pad=tok.pad_token_id, pixel_values=pixels)
        seconds.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        tokens.append(sum(len(c.token_ids) for c in out))
    return {"rollout_s": statistics.median(seconds), "rollout_cpu_s": statistics.median(cpu),
            "rollout_tokens_per_s": statistics.median(t / x for t, x in zip(tokens, seconds)), "rollout_tokens": statistics.median(tokens)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    if args.smoke:
        cfg = ModelConfig(hidden_size=64, num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=128)
        sft, prompts, k, max_tokens, steps, rounds = SFTConfig(examples=8, batch_size=4), 2, 2, 8, 1, 1
    else:
        cfg = ModelConfig()
        sft, prompts, k, max_tokens, steps, rounds = SFTConfig(examples=64), 4, 8, 64, 2, 1
    with tempfile.TemporaryDirectory() as tmp:
        vlm_dir, text_dir = build_tiny_vlm(cfg, Path(tmp) / "vlm"), build_tiny_model(cfg, Path(tmp) / "text")
        vlm = vlm_costs(vlm_dir, sft, prompts, k, max_tokens, steps, rounds)
        print("vlm", json.dumps(vlm), flush=True)
        text = text_costs(text_dir, sft, prompts, k, max_tokens, steps, rounds)
    result = {"smoke": args.smoke, "load_average_1min": os.getloadavg()[0], "cpus": os.cpu_count(), "threads": torch.get_num_threads(), "batch_size": sft.batch_size, "rollout_rows": prompts * k,
              "max_tokens": max_tokens, "vlm": vlm, "text": text,
              "sft_step_ratio_vlm_over_text": vlm["sft_step_s"] / text["sft_step_s"]}
    for side in ("vlm", "text"):
        r = result[side]
        print(f"{side}: {r['parameters'] / 1e6:.2f} M parameters, prompt {r['prompt_tokens']} tokens; SFT step (batch {sft.batch_size}) "
              f"{r['sft_step_s']:.3f} s ({r['sft_step_cpu_s']:.3f} CPU s); rollout {prompts}x{k} rows up to {max_tokens} tokens "
              f"{r['rollout_s']:.2f} s ({r['rollout_cpu_s']:.2f} CPU s, {r['rollout_tokens_per_s']:,.0f} tokens/s)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
