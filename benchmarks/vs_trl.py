"""One RL iteration of k15 against one step of TRL's GRPOTrainer at equal work, alternated in one run.

    python benchmarks/vs_trl.py                      # 3 rounds of 4 iterations each side (after a warm-up one)
    python benchmarks/vs_trl.py --model DIR          # another model folder (default: the tiny model, built fresh)
    python benchmarks/vs_trl.py --smoke              # a tiny model and budget: checks the script runs (CI)

Equal work on both sides: the same model (the same weights, loaded fresh each round), the same prompts (the
demo's digit-recurrence task), P prompts x k samples per step, the same longest completion, plain sampling at
temperature 1 (no top-k, no top-p), the same verifier as reward, one optimiser step (AdamW, the same learning
rate) per iteration, fp32 on the CPU with torch's default threads. TRL: `GRPOConfig(use_cpu=True, bf16=False,
use_vllm=False, beta=0)`, one generation batch per step. k15: `rl_iteration` with `minibatches=1`, no partial
rollouts, the repeat detector off (TRL has none, and on an untrained model it would stop k15's rollouts early:
less work). k15's iteration also writes every trajectory to its run store; TRL's step logs only metrics.

Timed per iteration, after a first untimed one on each side (first-call overheads). Rounds alternate the
sides so machine noise hits both alike. `speedup_vs_trl` = TRL's median seconds per step / k15's median
seconds per iteration (above 1: k15 is faster). Generated tokens per step are reported for both sides, to
show the work was equal. The last line is the JSON.
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
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import torch  # noqa: E402

from k15core.config import ModelConfig  # noqa: E402

from k15core.models import build_tiny_model, load_model  # noqa: E402
from k15core.tasks.recurrence import RecurrenceTask  # noqa: E402


def k15_side(model_dir: Path, problems, prompts: int, k: int, max_tokens: int, lr: float, iterations: int, workspace: Path) -> tuple[list[float], list[int]]:
    """Seconds and generated tokens of each timed k15 iteration."""
    from k15core import stages
    from k15core.config import load_config
    from k15core.trainer import rl_iteration
    from k15core.workspace import Workspace

    ws = Workspace.resolve(workspace)
    cfg = load_config(None, [f"rl.prompts_per_iter={prompts}", f"rl.k={k}", f"rl.max_response_tokens={max_tokens}", f"rl.lr={lr}",
                             "rl.minibatches=1", "rl.repeat_ngram=0", "rl.temperature=1.0", "rl.top_p=1.0", "rl.sampler=uniform",
                             "task.eval_per_level=1"])
    run, _ = stages.prepare_rl(ws, ws.store(), cfg, model_dir)
    run.sampler.pool = list(problems)  # the same prompts as TRL's
    seconds, tokens = [], []
    for i in range(iterations + 1):
        t0 = time.perf_counter()
        metrics = rl_iteration(run)
        if i > 0:
            seconds.append(time.perf_counter() - t0)
            tokens.append(int(metrics["rl/len_mean"] * prompts * k))
    return seconds, tokens


def trl_side(model_dir: Path, problems, prompts: int, k: int, max_tokens: int, lr: float, iterations: int, out: Path) -> tuple[list[float], list[int]]:
    """Seconds and generated tokens of each timed TRL GRPOTrainer step."""
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    task = RecurrenceTask(eval_per_level=1)
    model, tokenizer = load_model(model_dir)
    references = {p.prompt: p.reference for p in problems}

    def correctness(prompts, completions, **kwargs):
        return [task.verify(c, references[p]) for p, c in zip(prompts, completions)]

    class StepTimes(TrainerCallback):
        def __init__(self):
            self.marks: list[float] = []

        def on_step_begin(self, args, state, control, **kwargs):
            self.marks.append(time.perf_counter())

        def on_step_end(self, args, state, control, **kwargs):
            self.marks.append(time.perf_counter())

    lengths: list[float] = []

    class Lengths(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "completions/mean_length" in logs:
                lengths.append(logs["completions/mean_length"])

    config = GRPOConfig(
        output_dir=str(out), use_cpu=True, bf16=False, fp16=False, use_vllm=False, per_device_train_batch_size=prompts * k,
        num_generations=k, max_completion_length=max_tokens, learning_rate=lr, beta=0.0, temperature=1.0, top_p=1.0, top_k=0,
        logging_steps=1, save_strategy="no", report_to="none", disable_tqdm=True, max_steps=iterations + 1, seed=0,
        lr_scheduler_type="constant", warmup_steps=0,
    )
    times = StepTimes()
    trainer = GRPOTrainer(model=model, reward_funcs=[correctness], args=config, processing_class=tokenizer,
                          train_dataset=Dataset.from_list([{"prompt": p.prompt} for p in problems]), callbacks=[times, Lengths()])
    trainer.train()
    steps = [times.marks[i + 1] - times.marks[i] for i in range(0, len(times.marks) - 1, 2)]
    return steps[1:], [int(n * prompts * k) for n in lengths[1:]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model folder (default: the tiny model, built fresh)")
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=4, help="timed iterations per side per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--smoke", action="store_true", help="tiny budget (a check that the script runs, not a measurement)")
    args = ap.parse_args()
    prompts, k, max_tokens, iterations, rounds = (2, 2, 8, 1, 1) if args.smoke else (args.prompts, args.k, args.max_tokens, args.iterations, args.rounds)
    lr = 5e-5
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(args.model) if args.model else build_tiny_model(ModelConfig(), Path(tmp) / "model")
        problems = RecurrenceTask(eval_per_level=1).train_problems(prompts * (iterations + 1), seed=123)
        ours, theirs, ours_tokens, theirs_tokens = [], [], [], []
        for r in range(rounds):
            torch.manual_seed(r)
            s, t = k15_side(model_dir, problems, prompts, k, max_tokens, lr, iterations, Path(tmp) / f"ws{r}")
            ours += s
            ours_tokens += t
            torch.manual_seed(r)
            s, t = trl_side(model_dir, problems, prompts, k, max_tokens, lr, iterations, Path(tmp) / f"trl{r}")
            theirs += s
            theirs_tokens += t
        k15_s, trl_s = statistics.median(ours), statistics.median(theirs)
        import trl

        print(json.dumps({
            "benchmark": "vs_trl", "smoke": args.smoke, "trl_version": trl.__version__, "threads": torch.get_num_threads(),
            "model": str(args.model or "tiny (2.93 M parameters, untrained)"), "prompts": prompts, "k": k, "max_tokens": max_tokens,
            "rounds": rounds, "iterations_per_round": iterations,
            "k15_s_per_iteration": round(k15_s, 4), "trl_s_per_step": round(trl_s, 4), "speedup_vs_trl": round(trl_s / k15_s, 3),
            "k15_generated_tokens_per_iteration": statistics.median(ours_tokens), "trl_generated_tokens_per_step": statistics.median(theirs_tokens) if theirs_tokens else None,
            "k15_times": [round(x, 3) for x in ours], "trl_times": [round(x, 3) for x in theirs], "goal": 2.0,
        }))


if __name__ == "__main__":
    main()
