"""A trainer, a studio and four annotators, six real processes, writing one store at once (benchmarks/shared_store.py),
on SQLite and on PostgreSQL: afterwards every event is in the store exactly once, ids are unique, the studio's
incremental polls saw every event once and in commit order, and no reader saw part of an iteration."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from k15core.store import Store

BENCH = Path(__file__).resolve().parents[3] / "benchmarks" / "shared_store.py"


def _bench():
    spec = importlib.util.spec_from_file_location("shared_store", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_six_processes_writing_at_once_lose_nothing_and_duplicate_nothing(store_at):
    bench = _bench()
    result = bench.run(str(store_at), iterations=12, trajectories=16, labels=24)
    assert result["processes"] == 6
    assert result["check"] == {"lost": 0, "duplicated": 0, "seq_unique": True, "trajectory_ids_unique": True, "studio_missed": 0,
                               "studio_seen_twice": 0, "studio_out_of_order": 0, "partial_iterations_seen": 0, "trainer_rows_wrong": 0}
    assert result["trajectories"] == 12 * 16 and result["annotator_write_ms"]["n"] == 4 * 24
    # counted again here, from the store alone: each annotator's raw note events (one in four actions) are there once
    events = Store(store_at).label_events()
    notes = [(e["author"], e["value"]) for e in events if e["field"] == "note" and e["undoes"] is None]
    assert sorted(notes) == sorted((f"annotator-{k}", f"annotator-{k} #{r}") for k in range(1, 5) for r in range(2, 24, 4))
    assert result["label_events"] == len(events) > 4 * 24 / 2
