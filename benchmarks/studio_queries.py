"""How fast the studio's queries are on a big run store. Prints one JSON object.

    python benchmarks/studio_queries.py [--trajectories 100000] [--repeats 5]
    python benchmarks/studio_queries.py --trajectories 1000000      # the 1M-trajectory figure

Builds a store with N trajectories (RL samples of one run: 128 per iteration, responses of ~40-140
characters with their token ids and log-probs) and the metrics of those iterations, then times, as
the studio runs them:
- Rollouts-tab filters (the newest 200 matches and the match count): by iteration range, substring,
  regular expression, verdict + length range, truncated;
- the Runs-tab refresh: a first full read of a run's metrics, and an incremental tick with one new
  iteration;
- opening one group (its k samples with tokens).
Each time is the median of --repeats runs. `baseline_s` is reading the newest 200 rows with no filter,
and each filter's `ratio` is its time over that baseline (machines are noisy; ratios travel better).
The goal from the Studio issue: every Rollouts filter under 1 s at 100k trajectories. Also reported: how
fast the trainer's write path stores trajectories (`trajectories_written_per_s`, `record_iteration` only).
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from k15core.store import Store
from k15core.store.db import TrajectoryFilter
from k15core.types import TrajectoryRecord
from studio import rollouts_tab, runs_tab

PER_ITERATION = 128
METRICS_PER_ITERATION = 30


def build_store(path: Path, n: int, seed: int = 0) -> tuple[Store, int, int, float]:
    """A store with `n` made-up trajectories; also returns the seconds spent in `record_iteration` alone
    (the trainer's write: one transaction per iteration), not in making the records."""
    rng = random.Random(seed)
    write_s = 0.0
    store = Store(path)
    run = store.create_run("rl:bench", "rl", {"rl": {"iterations": n // PER_ITERATION + 1}})
    iterations = 0
    for it in range(0, n, PER_ITERATION):
        records = []
        for j in range(min(PER_ITERATION, n - it)):
            length = rng.randint(10, 70)
            correct = float(rng.random() < 0.6)
            body = " ".join(f"{chr(97 + rng.randrange(26))}={rng.randrange(10)}+{rng.randrange(10)}={rng.randrange(20):02d}" for _ in range(length // 12))
            records.append(TrajectoryRecord(
                prompt_id=f"p{rng.randrange(2000)}", sample_index=j % 8, prompt=f"Seq {rng.randrange(1000):03d}, steps: {rng.randint(1, 6)}",
                response=f"{body}\nAnswer: {rng.randrange(10)}", token_ids=[rng.randrange(100) for _ in range(length)],
                logprobs=[-rng.random() for _ in range(length)], reward=correct, correct=correct, length=length,
                reward_parts={"correct": correct, "length": 0.0}, truncated=length == 70, repeated=rng.random() < 0.01,
                difficulty=rng.randint(1, 5), tag=f"group:{j // 8}", group=j // 8,
            ))
        metrics = {f"rl/m{k}": rng.random() for k in range(METRICS_PER_ITERATION)}
        t0 = time.perf_counter()
        store.record_iteration(run, iterations, metrics, records)
        write_s += time.perf_counter() - t0
        iterations += 1
    store.checkpoint()
    return store, run, iterations, write_s


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trajectories", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        store, run, iterations, write_s = build_store(Path(tmp) / "k15.db", args.trajectories)
        build_s = time.perf_counter() - t0
        mid = iterations // 2
        filters = {
            "iteration_range": TrajectoryFilter(run_id=run, iteration_min=mid, iteration_max=mid + 10),
            "substring": TrajectoryFilter(run_id=run, text="q=7+3"),
            "regex": TrajectoryFilter(run_id=run, text=r"Answer: [79]$", regex=True),
            "wrong_and_long": TrajectoryFilter(run_id=run, correct=False, length_min=50, length_max=70),
            "truncated": TrajectoryFilter(run_id=run, truncated=True),
            "prompt_text_regex_in_range": TrajectoryFilter(run_id=run, iteration_min=mid, iteration_max=iterations, text=r"steps: 6", regex=True),
        }
        baseline = median_time(lambda: store.find_trajectories(TrajectoryFilter(run_id=run), limit=200), args.repeats)
        results = {}
        for name, f in filters.items():
            seconds = median_time(lambda f=f: rollouts_tab.search(store, f), args.repeats)
            results[name] = {"seconds": round(seconds, 4), "ratio": round(seconds / baseline, 2), "matches": store.count_matching(f)}
        first_read = median_time(lambda: runs_tab.refresh(store, [run], None), args.repeats)
        cache, _ = runs_tab.refresh(store, [run], None)
        store.record_iteration(run, iterations, {f"rl/m{k}": 0.5 for k in range(METRICS_PER_ITERATION)})
        incremental = median_time(lambda: runs_tab.refresh(store, [run], runs_tab.MetricCache({run: list(cache.rows[run])}, dict(cache.last))), args.repeats)
        frame_s = median_time(lambda: [runs_tab.panel_frame(cache, p, {}) for p in runs_tab.PANELS], args.repeats)
        some_id = store.find_trajectories(TrajectoryFilter(run_id=run, iteration_min=mid, iteration_max=mid), limit=1)[0]["id"]
        group_s = median_time(lambda: store.trajectory_group(some_id), args.repeats)
        worst = max(r["seconds"] for r in results.values())
        out = {
            "trajectories": args.trajectories, "iterations": iterations, "metric_rows": iterations * METRICS_PER_ITERATION,
            "build_s": round(build_s, 1), "write_s": round(write_s, 2), "trajectories_written_per_s": round(args.trajectories / write_s),
            "db_mib": round((Path(tmp) / "k15.db").stat().st_size / 2**20, 1), "baseline_s": round(baseline, 4), "rollouts_filters": results,
            "rollouts_worst_filter_s": round(worst, 4), "rollouts_goal_s": 1.0, "rollouts_goal_met": worst < 1.0,
            "runs_first_read_s": round(first_read, 4), "runs_incremental_tick_s": round(incremental, 4),
            "runs_incremental_ratio": round(incremental / first_read, 3), "runs_panel_frames_s": round(frame_s, 4),
            "open_group_s": round(group_s, 4),
        }
        store.close()
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
