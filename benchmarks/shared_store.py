"""Six processes writing one run store at once, as a team does: a trainer recording iterations, a studio polling and
labelling, four annotators labelling; then a check that everything they wrote is in the store exactly once.

    python benchmarks/shared_store.py                            # a SQLite store in a temporary folder
    python benchmarks/shared_store.py --postgres                 # a throwaway PostgreSQL server (tools/pg_server.py)
    python benchmarks/shared_store.py --store postgresql://...   # an empty PostgreSQL database of yours

The processes start together (one barrier) and never pause:
- trainer: `record_iteration` N times, each with its metrics and T trajectories (one transaction each);
- studio: polls `label_events(since_seq=...)` as the Prompts tab does, reads runs, the newest iteration's metrics and
  trajectories and a Rollouts filter, and every few polls writes a label (author "studio") or undoes one;
- annotator-1..4: L label actions each, in turn: a status on a prompt of their own, a difficulty on ten prompts that
  all four share (a bulk action: how many events it writes depends on the others), a raw note event, an undo.
Every process reports what each write returned (the action id and its event count, the seq of a raw event).

The check (all zero, all true, or the run exits 1): `lost` (an event a process was told was written, not in the
store), `duplicated` (an event in the store more often than reported, or no process wrote it), `seq_unique`,
`studio_missed` / `studio_seen_twice` / `studio_out_of_order` (the studio's incremental polls against the whole
history: seqs must reach readers in commit order, or a poll steps past an event that commits later),
`partial_iterations_seen` (an iteration whose metrics were visible before all its trajectories) and `trainer_rows_wrong`
(iterations without exactly their metrics and trajectories, or a trajectory twice). Prints one JSON line with the
check, the counts, and each role's write latency (p50/p95/max, ms).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

from k15core.store import Store
from k15core.store.db import TrajectoryFilter
from k15core.tasks.problem import Problem
from k15core.types import TrajectoryRecord

ANNOTATORS = 4
SHARED = [f"shared-{i}" for i in range(10)]
METRICS = ("rl/reward", "rl/accuracy", "rl/len_mean")


def own_prompts(author: str) -> list[str]:
    return [f"{author}-{i}" for i in range(8)]


def _trajectory(iteration: int, j: int) -> TrajectoryRecord:
    return TrajectoryRecord(
        prompt_id=f"shared-{j % len(SHARED)}", sample_index=j, prompt=f"Q{iteration}.{j}: 2+3", response=f"step {j} ... Answer: {j % 7}",
        token_ids=list(range(40)), logprobs=[-0.1] * 40, reward=float(j % 2), correct=float(j % 2), length=40, tag=f"group:{j // 8}", group=j // 8,
    )


def trainer(store: Store, args: dict, stop) -> dict:
    run = store.create_run("rl:shared", "rl", {})
    times = []
    for it in range(args["iterations"]):
        metrics = {name: float(it) for name in METRICS}
        t0 = time.perf_counter()
        store.record_iteration(run, it, metrics, [_trajectory(it, j) for j in range(args["trajectories"])])
        times.append(time.perf_counter() - t0)
    store.set_run_status(run, "finished")
    return {"run": run, "iterations": args["iterations"], "write_s": times}


def annotator(store: Store, args: dict, stop, author: str) -> dict:
    writes, raw_seqs, times = [], [], []
    mine = own_prompts(author)
    for r in range(args["labels"]):
        t0 = time.perf_counter()
        kind = r % 4
        if kind == 0:
            done = store.set_label(mine[r % len(mine)], "status", ("flagged", "kept", "excluded")[(r // 4) % 3], author=author, source="studio")
        elif kind == 1:
            done = store.set_label(SHARED, "difficulty", 1 + (r // 4 + len(author)) % 5, author=author, source="studio")
        elif kind == 2:
            raw_seqs.append(store.add_label_event(mine[r % len(mine)], "note", f"{author} #{r}", author=author, source="notebook"))
            done = None
        else:
            done = store.undo(author)
        times.append(time.perf_counter() - t0)
        if done is not None and done.action is not None:
            writes.append((done.action, done.events))
    return {"writes": writes, "raw_seqs": raw_seqs, "write_s": times}


def studio(store: Store, args: dict, stop) -> dict:
    """Polls and labels until the others are done, then polls once more: the seqs it saw, in the order it saw them."""
    seen, last, writes, polls, write_times, partial = [], 0, [], [], [], 0
    n = 0
    while True:
        finished = stop.is_set()
        t0 = time.perf_counter()
        new = store.label_events(since_seq=last)
        polls.append(time.perf_counter() - t0)
        seen += [e["seq"] for e in new]
        last = max([last, *(e["seq"] for e in new)])
        if finished:
            break
        runs = store.runs(kind="rl")
        if runs:
            run = runs[0]["id"]
            newest = store.last_iteration(run)
            if newest is not None:  # its metrics are visible: all of its trajectories must be too (one transaction)
                whole = store.count_trajectories(run, newest) == args["trajectories"]
                whole = whole and len([m for m in store.metrics(run, since_iteration=newest - 1) if m["iteration"] == newest]) == len(METRICS)
                partial += not whole
            store.find_trajectories(TrajectoryFilter(run_id=run, text="answer"), limit=50)
        n += 1
        if n % 3 == 0:
            t0 = time.perf_counter()
            done = store.undo("studio") if n % 9 == 0 else store.set_label(SHARED[n % len(SHARED)], "tags", [f"seen-{n}"], author="studio", source="studio")
            write_times.append(time.perf_counter() - t0)
            if done.action is not None:
                writes.append((done.action, done.events))
    return {"seen": seen, "writes": writes, "raw_seqs": [], "write_s": write_times, "poll_s": polls, "partial": partial}


def _worker(role: str, target: str, args: dict, start, stop, out) -> None:
    try:
        store = Store(target)
        start.wait(60)
        if role == "trainer":
            report = trainer(store, args, stop)
        elif role == "studio":
            report = studio(store, args, stop)
        else:
            report = annotator(store, args, stop, role)
        store.close()
        out.put((role, report))
    except BaseException:  # noqa: BLE001 - the orchestrator says which process failed, and how
        out.put((role, {"error": traceback.format_exc()}))


def run(target: str, iterations: int = 30, trajectories: int = 64, labels: int = 60) -> dict:
    """Seed the prompts, run the six processes at once on `target` (an empty store), check what they left."""
    seed = Store(target)
    authors = [f"annotator-{k}" for k in range(1, ANNOTATORS + 1)]
    prompt_ids = SHARED + [p for a in authors for p in own_prompts(a)]
    seed.add_prompts([Problem(id=p, prompt=f"Q {p}", reference="1") for p in prompt_ids], source="bench")
    backend = seed.backend.name
    seed.close()

    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")  # fork: no per-process import of torch
    start, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
    args = {"iterations": iterations, "trajectories": trajectories, "labels": labels}
    writers = {role: ctx.Process(target=_worker, args=(role, target, args, start, stop, out), name=role) for role in ["trainer", *authors]}
    viewer = ctx.Process(target=_worker, args=("studio", target, args, start, stop, out), name="studio")
    for p in [*writers.values(), viewer]:
        p.start()
    time.sleep(0.5)  # let every process open the store before the barrier
    t0 = time.perf_counter()
    start.set()
    reports = {}
    for _ in writers:
        role, report = out.get(timeout=600)
        reports[role] = report
    writing_s = time.perf_counter() - t0
    stop.set()
    role, report = out.get(timeout=120)
    reports[role] = report
    for p in [*writers.values(), viewer]:
        p.join(30)
    failed = {r: rep["error"] for r, rep in reports.items() if "error" in rep}
    if failed:
        raise RuntimeError("worker processes failed:\n" + "\n".join(f"--- {r}\n{e}" for r, e in failed.items()))
    return {"backend": backend, "processes": len(writers) + 1, "writing_s": round(writing_s, 2), **check(target, reports, args)}


def _ms(seconds: list[float]) -> dict:
    if not seconds:
        return {}
    ordered = sorted(seconds)
    return {"n": len(ordered), "p50": round(1000 * statistics.median(ordered), 1), "p95": round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 1),
            "max": round(1000 * ordered[-1], 1)}


def check(target: str, reports: dict, args: dict) -> dict:
    """What the store holds against what each process was told it wrote."""
    store = Store(target)
    events = store.label_events()
    seqs = [e["seq"] for e in events]
    found = Counter(e["action"] for e in events)
    by_seq = {e["seq"]: e for e in events}
    reported: Counter = Counter()
    raw = []
    for rep in reports.values():
        for action, n in rep.get("writes", []):
            reported[action] += n
        raw += rep.get("raw_seqs", [])
    raw_actions = Counter(by_seq[s]["action"] for s in raw if s in by_seq)
    lost = sum(max(0, n - found[a]) for a, n in reported.items()) + sum(1 for s in raw if s not in by_seq)
    duplicated = sum(max(0, found[a] - reported[a] - raw_actions[a]) for a in found)
    seen = reports["studio"]["seen"]
    trainer_report = reports["trainer"]
    run = trainer_report["run"]
    metric_counts = Counter(m["iteration"] for m in store.metrics(run))
    trajs = store.trajectories(run)
    per_iteration = Counter(int(t.prompt.split(".")[0][1:]) for t in trajs)
    wrong = sum(1 for it in range(args["iterations"]) if metric_counts[it] != len(METRICS) or per_iteration[it] != args["trajectories"])
    wrong += len(trajs) - len({t.prompt for t in trajs})  # each (iteration, sample) once
    ids = store._read(lambda c: c.exec_driver_sql("SELECT count(*), count(DISTINCT id) FROM trajectories").one())
    store.close()
    label_times = [t for role, rep in reports.items() if role.startswith("annotator") for t in rep["write_s"]]
    return {
        "check": {
            "lost": lost, "duplicated": duplicated, "seq_unique": len(seqs) == len(set(seqs)), "trajectory_ids_unique": ids[0] == ids[1],
            "studio_missed": len(set(seqs) - set(seen)), "studio_seen_twice": len(seen) - len(set(seen)),
            "studio_out_of_order": sum(1 for a, b in zip(seen, seen[1:]) if b <= a),
            "partial_iterations_seen": reports["studio"]["partial"], "trainer_rows_wrong": wrong,
        },
        "label_events": len(events), "label_actions": len(reported) + len(raw), "trajectories": len(trajs), "iterations": args["iterations"],
        "trainer_write_ms": _ms(trainer_report["write_s"]), "annotator_write_ms": _ms(label_times),
        "studio_write_ms": _ms(reports["studio"]["write_s"]), "studio_poll_ms": _ms(reports["studio"]["poll_s"]),
    }


def passed(result: dict) -> bool:
    c = result["check"]
    return all(c[k] == 0 for k in ("lost", "duplicated", "studio_missed", "studio_seen_twice", "studio_out_of_order", "partial_iterations_seen",
                                   "trainer_rows_wrong")) and c["seq_unique"] and c["trajectory_ids_unique"]


def _pg_server_tool():
    import importlib.util

    spec = importlib.util.spec_from_file_location("pg_server", Path(__file__).resolve().parents[1] / "tools" / "pg_server.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--store", help="an empty store: a database URL or a SQLite file (default: a new SQLite file)")
    where.add_argument("--postgres", action="store_true", help="start a throwaway PostgreSQL server (fsync on) for the run")
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--trajectories", type=int, default=64, help="per iteration")
    ap.add_argument("--labels", type=int, default=60, help="label actions per annotator")
    ap.add_argument("--smoke", action="store_true", help="a few seconds: 8 iterations of 16 trajectories, 16 labels each")
    a = ap.parse_args()
    sizes = dict(iterations=8, trajectories=16, labels=16) if a.smoke else dict(iterations=a.iterations, trajectories=a.trajectories, labels=a.labels)
    with tempfile.TemporaryDirectory() as tmp:
        if a.postgres:
            pg = _pg_server_tool()
            with pg.PostgresServer(durable=True) as server:
                result = run(server.create_database(), **sizes)
        else:
            result = run(a.store or str(Path(tmp) / "k15.db"), **sizes)
    print(json.dumps({**result, "passed": passed(result)}))
    return 0 if passed(result) else 1


if __name__ == "__main__":
    sys.exit(main())
