"""Does the default RL phase really learn on a CPU? Accuracy and response length before and after RL.

    python benchmarks/demo_learning.py                  # 3 RL seeds, default config, plus the length-penalty run
    python benchmarks/demo_learning.py --ablations      # also the ablation table (rows below)
    python benchmarks/demo_learning.py --smoke          # a tiny model and budget: checks the script runs end to end
    python benchmarks/demo_learning.py --length-penalty 0 --ablations --ablation-rows grid losses \
        --ablation-iterations 20 --ablation-samples 2  # the τ x epochs grid and the losses, 3 seeds

One warm-up model (the demo's, built once in the benchmark's workspace and reused) is trained with
RL under each seed. Accuracy is measured on the held-out set with answers sampled at temperature 1
(Pass@1 over `--samples` answers per problem: the policy RL trains), before and after RL.
Every run prints one JSON line; the last line is the summary object:
    acc_warmup, acc_rl, hard_acc_warmup, hard_acc_rl, hard_len_warmup, hard_len_rl, rl_minutes
    (means over seeds), per_seed, hard_len_by_iteration (mean over seeds, from the RL metrics),
    length_penalty (the same numbers with the length penalty on), ablations (when asked).
With --ablations the summary is also printed before the ablation runs start, so a run cut short
still leaves its main result. Each finished run's result is kept in the workspace (bench-runs/, keyed by its
label and whole config): run the same command on the same --workspace again and a long benchmark cut short
goes on where it stopped (the reused lines say "reused": true).

The ablation rows (`--ablation-rows`: row names or groups, default all groups), each run under every seed:
    grid      the k15 loss with τ ∈ {0, the config's τ, 10x it} x rl.epochs ∈ {1, 4}: with one pass the policy
              barely leaves π_θi within an iteration and the τ term has almost nothing to act on
    losses    k15, grpo, reinforce, rest (ReST: no negative gradient; report §3.5, Figure 10)
    samplers  prioritised, uniform, curriculum (easy levels for a third of the run, then hard)
Rows with the same config (k15 at the config's τ with one pass is the default, as is sampler=prioritised) share
their runs. Each row of `ablations.results`: acc_rl, hard_acc_rl, rl_minutes, and the RL metrics rl/logratio_abs (mean
|log π_θ − log π_θi| per response at each iteration's last step) and rl/tau_share (the τ term's share of that
step's gradient), each a mean over the row's seeds with `_std` its sd over them (population sd, ddof 0); a
run's value of an RL metric is its mean over the run's iterations.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from k15core import stages  # noqa: E402
from k15core.config import DEMO_CONFIG, load_config  # noqa: E402
from k15core.configfile import without_speed_only  # noqa: E402
from k15core.evaluate import ALL  # noqa: E402
from k15core.sampling import easy_then_hard  # noqa: E402
from k15core.workspace import Workspace  # noqa: E402

CONFIG = DEMO_CONFIG
SMOKE = [
    "model.hidden_size=64", "model.num_layers=2", "model.num_heads=2", "model.num_kv_heads=1", "model.intermediate_size=128",
    "sft.examples=64", "sft.batch_size=16", "task.eval_per_level=2", "rl.iterations=2", "rl.prompts_per_iter=2", "rl.k=2",
    "rl.max_response_tokens=24", "eval.max_new_tokens=24",
]


TRAINING_METRICS = ("rl/logratio_abs", "rl/tau_share")
"""RL metrics each run reports as its mean over iterations (the ablation rows' `logratio_abs`, `tau_share`)."""


def ablation_rows(tau: float, iterations: int) -> dict[str, dict[str, list[str]]]:
    """group -> row name -> config overrides (see the module docstring). `tau`: the config's τ (the grid's middle
    value); `iterations`: the ablation runs' length (the curriculum switches at a third of it)."""
    grid = {f"loss=k15,tau={t:g},epochs={e}": ["rl.loss=k15", f"rl.tau={t!r}", f"rl.epochs={e}"] for e in (1, 4) for t in (0.0, tau, 10 * tau)}
    losses = {f"loss={name}": [f"rl.loss={name}"] for name in ("k15", "grpo", "reinforce", "rest")}
    samplers = {f"sampler={name}": [f"rl.sampler={name}"] for name in ("prioritised", "uniform")}
    samplers["sampler=curriculum"] = ["rl.sampler=curriculum", f"rl.curriculum={json.dumps(easy_then_hard(iterations))}"]
    return {"grid": grid, "losses": losses, "samplers": samplers}


def select_rows(groups: dict[str, dict[str, list[str]]], wanted: list[str]) -> dict[str, list[str]]:
    """The rows named in `wanted` (row names or group names), in the order given; an unknown name is an error."""
    rows = {name: extra for group in groups.values() for name, extra in group.items()}
    out = {}
    for w in wanted:
        if w not in rows and w not in groups:
            raise SystemExit(f"unknown ablation row {w!r}; groups: {', '.join(groups)}; rows: {', '.join(rows)}")
        out.update(groups[w] if w in groups else {w: rows[w]})
    return out


def row_stats(runs: list[dict], keys: tuple[str, ...]) -> dict[str, float]:
    """key -> mean over the runs (seeds), key_std -> their population sd (ddof 0, as the README's tables)."""
    out = {}
    for key in keys:
        values = [r[key] for r in runs]
        out[key], out[f"{key}_std"] = float(np.mean(values)), float(np.std(values))
    return out


def summarise(rows) -> dict:
    free = {r.difficulty: r for r in rows if r.style == "free"}
    hard = max(d for d in free if d != ALL)
    return {"acc": free[ALL].accuracy, "hard_acc": free[hard].accuracy, "hard_len": free[hard].len_mean, "len": free[ALL].len_mean}


def rl_run(ws: Workspace, overrides: list[str], label: str) -> dict:
    cfg = load_config(CONFIG, overrides)
    store = ws.store()
    t0 = time.perf_counter()
    run, _ = stages.run_rl(ws, store, cfg, ws.model_dir(stages.WARMUP_MODEL), out_name=f"rl-{label}", progress=False)
    minutes = (time.perf_counter() - t0) / 60
    after = summarise(stages.run_eval(ws, store, cfg, ws.model_dir(f"rl-{label}"), name=f"bench:{label}", progress=False))
    hard = max(cfg.task.levels)
    series = {}
    for row in store.metrics(run.state.run_id, names=[f"rl/len_mean/d{hard}", f"rl/accuracy/d{hard}", *TRAINING_METRICS]):
        series.setdefault(row["name"], {})[row["iteration"]] = row["value"]
    training = {name.removeprefix("rl/"): float(np.mean(list(series.get(name, {}).values()) or [np.nan])) for name in TRAINING_METRICS}
    return {**training,
        "label": label, "rl_minutes": minutes, "acc_rl": after["acc"], "hard_acc_rl": after["hard_acc"], "hard_len_rl": after["hard_len"],
        "len_rl": after["len"], "hard_len_by_iteration": [series.get(f"rl/len_mean/d{hard}", {}).get(i) for i in range(cfg.rl.iterations)],
        "hard_acc_by_iteration": [series.get(f"rl/accuracy/d{hard}", {}).get(i) for i in range(cfg.rl.iterations)],
    }


def cached_run(folder: Path, label: str, cfg_dict: dict, run) -> dict:
    """`run()`'s result, kept in folder/<label>-<hash of the config>.json: a second call with the same label and
    config reads it back (marked "reused") instead of training again; another config is another file. Settings that
    only change speed and memory (`configfile.SPEED_ONLY`) are left out of the hash."""
    key = hashlib.sha256(json.dumps(without_speed_only(cfg_dict), sort_keys=True).encode()).hexdigest()[:16]
    path = folder / f"{label}-{key}.json"
    if path.exists():
        return {**json.loads(path.read_text()), "reused": True}
    result = run()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    tmp.replace(path)  # whole or absent: a run killed while writing is simply run again
    return result


def mean_of(runs: list[dict], key: str) -> float:
    return float(np.mean([r[key] for r in runs]))


def series_mean(runs: list[dict], key: str) -> list[float | None]:
    out = []
    for values in zip(*[r[key] for r in runs]):
        present = [v for v in values if v is not None]
        out.append(float(np.mean(present)) if present else None)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--samples", type=int, default=4, help="sampled answers per held-out problem")
    ap.add_argument("--length-penalty", type=float, default=0.3, help="weight w of the length-penalty run (0 skips it)")
    ap.add_argument("--length-penalty-warmup", type=int, default=10, help="iterations before the length penalty switches on (report §2.3.3)")
    ap.add_argument("--ablations", action="store_true", help="also the ablation rows: τ x epochs grid, losses, samplers (see above)")
    ap.add_argument("--ablation-rows", nargs="+", default=["grid", "losses", "samplers"], help="row names or groups (grid, losses, samplers)")
    ap.add_argument("--ablation-iterations", type=int, default=0, help="iterations of each ablation run (0: the default)")
    ap.add_argument("--ablation-samples", type=int, default=0, help="sampled answers per held-out problem in ablation runs (0: --samples)")
    ap.add_argument("--workspace", help="reuse this workspace (its warm-up model is reused); default: a temporary one")
    ap.add_argument("--smoke", action="store_true", help="tiny model and budget (a check that the script runs, not a measurement)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="extra config overrides for every run")
    args = ap.parse_args()

    base = (SMOKE if args.smoke else []) + ["eval.temperature=1.0", f"eval.samples={args.samples}", "eval.styles=[free]"] + args.overrides
    ws = Workspace.resolve(args.workspace or tempfile.mkdtemp(prefix="k15-bench-"))
    cfg = load_config(CONFIG, base)
    n = args.ablation_iterations
    rows = select_rows(ablation_rows(cfg.rl.tau, n or cfg.rl.iterations), args.ablation_rows)  # a typo stops the script now
    if not stages.warmup_is_current(ws, cfg):
        t0 = time.perf_counter()
        stages.run_sft(ws, ws.store(), cfg, stages.base_model(ws, cfg, progress=False), progress=False)
        print(json.dumps({"warmup_minutes": (time.perf_counter() - t0) / 60}), flush=True)
    before = summarise(stages.run_eval(ws, ws.store(), cfg, ws.model_dir(stages.WARMUP_MODEL), name="bench:warmup", progress=False))
    print(json.dumps({"warmup": before}), flush=True)

    def runs_for(label: str, extra: list[str], iterations: int = 0, samples: int = 0) -> list[dict]:
        out = []
        for seed in args.seeds:
            more = [f"rl.seed={seed}"] + ([f"rl.iterations={iterations}"] if iterations else []) + ([f"eval.samples={samples}"] if samples else [])
            overrides, name = base + extra + more, f"{label}-s{seed}"
            r = cached_run(ws.root / "bench-runs", name, load_config(CONFIG, overrides).to_dict(), lambda: rl_run(ws, overrides, name))
            r["seed"] = seed
            print(json.dumps(r), flush=True)
            out.append(r)
        return out

    default = runs_for("default", [])
    summary = {
        "acc_warmup": before["acc"], "acc_rl": mean_of(default, "acc_rl"),
        "hard_acc_warmup": before["hard_acc"], "hard_acc_rl": mean_of(default, "hard_acc_rl"),
        "hard_len_warmup": before["hard_len"], "hard_len_rl": mean_of(default, "hard_len_rl"),
        "rl_minutes": mean_of(default, "rl_minutes"),
        "hard_len_by_iteration": series_mean(default, "hard_len_by_iteration"),
        "hard_acc_by_iteration": series_mean(default, "hard_acc_by_iteration"),
        "per_seed": [{k: r[k] for k in ("seed", "acc_rl", "hard_acc_rl", "hard_len_rl", "len_rl", "rl_minutes")} for r in default],
    }
    if args.length_penalty:
        lp = runs_for("lenpen", [f"rl.length_penalty={args.length_penalty}", f"rl.length_penalty_warmup={args.length_penalty_warmup}"])
        summary["length_penalty"] = {
            "weight": args.length_penalty, "warmup_iterations": args.length_penalty_warmup, "acc_rl": mean_of(lp, "acc_rl"), "hard_len_rl": mean_of(lp, "hard_len_rl"), "len_rl": mean_of(lp, "len_rl"),
            "len_rl_without": mean_of(default, "len_rl"),
            "per_seed": [{k: r[k] for k in ("seed", "acc_rl", "hard_len_rl", "len_rl")} for r in lp],
        }
    if args.ablations:  # the summary so far, in case the ablations are cut short; the final line repeats it
        print(json.dumps(summary), flush=True)
    if args.ablations:
        # Rows with the same config share their runs; at the default length and samples that includes the runs above.
        def config_key(extra: list[str]) -> str:
            more = ([f"rl.iterations={n}"] if n else []) + ([f"eval.samples={args.ablation_samples}"] if args.ablation_samples else [])
            return json.dumps(load_config(CONFIG, base + extra + more).to_dict(), sort_keys=True)

        shared: dict[str, list[dict]] = {config_key([]): default} if not n and not args.ablation_samples else {}
        table = {}
        for name, extra in rows.items():
            key = config_key(extra)
            if key not in shared:
                shared[key] = runs_for(name.replace("=", "-").replace(",", "-"), extra, n, args.ablation_samples)
            table[name] = row_stats(shared[key], ("acc_rl", "hard_acc_rl", "logratio_abs", "tau_share", "rl_minutes"))
        summary["ablations"] = {"iterations": n or cfg.rl.iterations, "samples": args.ablation_samples or args.samples, "seeds": args.seeds,
                                "tau": cfg.rl.tau, "results": table}
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
