"""glibc malloc tuning (k15core.malloc_tuning): speed and peak memory, tuned against glibc's defaults.

    python benchmarks/malloc_tuning.py            # 3 rounds, each one child per side, alternated
    python benchmarks/malloc_tuning.py --smoke    # a tiny model and budget: checks the script runs (CI)

The settings are process-wide and cannot be undone in a process, so each side runs in fresh children: tuned
(K15_MALLOC_TUNING=1, what `k15` does when asked) and untuned (the default), alternating, so machine noise hits each alike. A child loads
the demo's tiny model and does what the demo does most: warm-up SFT steps at the demo's token budget (real
`accumulate_gradients` and AdamW), then rollouts of one RL iteration's batch with the trainer's engine
(`compact_continue`). It reports both rates (real tokens/s) and its own peak RSS (`ru_maxrss`). Ratios are tuned
over untuned, medians over rounds. The last line is the JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
SMOKE = ["model.hidden_size=64", "model.num_layers=2", "model.num_heads=2", "model.num_kv_heads=1", "model.intermediate_size=128",
         "sft.batch_size=8", "rl.prompts_per_iter=2", "rl.k=2", "rl.max_response_tokens=8"]


def child(model_dir: str, steps: int, rollouts: int, overrides: list[str]) -> None:
    """One side's work in this fresh process (tuned or not as its environment says); prints its JSON."""
    from k15core import malloc_tuning

    applied = malloc_tuning.tune()
    import torch

    from k15core.config import DEMO_CONFIG, load_config
    from k15core.models import load_model
    from k15core.rollout.compact import compact_continue
    from k15core.sft import accumulate_gradients, build_warmup_set, make_batches, tokenize_examples
    from k15core.tasks import make_task

    cfg = load_config(DEMO_CONFIG, overrides)
    model, tok = load_model(model_dir)
    task = make_task(cfg.task)
    examples = build_warmup_set(task, cfg.sft.__class__(**{**cfg.sft.__dict__, "examples": cfg.sft.batch_size * steps}))
    batches = list(make_batches(tokenize_examples(tok, examples), cfg.sft.batch_size, 0, tok.pad_token_id))[:steps]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    sft_tokens, t0 = 0, time.perf_counter()
    for batch in batches:
        opt.zero_grad(set_to_none=True)
        accumulate_gradients(model, batch, cfg.sft.microbatch_tokens, scale=1000.0, bf16=False)
        opt.step()
        sft_tokens += int(batch[1].sum())
    sft_s = time.perf_counter() - t0
    problems = task.train_problems(cfg.rl.prompts_per_iter, seed=7)
    contexts = [tok(p.prompt, add_special_tokens=False)["input_ids"] for p in problems for _ in range(cfg.rl.k)]
    model.eval()
    torch.manual_seed(0)
    rollout_tokens, t0 = 0, time.perf_counter()
    for _ in range(rollouts):
        out = compact_continue(model, contexts, [cfg.rl.max_response_tokens] * len(contexts), eos=tok.eos_token_id, pad=tok.pad_token_id)
        rollout_tokens += sum(len(o.token_ids) for o in out)
    rollout_s = time.perf_counter() - t0
    print(json.dumps({"applied": applied, "sft_tokens_per_s": sft_tokens / sft_s, "rollout_tokens_per_s": rollout_tokens / rollout_s,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def run_side(tuned: bool, model_dir: str, steps: int, rollouts: int, overrides: list[str]) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")} | {"K15_MALLOC_TUNING": "1" if tuned else "0"}
    cmd = [sys.executable, __file__, "--child", model_dir, str(steps), str(rollouts), *overrides]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"child failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        return child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=40, help="warm-up steps per child")
    ap.add_argument("--rollouts", type=int, default=3, help="RL-iteration rollout batches per child")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--smoke", action="store_true", help="a tiny model and a few steps")
    args = ap.parse_args()
    overrides = SMOKE if args.smoke else []
    steps, rollouts, rounds = (2, 1, 1) if args.smoke else (args.steps, args.rollouts, args.rounds)
    from k15core.config import DEMO_CONFIG, load_config
    from k15core.models import build_tiny_model

    model_dir = str(build_tiny_model(load_config(DEMO_CONFIG, overrides).model, tempfile.mkdtemp(prefix="k15-malloc-")))
    sides: dict[str, list[dict]] = {"tuned": [], "untuned": []}
    for r in range(rounds):
        for name in sides:
            sides[name].append(run_side(name == "tuned", model_dir, steps, rollouts, overrides))
            print(f"round {r + 1}/{rounds} {name}: {json.dumps(sides[name][-1])}", file=sys.stderr, flush=True)
    med = {name: {key: statistics.median(run[key] for run in runs) for key in ("sft_tokens_per_s", "rollout_tokens_per_s", "peak_rss_mib")}
           for name, runs in sides.items()}
    print(json.dumps({
        "benchmark": "malloc_tuning", "smoke": args.smoke, "applied": sides["tuned"][0]["applied"],
        "tuned": {k: round(v, 1) for k, v in med["tuned"].items()}, "untuned": {k: round(v, 1) for k, v in med["untuned"].items()},
        "sft_speed_ratio": round(med["tuned"]["sft_tokens_per_s"] / med["untuned"]["sft_tokens_per_s"], 3),
        "rollout_speed_ratio": round(med["tuned"]["rollout_tokens_per_s"] / med["untuned"]["rollout_tokens_per_s"], 3),
        "peak_rss_ratio": round(med["tuned"]["peak_rss_mib"] / med["untuned"]["peak_rss_mib"], 3),
        "steps": steps, "rollouts": rollouts, "rounds": rounds, "load_average_1m": round(os.getloadavg()[0], 2),
        "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
    }))


if __name__ == "__main__":
    main()
