"""Training FLOP/s of the tiny model as a fraction of this machine's matmul peak, measured in the same run.

    python benchmarks/roofline.py            # full measurement
    python benchmarks/roofline.py --smoke    # a few steps: checks the script runs (CI)

Peak: a large fp32 matmul (n x n by n x n, 2n^3 FLOPs), the best of several, with torch's default threads.
Training: the RL trainer's own optimiser step (`trainer.optimise`: π_θi's log-probs, then forward, backward
and AdamW on mini-batches of whole groups) on a demo-sized batch (16 prompts x 8 samples, answers of the
demo's lengths), and the warm-up's SFT step. Training FLOP/s = 6 x parameters x trained tokens/s (forward 2, backward 4 per
parameter and token; attention's own FLOPs left out, as usual). The RL step's extra work is not counted:
the no-gradient forward of π_θi for the rows of its second mini-batch, and the padding of each micro-batch's
rows to its longest (`padding_fraction`). The RL step is measured at the default `rl.microbatch_overhead`
and at each of --overheads (rows sorted by length and cut into micro-batches where that saves more padding
than the overhead; 10**9 never cuts), in alternating rounds. The last line is the JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from types import SimpleNamespace

import torch

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from k15core.config import ModelConfig  # noqa: E402

from k15core.models import build_tiny_model, count_parameters, load_model  # noqa: E402


def matmul_peak(n: int, repeats: int) -> float:
    """FLOP/s of the best of `repeats` n x n fp32 matmuls."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # first-call overheads out of the way
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def rl_batch(tokenizer, prompts: int, k: int, seed: int = 0):
    """A demo-shaped batch: `prompts` groups of k answers of the demo's lengths (10-80 tokens), half right."""
    from k15core.types import Trajectory
    from k15core.tasks.recurrence import RecurrenceTask
    from k15core.types import ScoredBatch

    task = RecurrenceTask(eval_per_level=1)
    g = torch.Generator().manual_seed(seed)
    trajs, rewards = [], []
    for gid, problem in enumerate(task.train_problems(prompts, seed=seed)):
        prompt_ids = tokenizer(problem.prompt, add_special_tokens=False)["input_ids"]
        for j in range(k):
            text = task.solution(problem, task.styles[int(torch.randint(0, len(task.styles), (1,), generator=g))])
            ids = tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
            t = Trajectory(problem, gid, j, list(prompt_ids))
            t.add_segment(0, ids, [0.0] * len(ids))
            trajs.append(t)
            rewards.append(float(j % 2))
    total = torch.tensor(rewards)
    return ScoredBatch(trajs, torch.tensor([t.group for t in trajs]), correct=total, length=torch.zeros_like(total), repeat=torch.zeros_like(total), total=total)


def rl_step_seconds(model, tokenizer, batch, steps: int, overhead: int) -> float:
    """Seconds per call of the trainer's `optimise` on `batch` with `rl.microbatch_overhead=overhead`, over
    `steps` calls after one warm-up call."""
    from k15core.config import RLConfig
    from k15core.policy_step import optimise

    run = SimpleNamespace(cfg=RLConfig(microbatch_overhead=overhead), model=model, tokenizer=tokenizer, device=torch.device("cpu"),
                          bf16=False, optimizer=None, engine=SimpleNamespace(load_weights=lambda m: None))
    optimise(run, batch, it=0)
    t0 = time.perf_counter()
    for i in range(steps):
        optimise(run, batch, it=i + 1)
    return (time.perf_counter() - t0) / steps


def padded_fraction(lengths: list[int], overhead: int) -> tuple[float, int]:
    """(padding / padded tokens, micro-batches) of the length-sorted split of all rows (one mini-batch's view)."""
    from k15core.policy_step import length_microbatches

    batches = length_microbatches(range(len(lengths)), lengths, 0, overhead)
    padded = sum(len(b) * max(lengths[r] for r in b) for b in batches)
    return 1 - sum(lengths) / padded, len(batches)


