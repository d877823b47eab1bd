"""The Long2short tab reads every long2short evaluation from the store, averages seeds, marks the frontier."""
from __future__ import annotations

import pytest

from k15core.store import Store
from studio import long2short_tab


def add_eval(store: Store, label: str, acc: float, tokens: float, status: str = "finished") -> int:
    run_id = store.create_run(f"eval:l2s:{label}", "eval", {})
    store.log_metrics(run_id, 0, {"eval/free/accuracy": acc, "eval/free/len_mean": tokens, "eval/free/truncated": 0.0})
    store.set_run_status(run_id, status)
    return run_id


def test_points_average_runs_of_a_model_and_the_table_lists_each_run(tmp_path):
    store = Store(tmp_path / "k15.db")
    first = add_eval(store, "long", 0.88, 47.0)
    add_eval(store, "long", 0.86, 49.0)
    add_eval(store, "dpo", 0.87, 30.0)
    add_eval(store, "broken", 0.1, 5.0, status="stopped")  # an evaluation that did not finish is not a measurement
    store.create_run("eval:warmup", "eval", {})  # not a long2short evaluation
    rows = long2short_tab.measurements(store)
    assert [(r["model"], r["run"]) for r in rows] == [("long", first), ("long", first + 1), ("dpo", first + 2)]
    pts = {p["model"]: p for p in long2short_tab.points(rows)}
    assert pts["long"]["accuracy"] == pytest.approx(0.87) and pts["long"]["len_mean"] == pytest.approx(48.0)
    assert pts["long"]["accuracy_sd"] == pytest.approx(0.01414, abs=1e-4) and "accuracy_sd" not in pts["dpo"]
    fig, frame, note = long2short_tab.refresh(store)
    assert list(frame["run"]) == [first, first + 1, first + 2] and "3 evaluations of 2 models" in note
    assert list(fig.data[-1].customdata) == ["long", "dpo"]
    # dpo is as accurate with fewer tokens: it alone is on the frontier (big marker), and one point draws no line
    assert len(fig.data) == 1 and list(fig.data[0].marker.size) == [9, 14]
