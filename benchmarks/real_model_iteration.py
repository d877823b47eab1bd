"""One RL iteration on SmolLM2-135M-Instruct: seconds by phase and peak RSS, against plain `model.generate` on the
same prompts in the same run.

    python benchmarks/real_model_iteration.py --workspace WS   # 4 iterations of assets/configs/real_cpu.yaml
    python benchmarks/real_model_iteration.py --smoke          # the tiny model: checks the script runs (CI)

Each side runs in a child process of its own, so each peak RSS (`ru_maxrss`) is that side's alone:
- `k15`: `k15 train` with the preset (8 prompts x 8 samples, at most 96 new tokens, LoRA), `--iterations` of them;
  the phases come from the run's `time/*_s` metrics; the first iteration is reported apart (first-call costs);
- `generate`: the same model with the same LoRA adapters, `model.generate` on the first iteration's 64 prompts
  (chat template, temperature and token limit of the preset), one batch, the rollout a plain script would do.
The goals (issue 19): an iteration at most 90 s, the run's peak RSS under 3 GB. The last line is JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CONFIG = ROOT / "assets" / "configs" / "real_cpu.yaml"
SMOKE = ["model.lora=false", "rl.prompts_per_iter=2", "rl.k=2", "rl.max_response_tokens=8", "rl.doctor=false"]


def generate_child(args) -> None:
    import torch

    from k15core.config import load_config
    from k15core.models import load_model
    from k15core.prompting import render_prompt
    from k15core.rollout.hf import sampling_kwargs
    from k15core.stages import rl_pool
    from k15core.tasks import make_task

    cfg = load_config(args.config, args.overrides)
    model, tok = load_model(args.model_dir, cfg.model)
    model.eval()
    task = make_task(cfg.task)
    problems = rl_pool(task, cfg)[: cfg.rl.prompts_per_iter]
    texts = [render_prompt(tok, p.prompt, task.instruction) for p in problems for _ in range(cfg.rl.k)]
    batch = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=cfg.rl.max_response_tokens, **sampling_kwargs(False, cfg.rl.temperature, cfg.rl.top_p),
                             eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    seconds = time.perf_counter() - t0
    rows = out[:, batch["input_ids"].shape[1]:].tolist()
    tokens = sum(r.index(tok.eos_token_id) + 1 if tok.eos_token_id in r else len(r) for r in rows)
    print(json.dumps({"seconds": seconds, "tokens": tokens, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def k15_side(args, ws: Path, model_ref: str) -> dict:
    from k15core.workspace import Workspace

    cmd = [sys.executable, "-m", "k15core.cli", "train", "--workspace", str(ws), "--config", args.config, "--model", model_ref,
           "--out", "rl-bench", "--quiet", "--set", f"rl.iterations={args.iterations}"] + [x for o in args.overrides for x in ("--set", o)]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode != 0:
        raise SystemExit(f"k15 train failed:\n{done.stderr[-3000:]}")
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    store = Workspace.resolve(str(ws)).store()
    run_id = store.runs(kind="rl")[-1]["id"]
    per_it: dict[int, dict[str, float]] = {}
    for row in store.metrics(run_id):
        if row["name"].startswith("time/") and row["name"].endswith("_s") and not row["name"].endswith("_per_s"):
            per_it.setdefault(row["iteration"], {})[row["name"][5:-2]] = row["value"]
    seconds = {i: sum(v.values()) for i, v in per_it.items()}
    later = [seconds[i] for i in sorted(seconds) if i > 0] or list(seconds.values())
    phases = sorted({p for v in per_it.values() for p in v})
    return {"process_wall_s": wall, "peak_rss_mib": peak, "first_iteration_s": seconds[min(seconds)], "iteration_s_median": statistics.median(later),
            "phases_median_s": {p: statistics.median(v.get(p, 0.0) for i, v in per_it.items() if i > 0 or len(per_it) == 1) for p in phases}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workspace", help="where SmolLM2 is (or is imported to); default a temporary folder")
    ap.add_argument("--config", default=str(CONFIG))
    ap.add_argument("--iterations", type=int, default=4)
    ap.add_argument("--smoke", action="store_true", help="the tiny model, 2 iterations (a check that the script runs)")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--generate-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generate_child:
        return generate_child(args)
    if args.smoke:
        args.overrides, args.iterations = SMOKE + args.overrides, 2
    from k15core import stages
    from k15core.config import load_config
    from k15core.workspace import Workspace

    ws = Path(args.workspace or tempfile.mkdtemp(prefix="k15-iter-"))
    workspace = Workspace.resolve(str(ws))
    cfg = load_config(args.config, args.overrides)
    model_dir = stages.base_model(workspace, cfg, progress=False) if args.smoke else stages.resolve_model(workspace, "smollm2")
    k15 = k15_side(args, ws, str(model_dir))
    child = subprocess.run([sys.executable, __file__, "--generate-child", "--model-dir", str(model_dir), "--config", args.config]
                           + [x for o in args.overrides for x in ("--set", o)], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if child.returncode != 0:
        raise SystemExit(f"generate side failed:\n{child.stderr[-3000:]}")
    gen = json.loads(child.stdout.strip().splitlines()[-1])
    print(json.dumps({
        "benchmark": "real_model_iteration", "smoke": args.smoke, "model": "tiny" if args.smoke else "SmolLM2-135M-Instruct",
        "config": Path(args.config).name, "overrides": args.overrides, "iterations": args.iterations,
        "rows": cfg.rl.prompts_per_iter * cfg.rl.k, "max_response_tokens": cfg.rl.max_response_tokens, "lora": cfg.model.lora,
        "k15": k15, "generate": gen, "rollout_over_generate_seconds": round(k15["phases_median_s"].get("rollout", 0.0) / gen["seconds"], 3),
        "goals": {"iteration_s": 90, "peak_rss_mib": 3072}, "machine": f"{os.cpu_count()} cores",
    }))


if __name__ == "__main__":
    main()