def sft_step_rate(model, tokenizer, steps: int) -> tuple[float, float]:
    """(tokens/s, FLOP/s) of the warm-up's SFT step (batch 32 of demo solutions)."""
    from k15core.config import SFTConfig
    from k15core.sft import build_warmup_set, make_batches, tokenize_examples
    from k15core.tasks.recurrence import RecurrenceTask

    cfg = SFTConfig(examples=32 * (steps + 1))
    tokenized = tokenize_examples(tokenizer, build_warmup_set(RecurrenceTask(eval_per_level=1), cfg))
    batches = list(make_batches(tokenized, cfg.batch_size, 0, tokenizer.pad_token_id))[: steps + 1]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step(ids, mask, labels):
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step(*batches[0])
    tokens, t0 = 0, time.perf_counter()
    for ids, mask, labels in batches[1:]:
        step(ids, mask, labels)
        tokens += int(mask.sum())
    seconds = time.perf_counter() - t0
    return tokens / seconds, 6 * count_parameters(model) * tokens / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="a few small steps: checks the script runs (not a measurement)")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--n", type=int, default=2048, help="matmul size for the peak")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds over the micro-batch settings")
    ap.add_argument("--overheads", type=int, nargs="*", default=[10**9, 1024, 64, 0],
                    help="rl.microbatch_overhead values measured beside the default (10**9: one micro-batch, no split)")
    args = ap.parse_args()
    steps, n, prompts, rounds = (1, 256, 2, 1) if args.smoke else (args.steps, args.n, 16, args.rounds)
    from k15core.config import RLConfig

    default = RLConfig().microbatch_overhead
    overheads = list(dict.fromkeys([default, *args.overheads]))
    model_dir = build_tiny_model(ModelConfig(), tempfile.mkdtemp())
    model, tokenizer = load_model(model_dir)
    # peak before and after the training measurements: the machine's state is the same for both sides
    peaks = [matmul_peak(n, 3 if args.smoke else 10)]
    batch = rl_batch(tokenizer, prompts, 8)
    lengths = [len(t.prompt_ids) + len(t.token_ids) for t in batch.trajectories]
    tokens, params = sum(lengths), count_parameters(model)
    seconds: dict[int, list[float]] = {o: [] for o in overheads}
    for _ in range(rounds):  # alternated, so machine noise hits every setting alike
        for o in overheads:
            seconds[o].append(rl_step_seconds(model, tokenizer, batch, steps, o))
    sft_tps, sft_flops = sft_step_rate(model, tokenizer, steps)
    peaks.append(matmul_peak(n, 3 if args.smoke else 10))
    peak = max(peaks)
    by_overhead = {}
    for o in overheads:
        tps = tokens / statistics.median(seconds[o])
        pad, n_batches = padded_fraction(lengths, o)
        by_overhead[str(o)] = {"tokens_per_s": round(tps, 1), "fraction_of_peak": round(6 * params * tps / peak, 4), "padding_fraction": round(pad, 3),
                               "microbatches": n_batches, "seconds_per_step": [round(x, 3) for x in seconds[o]]}
    rl_tps = tokens / statistics.median(seconds[default])
    rl_flops = 6 * params * rl_tps
    print(json.dumps({
        "benchmark": "roofline", "smoke": args.smoke, "machine": platform.machine(), "threads": torch.get_num_threads(),
        "parameters": params, "matmul_n": n, "peak_gflops": round(peak / 1e9, 2),
        "peak_gflops_runs": [round(p / 1e9, 2) for p in peaks],
        "rl_step": {"microbatch_overhead": default, "tokens_per_s": round(rl_tps, 1), "gflops": round(rl_flops / 1e9, 3),
                    "fraction_of_peak": round(rl_flops / peak, 4), "padding_fraction": by_overhead[str(default)]["padding_fraction"],
                    "speedup_vs_one_microbatch": round(statistics.median(seconds[10**9]) / statistics.median(seconds[default]), 3) if 10**9 in seconds else None},
        "rl_step_by_microbatch_overhead": by_overhead,
        "sft_step": {"tokens_per_s": round(sft_tps, 1), "gflops": round(sft_flops / 1e9, 3), "fraction_of_peak": round(sft_flops / peak, 4)},
        "goal_fraction": 0.30, "goal_met": rl_flops / peak >= 0.30,
        "median_peak_gflops": round(statistics.median(peaks) / 1e9, 2),
    }))


if __name__ == "__main__":
    main()
