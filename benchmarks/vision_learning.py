"""Does the tiny VLM learn to read the digits, and does RL then raise its accuracy? (issue 23)

    python benchmarks/vision_learning.py                       # 3 seeds of assets/configs/vision.yaml
    python benchmarks/vision_learning.py --seeds 0 --workspace WS   # one seed; run again on WS to reuse what finished
    python benchmarks/vision_learning.py --smoke               # a tiny model and budget: checks the script runs

Per seed, with the project's own stages (k15core.stages, as `k15 build-model --kind vlm`, `k15 sft`, `k15 eval`
and `k15 train` run them): build the tiny VLM (`model.init_seed` = the seed), warm it up on image prompts
(`sft.seed` = the seed), evaluate it on the held-out set, train it with k1.5 RL (`rl.seed` = the seed), evaluate
again. Accuracy is Pass@1 over `--samples` answers per held-out problem sampled at temperature 1 (the policy RL
trains), free style (the prompt as it is), by level; the response length is in tokens. `read_warmup` and `read_rl`: the
share of the held-out pictures' digits the model reads (`vlm.read.read_accuracy`: after 'x=', ' y=', ' z=', is the
greedy token the pictured digit?), 0.1 is chance.

Every seed prints one JSON line; the last line is the summary: each number's mean over the seeds and its population
sd (`_std`, ddof 0), the gain of RL in points (overall and by level), the minutes of warm-up, RL and both (wall, and
the process's CPU minutes: on a shared machine the wall time mostly measures the neighbours), the load average, and
`done_when`: the issue's criteria (RL gains at least 15 points, the hardest level gains most, warm-up plus RL take at
most 15 minutes a seed) checked on the means. A finished seed's result is kept in the workspace (bench-runs/, keyed
by its whole config): the same command on the same --workspace reuses it ("reused": true).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from demo_learning import cached_run  # noqa: E402

from k15core import stages  # noqa: E402
from k15core.config import Config, load_config  # noqa: E402
from k15core.evaluate import ALL, EvalRow  # noqa: E402
from k15core.model_kinds import MODEL_KINDS  # noqa: E402
from k15core.tasks import make_task  # noqa: E402
from k15core.vlm.model import load_vlm  # noqa: E402
from k15core.vlm.read import read_accuracy  # noqa: E402
from k15core.workspace import Workspace  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "assets" / "configs" / "vision.yaml"
SMOKE = [
    "model.hidden_size=64", "model.num_layers=2", "model.num_heads=2", "model.num_kv_heads=1", "model.intermediate_size=128",
    "sft.examples=32", "sft.batch_size=16", "task.eval_per_level=1", "rl.iterations=1", "rl.prompts_per_iter=2", "rl.k=2",
    "rl.max_response_tokens=16", "eval.max_new_tokens=16", "rl.checkpoint_every=0", "sft.read_steps=2", "sft.text_steps=2",
    "sft.text_examples=16",
]
GAIN_POINTS = 15.0
"""The issue's bar: RL raises held-out accuracy by at least this many points."""
MAX_MINUTES = 15.0
"""The issue's bar: warm-up plus RL take at most this many minutes a seed (on this 2-core machine, alone)."""


def by_level(rows: list[EvalRow]) -> dict:
    """acc, len (all levels) and acc_by_level, len_by_level ({level: value}, str keys as JSON has them) of the free style."""
    free = {r.difficulty: r for r in rows if r.style == "free"}
    levels = sorted(d for d in free if d != ALL)
    return {"acc": free[ALL].accuracy, "len": free[ALL].len_mean,
            "acc_by_level": {str(d): free[d].accuracy for d in levels}, "len_by_level": {str(d): free[d].len_mean for d in levels}}


def reading(ws: Workspace, cfg: Config, model_dir: Path) -> float:
    """Share of the held-out pictures' digits the model reads right (`vlm.read.read_accuracy`, teacher-forced)."""
    model, processor = load_vlm(model_dir)
    task = make_task(cfg.task)
    return read_accuracy(model, processor, task, task.eval_problems(), ws.images).digits


