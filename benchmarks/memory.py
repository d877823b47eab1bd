"""Peak resident memory (RSS) of `k15 demo`, next to the bare imports it stands on, measured in the same run.

    python benchmarks/memory.py                  # the full demo (warm-up, RL, evaluations; ~10 min on 2 cores)
    python benchmarks/memory.py --smoke          # a tiny model and budget: checks the script runs (CI)
    python benchmarks/memory.py --tuned          # also the demo with glibc's malloc tuned (K15_MALLOC_TUNING=1)

Each side runs in its own child process (the demo with --no-studio, in a fresh temporary workspace) and its
peak RSS is read from the kernel's accounting of that child (`resource.getrusage(RUSAGE_CHILDREN)`, Linux:
kilobytes). The baseline is a child that only imports torch, transformers and k15core: the ratio says how
much the demo itself adds. With --tuned a second demo runs with glibc's malloc
tuned (K15_MALLOC_TUNING=1, k15core.malloc_tuning; off by default), so the two peaks sit side by side. The last line is the JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ["model.hidden_size=64", "model.num_layers=2", "model.num_heads=2", "model.num_kv_heads=1", "model.intermediate_size=128",
         "sft.examples=64", "task.eval_per_level=2", "eval.samples=1", "eval.max_new_tokens=24", "rl.iterations=1",
         "rl.prompts_per_iter=2", "rl.k=2", "rl.max_response_tokens=24"]


def child_peak_mib(cmd: list[str], env: dict) -> tuple[float, float]:
    """(peak RSS in MiB, wall seconds) of `cmd` run as a fresh child. RUSAGE_CHILDREN's ru_maxrss is the
    largest peak among all children waited for so far, so each measurement runs from its own helper
    process that has no other children."""
    helper = ("import resource, subprocess, sys, json, time; t0 = time.perf_counter(); "
              "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True); "
              "print(json.dumps({'rc': r.returncode, 'kib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
              "'s': time.perf_counter() - t0, 'err': r.stderr[-2000:]}))")
    out = subprocess.run([sys.executable, "-c", helper, *cmd], capture_output=True, text=True, env=env, cwd=ROOT)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["rc"] != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed:\n{result['err']}")
    return result["kib"] / 1024, result["s"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="tiny model and budget (a check that the script runs, not a measurement)")
    ap.add_argument("--tuned", action="store_true", help="also run the demo with glibc's malloc tuned (K15_MALLOC_TUNING=1)")
    args = ap.parse_args()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "K15_MALLOC_TUNING"}, "TRANSFORMERS_VERBOSITY": "error", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    baseline_mib, _ = child_peak_mib([sys.executable, "-c", "import torch, transformers, k15core.trainer, k15core.stages"], env)
    with tempfile.TemporaryDirectory() as ws:
        sets = [a for s in (SMOKE if args.smoke else []) for a in ("--set", s)]
        demo = [sys.executable, "-m", "k15core.cli", "demo", "--no-studio", "--quiet", "--workspace", ws, *sets]
        t0 = time.perf_counter()
        print(f"running k15 demo{' (smoke)' if args.smoke else ' (about 10 minutes on 2 cores)'} ...", file=sys.stderr, flush=True)
        demo_mib, demo_s = child_peak_mib(demo, env)
    tuned = {}
    if args.tuned:
        with tempfile.TemporaryDirectory() as ws:
            demo = [sys.executable, "-m", "k15core.cli", "demo", "--no-studio", "--quiet", "--workspace", ws, *sets]
            mib, s = child_peak_mib(demo, {**env, "K15_MALLOC_TUNING": "1"})
        tuned = {"tuned_demo_peak_rss_mib": round(mib, 1), "tuned_demo_minutes": round(s / 60, 2), "tuned_over_default": round(mib / demo_mib, 3)}
    print(json.dumps({
        "benchmark": "memory", "smoke": args.smoke, "demo_peak_rss_mib": round(demo_mib, 1), "demo_minutes": round(demo_s / 60, 2),
        "imports_peak_rss_mib": round(baseline_mib, 1), "demo_over_imports": round(demo_mib / baseline_mib, 3),
        "demo_minus_imports_mib": round(demo_mib - baseline_mib, 1), "wall_s": round(time.perf_counter() - t0, 1),
        "demo_peak_rss_mb": round(demo_mib * 1.048576, 1), **tuned, "load_average_1m": round(os.getloadavg()[0], 2),
    }))


if __name__ == "__main__":
    main()
