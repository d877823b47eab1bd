"""Long2short on the tiny demo: every method's accuracy and mean response tokens next to the long model's.

    python benchmarks/long2short.py --workspace WS     # 3 seeds; reuses WS's warm-up and RL models
    python benchmarks/long2short.py --smoke            # a tiny model and budget: checks the script runs
    python benchmarks/long2short.py --layer assets/configs/overthink.yaml --workspace WS2
                                                       # the long CoT over-thinks (checks every step again)
    python benchmarks/long2short.py --workspace WS --seeds 1 --save s1.json   (one process per seed, in parallel,
    python benchmarks/long2short.py --combine s0.json s1.json s2.json          once WS has its warm-up and short models)

The long model of seed s is the demo's RL policy trained with rl.seed=s (`rl-default-s<s>`, the name
benchmarks/demo_learning.py gives it; trained here when the workspace lacks it). The short baseline is
the base model warmed up on short solutions only (one model). For each seed the four methods start
from that seed's long model with seed s: merge (alpha 0.5 with the short baseline), shortest rejection
sampling, DPO and long2short RL (assets/configs/long2short_rl.yaml). Every model is evaluated on the
held-out set in the free style, answers sampled at temperature 1 (Pass@1 over --samples per problem).
Each seed prints one JSON line; the last line is the summary: per method the mean and sd over seeds
of accuracy and mean tokens, and the change against the long model (points, and % tokens).
"""
from __future__ import annotations

import argparse
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
from k15core.errors import K15Error  # noqa: E402
from k15core.long2short import stages as l2s  # noqa: E402
from k15core.workspace import Workspace  # noqa: E402

SMOKE = [
    "model.hidden_size=64", "model.num_layers=2", "model.num_heads=2", "model.num_kv_heads=1", "model.intermediate_size=128",
    "sft.examples=64", "sft.batch_size=16", "task.eval_per_level=2", "rl.iterations=1", "rl.prompts_per_iter=2", "rl.k=2",
    "rl.max_response_tokens=24", "eval.max_new_tokens=24", "long2short.prompts=4", "long2short.samples=4",
    "long2short.max_new_tokens=24", "long2short.rs_epochs=1", "long2short.dpo_epochs=1",
]
METHODS = ("merge", "rejection", "dpo", "rl")


def overall(rows: list[dict], label: str) -> dict:
    return next(r for r in rows if r["model"] == label and r["level"] == "all")


def one_seed(ws: Workspace, seed: int, base: list[str], layers: list[str], samples: int, smoke: bool) -> dict:
    store = ws.store()
    sets = base + [f"rl.seed={seed}", f"long2short.seed={seed}", f"eval.samples={samples}"]
    cfg = load_config(DEMO_CONFIG, sets, layers=layers)
    long_name = f"rl-default-s{seed}"
    if not ws.has_model(long_name):
        stages.run_rl(ws, store, cfg, ws.model_dir(stages.WARMUP_MODEL), out_name=long_name, progress=False)
    minutes, models, errors = {}, {"long": long_name, "short": "short"}, {}
    for method in METHODS:
        out = f"l2s-{method}-s{seed}"
        t0 = time.perf_counter()
        try:
            make(ws, store, cfg, sets, layers, method, long_name, out, smoke)
        except K15Error as err:  # e.g. no correct sample to learn from: reported, not hidden
            errors[method] = str(err)
            continue
        minutes[method] = (time.perf_counter() - t0) / 60
        models[method] = out
    rows = l2s.compare(ws, store, cfg, models, progress=False)
    result = {"seed": seed, "minutes": minutes, "errors": errors, "rows": rows}
    print(json.dumps({k: v for k, v in result.items() if k != "rows"} | {m: {k: overall(rows, m)[k] for k in ("accuracy", "len_mean")} for m in models}), flush=True)
    return result


def make(ws, store, cfg, sets: list[str], layers: list[str], method: str, long_name: str, out: str, smoke: bool) -> None:
    if method == "merge":
        l2s.run_merge(ws, store, cfg, long_name, "short", out, alpha=0.5)
    elif method == "rejection":
        l2s.run_rejection(ws, store, cfg, long_name, out, progress=False)
    elif method == "dpo":
        l2s.run_dpo(ws, store, cfg, long_name, out, progress=False)
    else:
        rl_cfg = load_config(DEMO_CONFIG, sets + (["rl.iterations=1"] if smoke else []), layers=[*layers, l2s.L2S_RL_PRESET])
        l2s.run_long2short_rl(ws, store, rl_cfg, long_name, out, progress=False)


