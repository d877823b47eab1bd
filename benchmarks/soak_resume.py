"""Soak test of kill and resume: SIGKILL a training run at random points, `k15 train --resume` after each, then check
the store and compare the run with an uninterrupted one. Not in CI (minutes); `--smoke` (2 kills) is, as a test.

    python benchmarks/soak_resume.py                    # 20 kills in a 30-iteration run
    python benchmarks/soak_resume.py --kills 5 --iterations 10 --seed 3
    python benchmarks/soak_resume.py --smoke

The trainer runs as `python -m k15core.cli train` on this checkout's code, on a tiny model (0.08 M parameters) with a
checkpoint after every iteration. Each kill is aimed, in a seeded order, at one of three places:
    checkpoint  0-15 ms after a checkpoint save begins (its rl-N.tmp folder appears, for 20-80 ms), or as soon as its
                swap has begun (rl-N.old appears): inside the write, or between the swap's renames and deletion
    store       0-10 ms after an iteration's rows reach the store: before or inside the checkpoint that follows
    anywhere    a random moment after the launch (loading, rolling back, rolling out, training), at the latest once
                two new iterations are stored (so that 20 kills fit in 30 iterations at any pace)
    start       near the run's end (every kill must come before it) a moment in the resume's start, at the latest
                once it stores an iteration
The first launch is a fresh run, killed only once its first checkpoint exists (before it there is nothing to resume).

Checks at the end: SQLite's integrity_check; every iteration 0..N-1 stored once (each metric once per iteration,
prompts_per_iter * k trajectories); the store and final weights against an uninterrupted run with the same seed.
Those must be equal bit for bit: `k15core.checkpoint` saves every source of randomness a resume needs at the same
world size (torch and Python RNG states, the sampler's numpy generator and success rates, the replay buffer, the
optimiser when it is not reset) and the weights as float32 safetensors, and a resume rolls the store back to the
checkpoint's iteration. So the trajectories (token ids, rewards), the metrics other than timings, and every weight
tensor are compared with ==. The last line is the JSON.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TINY = {"hidden_size": 64, "num_layers": 2, "num_heads": 2, "num_kv_heads": 1, "intermediate_size": 128}  # as tests/conftest.py's
MODES = ("checkpoint", "store", "anywhere")


def train_cmd(ws: Path, model: Path, resume: bool, settings: dict) -> list[str]:
    cmd = [sys.executable, "-m", "k15core.cli", "train", "--workspace", str(ws), "--quiet"]
    if resume:  # a resume takes the config the run started with from the store
        return cmd + ["--resume"]
    sets = [x for k, v in settings.items() for x in ("--set", f"{k}={v}")]
    return cmd + ["--config", str(ROOT / "assets/configs/demo.yaml"), "--model", str(model), *sets]


def launch(cmd: list[str], log: Path) -> subprocess.Popen:
    # PYTHONPATH: this checkout's k15core, whichever one the venv's editable install points at
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def stored_iterations(con: sqlite3.Connection) -> set[int]:
    try:
        return {r[0] for r in con.execute("SELECT DISTINCT iteration FROM metrics WHERE name = 'rl/groups'")}
    except sqlite3.OperationalError:  # busy for a moment: the trainer is writing
        return set()


# -- when to kill: generators that yield while it is not yet time (the caller polls the process between yields)

def wait_for(path: Path):
    while not path.exists():
        yield


def pause(seconds: float):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        yield


def after_saves(marker: Path, n: int, delay: float):
    """The n-th time `marker` (rl-N.tmp: a save began; rl-N.old: its swap began) appears, then `delay`."""
    seen, was = 0, marker.exists()
    while seen < n:
        yield
        now = marker.exists()
        seen, was = seen + (now and not was), now
    yield from pause(delay)


def after_stores(db: Path, n: int, delay: float):
    """The n-th iteration that appears in the store (one rolled back and stored again counts), then `delay`."""
    with closing(sqlite3.connect(db, timeout=0.05)) as con:
        seen, before = 0, stored_iterations(con)
        while seen < n:
            yield
            now = stored_iterations(con)
            seen, before = seen + bool(now - before), now
    yield from pause(delay)


def checkpoint_iteration(ckpt: Path) -> int | None:
    """The iteration the checkpoint a resume would load holds (rl-N, or rl-N.old if a swap was cut short)."""
    import torch

    for d in (ckpt, ckpt.with_name(ckpt.name + ".old")):
        if (d / "trainer_state.pt").exists():
            return torch.load(d / "trainer_state.pt", weights_only=False)["state"]["iteration"]
    return None


def landing(ckpt: Path) -> str:
    """Where in a checkpoint save the kill landed, from the folders it left."""
    tmp, old = ckpt.with_name(ckpt.name + ".tmp").exists(), ckpt.with_name(ckpt.name + ".old").exists()
    if not ckpt.exists():
        return "swap: between its renames"
    return "swap: before deleting .old" if old else "writing .tmp" if tmp else "no save in progress"


def rows(db: Path, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(db)) as con:
        return con.execute(sql).fetchall()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0, help="seed of the kill points (the training seed is rl.seed=0)")
    ap.add_argument("--workspace", help="keep both workspaces and the trainers' logs here (default: a temp folder, deleted)")
    ap.add_argument("--smoke", action="store_true", help="2 kills in a 6-iteration run of a smaller batch (a check that the script runs)")
    args = ap.parse_args()
    kills, iterations = (2, 6) if args.smoke else (args.kills, args.iterations)
    ppi, k, tokens = (2, 4, 24) if args.smoke else (4, 4, 24)
    # The untrained model is never right: without the length reward no group would have a learning signal, no step would
    # move the weights, and comparing them would prove nothing. The doctor would rightly stop such a run: off.
    settings = {"rl.iterations": iterations, "rl.prompts_per_iter": ppi, "rl.k": k, "rl.max_response_tokens": tokens,
                "rl.checkpoint_every": 1, "rl.pool_size": 40, "rl.length_penalty": 1.0, "rl.doctor": "false"}
    rng, t_start = random.Random(args.seed), time.perf_counter()
    with tempfile.TemporaryDirectory() as tmpdir:
        top = Path(args.workspace or tmpdir)
        top.mkdir(parents=True, exist_ok=True)
        from k15core.config import ModelConfig
        from k15core.models import build_tiny_model

        model = build_tiny_model(ModelConfig(**TINY), top / "tiny")

        t0 = time.perf_counter()  # the uninterrupted run; its pace sets the "anywhere" kills' range
        ref = launch(train_cmd(top / "ref", model, False, settings), top / "ref.log")
        if ref.wait() != 0:
            raise SystemExit(f"the reference run failed:\n{(top / 'ref.log').read_text()[-3000:]}")
        reference_s = time.perf_counter() - t0
        iteration_s = rows(top / "ref/k15.db", "SELECT sum(value) FROM metrics WHERE name IN ('time/rollout_s', 'time/train_s')")[0][0] / iterations
        startup_s = max(reference_s - iterations * iteration_s, 1.0)

        ws, db, ckpt = top / "soak", top / "soak/k15.db", top / "soak/runs/rl-1"  # the workspace's only run
        modes = [m for _ in range(kills // len(MODES) + 1) for m in rng.sample(MODES, len(MODES))][:kills]
        modes = ["checkpoint", "store"] if args.smoke else modes  # smoke: the two aimed kills
        log, errors, lives = [], [], 0
        t0 = time.perf_counter()
        for i, mode in enumerate(modes):
            # Each kill must come before the run ends: an aimed one waits for the 1st or 2nd save or store, never the last
            # iteration's; near the end, a kill lands in the resume's start ("start") instead
            left = iterations - (checkpoint_iteration(ckpt) if i > 0 else 1)
            n = min(rng.randint(1, 2), left - 1)
            if n < 1 or (mode == "anywhere" and left <= 3):
                mode = "start"
            out = top / f"life{lives}.log"
            proc = launch(train_cmd(ws, model, i > 0, settings), out)
            lives += 1
            if mode == "checkpoint":
                swap = rng.random() < 0.5
                when = after_saves(ckpt.with_name(ckpt.name + (".old" if swap else ".tmp")), n, 0 if swap else rng.uniform(0, 0.015))
            elif mode == "store":
                when = after_stores(db, n, rng.uniform(0, 0.01))
            else:  # whichever comes first (zip ends with the shortest)
                deadline = rng.uniform(0, startup_s / 2 if mode == "start" else startup_s + 2 * iteration_s)
                when = zip(pause(deadline), after_stores(db, 1 if mode == "start" else 2, 0))
            if i == 0:
                when = itertools.chain(wait_for(ckpt / "trainer_state.pt"), when)
            for _ in when:
                if proc.poll() is not None:
                    break
                time.sleep(0.0003)  # .old lasts a few ms
            if proc.poll() is not None:  # it ended first: finished (too few iterations for the kills) or failed
                errors.append(f"life {lives - 1} ({mode}) ended by itself, exit {proc.returncode}: {out.read_text()[-1500:]}")
                break
            proc.kill()
            proc.wait()  # reaped: a zombie would still count as the run's live owner
            with closing(sqlite3.connect(db)) as con:
                stored = max(stored_iterations(con), default=-1) + 1
            log.append({"mode": mode, "at_s": round(time.perf_counter() - t0, 2), "landed": landing(ckpt),
                        "checkpoint": checkpoint_iteration(ckpt), "stored": stored})
        for _ in range(3):  # resume until the run finishes: once, unless something is wrong
            if rows(db, "SELECT status FROM runs WHERE kind = 'rl'") == [("finished",)]:
                break
            out = top / f"life{lives}.log"
            rc = launch(train_cmd(ws, model, True, settings), out).wait()
            lives += 1
            if rc == 0:
                break
            errors.append(f"final resume exit {rc}: {out.read_text()[-1500:]}")
        soak_s = time.perf_counter() - t0
        outputs = [(top / f"life{n}.log").read_text() for n in range(lives)]

        integrity = rows(db, "PRAGMA integrity_check")[0][0]
        status = rows(db, "SELECT status FROM runs WHERE kind = 'rl'")
        metric_counts = Counter(rows(db, "SELECT iteration, name FROM metrics"))
        iterations_with_metrics = sorted({it for it, _ in metric_counts})
        per_iteration = Counter(it for (it,) in rows(db, "SELECT iteration FROM trajectories"))
        samples = Counter(rows(db, "SELECT iteration, group_id, sample_index FROM trajectories"))
        stored_once = (iterations_with_metrics == list(range(iterations)) and set(metric_counts.values()) == {1}
                       and set(samples.values()) == {1})
        trajectories_ok = per_iteration == {it: ppi * k for it in range(iterations)}
        traj_sql = "SELECT iteration, group_id, sample_index, prompt_id, token_ids, reward FROM trajectories ORDER BY 1, 2, 3"
        metric_sql = "SELECT iteration, name, value FROM metrics WHERE name NOT LIKE 'time/%' ORDER BY 1, 2"
        same_trajectories = rows(db, traj_sql) == rows(top / "ref/k15.db", traj_sql)
        same_metrics = rows(db, metric_sql) == rows(top / "ref/k15.db", metric_sql)

        from safetensors.torch import load_file

        weights = [w / "models/rl/model.safetensors" for w in (ws, top / "ref")]
        final, expected = (load_file(w) if w.exists() else {} for w in weights)  # none: the run never finished
        initial = load_file(model / "model.safetensors")
        moved = any(not expected[n].equal(initial[n]) for n in initial)
        signal = rows(top / "ref/k15.db", "SELECT count(*) FROM metrics WHERE name = 'rl/same_reward_groups' AND value < 1")[0][0]
        weights_equal = bool(final) and final.keys() == expected.keys() and all(final[n].equal(expected[n]) for n in final)
        max_diff = max(float((final[n] - expected[n]).abs().max()) for n in final) if final and final.keys() == expected.keys() else None

    print(json.dumps({
        "benchmark": "soak_resume", "smoke": args.smoke, "seed": args.seed, "iterations": iterations, "per_iteration": ppi * k,
        "kills": len(log), "kills_by_mode": dict(Counter(x["mode"] for x in log)), "kills_landed": dict(Counter(x["landed"] for x in log)),
        "kills_with_store_ahead_of_checkpoint": sum(x["checkpoint"] is not None and x["stored"] > x["checkpoint"] for x in log),
        "resumes": lives - 1, "resumes_that_rolled_back": sum("are dropped" in o for o in outputs),
        "resumes_that_took_over": sum("this process takes the run over" in o for o in outputs),
        "integrity_check": integrity, "run_status": [s for (s,) in status],
        "iterations_stored_once": stored_once, "trajectories_per_iteration_ok": trajectories_ok,
        "same_trajectories_as_uninterrupted": same_trajectories, "same_metrics_as_uninterrupted": same_metrics,
        "iterations_with_signal": signal, "weights_moved": moved, "final_weights_equal": weights_equal, "max_weight_diff": max_diff,
        "reference_s": round(reference_s, 1), "soak_s": round(soak_s, 1), "wall_s": round(time.perf_counter() - t_start, 1),
        "errors": errors, "kill_log": log,
    }))


if __name__ == "__main__":
    main()
