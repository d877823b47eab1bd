"""Where one RL iteration spends its time: torch.profiler's table of ops by self CPU time.

    python tools/profile_iteration.py --model WS/models/warmup      # the benchmarks' vs-TRL setting: 8 prompts x 8
    python tools/profile_iteration.py --model DIR --iterations 5 --rows 30

Runs one untimed iteration (first-call overheads), then profiles --iterations more and prints each phase's
seconds (the trainer's time/* metrics) and the op table. Evidence for README "Speed and memory".
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def main() -> None:
    from torch.profiler import ProfilerActivity, profile

    from k15core import stages
    from k15core.config import load_config
    from k15core.tasks.recurrence import RecurrenceTask
    from k15core.trainer import rl_iteration
    from k15core.workspace import Workspace

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="model folder, e.g. a workspace's models/warmup")
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--rows", type=int, default=22, help="rows of the op table")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.resolve(Path(tmp))
        cfg = load_config(None, [f"rl.prompts_per_iter={args.prompts}", f"rl.k={args.k}", f"rl.max_response_tokens={args.max_tokens}",
                                 "rl.minibatches=1", "rl.repeat_ngram=0", "rl.sampler=uniform", "task.eval_per_level=1"])
        run, _ = stages.prepare_rl(ws, ws.store(), cfg, Path(args.model))
        run.sampler.pool = RecurrenceTask(eval_per_level=1).train_problems(args.prompts * (args.iterations + 1), seed=123)
        rl_iteration(run)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(args.iterations):
                metrics = rl_iteration(run)
                print({k: round(v, 3) for k, v in metrics.items() if k.startswith("time/") and not k.endswith("per_s")})
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()