def summary(results: list[dict], layers: list[str]) -> dict:
    labels = [m for m in ["long", "short", *METHODS] if all(m not in r["errors"] for r in results)]
    out: dict = {"benchmark": "long2short", "layers": layers, "seeds": [r["seed"] for r in results], "methods": {}}
    for label in labels:
        acc = np.array([overall(r["rows"], label)["accuracy"] for r in results])
        tok = np.array([overall(r["rows"], label)["len_mean"] for r in results])
        long_acc = np.array([overall(r["rows"], "long")["accuracy"] for r in results])
        long_tok = np.array([overall(r["rows"], "long")["len_mean"] for r in results])
        out["methods"][label] = {
            "accuracy": float(acc.mean()), "accuracy_sd": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
            "len_mean": float(tok.mean()), "len_sd": float(tok.std(ddof=1)) if len(tok) > 1 else 0.0,
            "points_vs_long": float(100 * (acc - long_acc).mean()), "tokens_vs_long_pct": float(100 * (tok / long_tok - 1).mean()),
            "per_seed": [{"accuracy": float(a), "len_mean": float(t)} for a, t in zip(acc, tok)],
        }
    out["errors"] = {m: [r["errors"][m] for r in results if m in r["errors"]] for m in METHODS if any(m in r["errors"] for r in results)}
    out["goal_met_by"] = [m for m in METHODS if m in out["methods"] and out["methods"][m]["tokens_vs_long_pct"] <= -30 and out["methods"][m]["points_vs_long"] >= -3]
    out["by_level"] = {}
    for label in labels:  # mean over seeds of each level's accuracy and tokens
        rows = [x for r in results for x in r["rows"] if x["model"] == label]
        out["by_level"][label] = {str(level): {key: float(np.mean([x[key] for x in rows if x["level"] == level])) for key in ("accuracy", "len_mean")}
                                  for level in dict.fromkeys(x["level"] for x in rows)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--samples", type=int, default=4, help="sampled answers per held-out problem")
    ap.add_argument("--workspace", help="reuse this workspace (its warm-up, RL and short models are reused); default: a temporary one")
    ap.add_argument("--smoke", action="store_true", help="tiny model and budget (a check that the script runs, not a measurement)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="extra config overrides for every run")
    ap.add_argument("--layer", dest="layers", action="append", default=[], help="a YAML preset applied on top of the demo config for every run")
    ap.add_argument("--save", help="also write each seed's full result (every model's rows) to this JSON file")
    ap.add_argument("--combine", nargs="+", metavar="FILE", help="print the summary of results saved by --save (e.g. seeds run in "
                    "parallel processes on one workspace, after its warm-up and short models exist); runs nothing")
    args = ap.parse_args()
    if args.combine:
        saved = [json.loads(Path(f).read_text()) for f in args.combine]
        results = sorted((r for s in saved for r in s["results"]), key=lambda r: r["seed"])
        print(json.dumps(summary(results, saved[0]["layers"])))
        return
    base = (SMOKE if args.smoke else []) + args.overrides
    seeds = args.seeds[:1] if args.smoke else args.seeds
    samples = 1 if args.smoke else args.samples
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.resolve(args.workspace or tmp)
        cfg = load_config(DEMO_CONFIG, base, layers=args.layers)
        store = ws.store()
        longs_missing = any(not ws.has_model(f"rl-default-s{s}") for s in seeds)
        if longs_missing and not stages.warmup_is_current(ws, cfg):  # the long models are RL'd from the warm-up
            stages.run_sft(ws, store, cfg, stages.base_model(ws, cfg, progress=False), progress=False)
        if not ws.has_model("short"):
            l2s.run_short_baseline(ws, store, cfg, "short", progress=False)
        results = [one_seed(ws, s, base, args.layers, samples, args.smoke) for s in seeds]
        if args.save:
            Path(args.save).write_text(json.dumps({"layers": args.layers, "results": results}))
        print(json.dumps(summary(results, args.layers)))


if __name__ == "__main__":
    main()