class Clock:
    """Wall and CPU minutes (all threads of this process) since it was made."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def minutes(self) -> tuple[float, float]:
        return (time.perf_counter() - self.wall) / 60, (time.process_time() - self.cpu) / 60


def seed_run(ws: Workspace, cfg: Config, seed: int) -> dict:
    """One seed: build, warm up, evaluate, RL, evaluate (see the module docstring). Models go to models/*-s<seed>."""
    store = ws.store()
    base = MODEL_KINDS.get("vlm").build(cfg.model, ws.model_dir(f"tiny-vlm-s{seed}"))
    load_start = os.getloadavg()[0]
    clock = Clock()
    with contextlib.redirect_stdout(sys.stderr):  # the stages' progress lines (every 20 steps) on stderr: stdout is JSON
        stages.run_sft(ws, store, cfg, base, out_name=f"warmup-s{seed}", progress=True)
    warmup_minutes, warmup_cpu = clock.minutes()
    before = by_level(stages.run_eval(ws, store, cfg, ws.model_dir(f"warmup-s{seed}"), name=f"bench:warmup-s{seed}", progress=False))
    read_before = reading(ws, cfg, ws.model_dir(f"warmup-s{seed}"))
    print(json.dumps({"seed": seed, "warmup": before, "read_warmup": read_before, "warmup_minutes": warmup_minutes,
                      "load": os.getloadavg()[0]}), flush=True)
    print(f"seed {seed}: k1.5 RL, {cfg.rl.iterations} iterations", file=sys.stderr, flush=True)
    clock = Clock()
    stages.run_rl(ws, store, cfg, ws.model_dir(f"warmup-s{seed}"), out_name=f"rl-s{seed}", progress=False)
    rl_minutes, rl_cpu = clock.minutes()
    after = by_level(stages.run_eval(ws, store, cfg, ws.model_dir(f"rl-s{seed}"), name=f"bench:rl-s{seed}", progress=False))
    return {
        "seed": seed, **{f"{k}_warmup": v for k, v in before.items()}, **{f"{k}_rl": v for k, v in after.items()},
        "read_warmup": read_before, "read_rl": reading(ws, cfg, ws.model_dir(f"rl-s{seed}")),
        "warmup_minutes": warmup_minutes, "rl_minutes": rl_minutes, "total_minutes": warmup_minutes + rl_minutes,
        "warmup_cpu_minutes": warmup_cpu, "rl_cpu_minutes": rl_cpu, "load_start": load_start, "load_end": os.getloadavg()[0],
    }


def _stats(values: list[float]) -> tuple[float, float]:
    return float(np.mean(values)), float(np.std(values))


def summarise(runs: list[dict]) -> dict:
    """Means over the seeds' results and their population sds (`_std`); gains in points (RL minus warm-up, x100);
    `done_when`: the issue's criteria on the means."""
    out: dict = {"seeds": [r["seed"] for r in runs]}
    for key in ("acc_warmup", "acc_rl", "len_warmup", "len_rl", "warmup_minutes", "rl_minutes", "total_minutes",
                "warmup_cpu_minutes", "rl_cpu_minutes", "load_start", "load_end",
                *(k for k in ("read_warmup", "read_rl") if k in runs[0])):  # reading: results from before it was measured lack it
        out[key], out[f"{key}_std"] = _stats([r[key] for r in runs])
    out["gain_points"], out["gain_points_std"] = _stats([100 * (r["acc_rl"] - r["acc_warmup"]) for r in runs])
    levels = list(runs[0]["acc_by_level_warmup"])
    for key in ("acc_by_level_warmup", "acc_by_level_rl", "len_by_level_warmup", "len_by_level_rl"):
        out[key] = {d: float(np.mean([r[key][d] for r in runs])) for d in levels}
    gains = {d: [100 * (r["acc_by_level_rl"][d] - r["acc_by_level_warmup"][d]) for r in runs] for d in levels}
    out["gain_points_by_level"] = {d: float(np.mean(g)) for d, g in gains.items()}
    out["gain_points_by_level_std"] = {d: float(np.std(g)) for d, g in gains.items()}
    hardest = max(levels, key=int)
    out["done_when"] = {
        "gain_at_least_15_points": out["gain_points"] >= GAIN_POINTS,
        "hardest_level_gains_most": out["gain_points_by_level"][hardest] >= max(out["gain_points_by_level"].values()),
        "warmup_plus_rl_at_most_15_minutes": out["total_minutes"] <= MAX_MINUTES,
    }
    out["per_seed"] = [{k: r[k] for k in ("seed", "acc_warmup", "acc_rl", "total_minutes")} for r in runs]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--samples", type=int, default=4, help="sampled answers per held-out problem")
    ap.add_argument("--workspace", help="reuse this workspace (its finished seeds are reused); default: a temporary one")
    ap.add_argument("--smoke", action="store_true", help="tiny model and budget (a check that the script runs, not a measurement)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="extra config overrides for every run")
    args = ap.parse_args()

    base = (SMOKE if args.smoke else []) + ["eval.temperature=1.0", f"eval.samples={args.samples}", "eval.styles=[free]"] + args.overrides
    ws = Workspace.resolve(args.workspace or tempfile.mkdtemp(prefix="k15-vision-"))
    runs = []
    for seed in args.seeds:
        cfg = load_config(CONFIG, base + [f"model.init_seed={seed}", f"sft.seed={seed}", f"rl.seed={seed}"])
        result = cached_run(ws.root / "bench-runs", f"vision-s{seed}", cfg.to_dict(), lambda: seed_run(ws, cfg, seed))
        print(json.dumps(result), flush=True)
        runs.append(result)
    print(json.dumps({**summarise(runs), "smoke": args.smoke}), flush=True)


if __name__ == "__main__":
    main()
