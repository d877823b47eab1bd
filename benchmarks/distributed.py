"""Wall time of the same `k15 train` run on 1 process and under `torchrun --nproc-per-node N`, measured in turns.

    python benchmarks/distributed.py --workspace WS     # the demo's RL from WS's warm-up model (k15 demo makes it)
    python benchmarks/distributed.py --smoke            # a tiny model and budget: checks the script runs (CI)

Both sides run the demo config's RL for --iterations iterations from the same model with the same seed and
the same prompts per iteration (counted over all ranks), so they do equal work up to sampling noise. The
one-process run gets all the machine's threads; each of the N processes gets threads / N (OMP_NUM_THREADS),
so neither side has more cores. Rounds alternate the two so machine noise hits both alike.

Reports the median of each side's whole-command wall time (start-up, model load, checkpoint included)
and of its mean RL-iteration time (the store's time/* metrics, rank 0's clock), with their ratios
(`speedup` = 1 process / N processes: above 1, the N processes were faster). The last line is the JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from k15core.store import Store  # noqa: E402

SMOKE = ["model.hidden_size=64", "model.num_layers=2", "model.num_heads=2", "model.num_kv_heads=1", "model.intermediate_size=128",
         "rl.prompts_per_iter=4", "rl.k=2", "rl.max_response_tokens=16", "task.eval_per_level=2", "rl.pool_size=40"]


def k15(ws: Path, nproc: int, threads: int, args: list[str]) -> float:
    """Run `k15 train` (under torchrun when nproc > 1); returns its wall time in seconds."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "TRANSFORMERS_VERBOSITY": "error", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", "-m"] if nproc > 1 else [sys.executable, "-m"]
    t0 = time.perf_counter()
    out = subprocess.run([*launcher, "k15core.cli", "train", "--workspace", str(ws), "--quiet", *args], capture_output=True, text=True, env=env, cwd=ROOT)
    seconds = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"k15 train on {nproc} process(es) failed:\n{out.stderr[-3000:]}")
    return seconds


def iteration_seconds(store: Store, run_id: int) -> float:
    """Mean wall time of one RL iteration: the sum of its phase timings (steer, rollout, reward, train, store)."""
    per_iteration: dict[int, float] = {}
    for m in store.metrics(run_id):
        if m["name"].startswith("time/") and m["name"].endswith("_s") and not m["name"].endswith("_per_s"):
            per_iteration[m["iteration"]] = per_iteration.get(m["iteration"], 0.0) + m["value"]
    return statistics.mean(per_iteration.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workspace", help="workspace with a warm-up model (default: a temporary one with the untrained tiny model)")
    ap.add_argument("--model", default="", help="starting model (default: warmup if the workspace has it, else tiny)")
    ap.add_argument("--nproc", type=int, default=2, help="processes of the distributed side")
    ap.add_argument("--iterations", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=2, help="alternating 1-process / N-process rounds")
    ap.add_argument("--strategy", default="ddp", choices=["ddp", "fsdp2"])
    ap.add_argument("--smoke", action="store_true", help="tiny model and budget (a check that the script runs, not a measurement)")
    args = ap.parse_args()
    iterations, rounds = (1, 1) if args.smoke else (args.iterations, args.rounds)
    threads = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(args.workspace or tmp).resolve()
        sets = (SMOKE if args.smoke else []) + [f"rl.iterations={iterations}", f"rl.strategy={args.strategy}", "rl.checkpoint_every=0"]
        if not (ws / "models" / "tiny").exists():
            subprocess.run([sys.executable, "-m", "k15core.cli", "build-model", "--workspace", str(ws), "--quiet",
                            *[a for s in sets for a in ("--set", s)]], check=True, capture_output=True, cwd=ROOT)
        model = args.model or ("warmup" if (ws / "models" / "warmup").exists() else "tiny")
        config = [] if args.smoke else ["--config", str(ROOT / "assets" / "configs" / "demo.yaml")]
        train_args = ["--model", model, "--out", "bench-distributed", *config, *[a for s in sets for a in ("--set", s)]]
        sides = {1: (1, threads), args.nproc: (args.nproc, max(1, threads // args.nproc))}
        walls: dict[int, list[float]] = {n: [] for n in sides}
        per_iter: dict[int, list[float]] = {n: [] for n in sides}
        for _ in range(rounds):
            for n, (nproc, th) in sides.items():
                walls[n].append(k15(ws, nproc, th, train_args))
                print(f"round {len(walls[n])}/{rounds}: {nproc} process(es) x {th} thread(s): {walls[n][-1]:.1f} s", file=sys.stderr, flush=True)
                store = Store(ws / "k15.db")
                run_id = store.runs(kind="rl")[-1]["id"]
                per_iter[n].append(iteration_seconds(store, run_id))
                store.close()
        one, many = statistics.median(walls[1]), statistics.median(walls[args.nproc])
        it_one, it_many = statistics.median(per_iter[1]), statistics.median(per_iter[args.nproc])
        print(json.dumps({
            "benchmark": "distributed", "smoke": args.smoke, "model": model, "strategy": args.strategy, "iterations": iterations,
            "rounds": rounds, "cpu_threads": threads, "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
            "nproc": args.nproc, "threads_per_process": sides[args.nproc][1],
            "wall_s_1proc": round(one, 2), f"wall_s_{args.nproc}proc": round(many, 2), "speedup": round(one / many, 3),
            "iteration_s_1proc": round(it_one, 3), f"iteration_s_{args.nproc}proc": round(it_many, 3), "iteration_speedup": round(it_one / it_many, 3),
            "walls": {str(k): [round(w, 2) for w in v] for k, v in walls.items()},
        }))


if __name__ == "__main__":
    main()
