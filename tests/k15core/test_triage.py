"""The triage queue (k15core.triage): suspicious groups and doctor alarms of a run in one ordered list, with counts per
reason, reviews that hide items, and confirmed findings written as label events on the item's prompt."""
from __future__ import annotations

import pytest

from k15core import triage
from k15core.store import Store
from k15core.store.db import TrajectoryFilter
from k15core.tasks.problem import Problem
from k15core.types import TrajectoryRecord


def _sample(pid: str, s: int, response: str, reward: float, group: int) -> TrajectoryRecord:
    return TrajectoryRecord(prompt_id=pid, sample_index=s, prompt=f"prompt {pid}", response=response, token_ids=[1, 2, 3], logprobs=[-0.1] * 3,
                            reward=reward, correct=reward, length=3, difficulty=1, tag=f"group:{group}", group=group)


@pytest.fixture
def run(tmp_path):
    """A run with, per iteration: prompt a's group all identical (so also one reward), prompt b's all one reward with
    different texts, prompt c's mixed (not suspicious); the doctor's no_signal (fatal) after iterations 0 and 1, and
    kl_exploding (warning) after iteration 1."""
    store = Store(tmp_path / "k15.db")
    store.add_prompts([Problem(p, f"prompt {p}", "5") for p in "abc"], source="test")
    run_id = store.create_run("r", "rl", {"rl": {"doctor_patience": 3}})
    for it in range(2):
        g = 3 * it
        records = ([_sample("a", s, "same", 1.0, g) for s in range(2)] + [_sample("b", s, f"text {s}", 0.0, g + 1) for s in range(2)]
                   + [_sample("c", s, f"text {s}", float(s), g + 2) for s in range(2)])
        alarms = {"doctor/no_signal": 3.0, **({"doctor/kl_exploding": 0.9} if it == 1 else {})}
        store.record_iteration(run_id, it, {"rl/reward": 0.5, **alarms}, records)
    yield store, run_id
    store.close()


def _first_id(store, run_id, it, pid) -> int:
    return min(t["id"] for t in store.find_trajectories(TrajectoryFilter(
        run_id=run_id, iteration_min=it, iteration_max=it), limit=100) if t["prompt_id"] == pid)


def test_the_queue_holds_alarms_then_suspicions_in_order_with_counts(run):
    store, run_id = run
    q = triage.run_queue(store, run_id)
    got = [(x.kind, x.reason, x.severity, x.iteration, x.prompt_id) for x in q.items]
    assert got == [
        ("alarm", "no_signal", "fatal", 1, None),  # one item per check, however often it fired; fatal first
        ("alarm", "kl_exploding", "warning", 1, None),
        ("suspicion", "identical samples", "suspicion", 1, "a"), ("suspicion", "identical samples", "suspicion", 0, "a"),
        ("suspicion", "same reward", "suspicion", 1, "a"), ("suspicion", "same reward", "suspicion", 1, "b"),
        ("suspicion", "same reward", "suspicion", 0, "a"), ("suspicion", "same reward", "suspicion", 0, "b"),
    ]
    assert q.counts() == {"no_signal": (1, 0), "kl_exploding": (1, 0), "identical samples": (2, 0), "same reward": (4, 0)}
    assert q.summary() == "0 of 8 reviewed · 1 fatal alarm not reviewed"
    alarm = q.items[0]
    assert alarm.open_id is None and "no learning signal" in alarm.detail and "fix:" in alarm.detail and "iterations 0, 1" in alarm.detail
    assert q.items[2].open_id == _first_id(store, run_id, 1, "a")  # the sample opening the item opens
    assert len({x.key for x in q.items}) == len(q.items)  # keys tell items apart
    assert [x.key for x in triage.run_queue(store, run_id).items] == [x.key for x in q.items]  # and are the same on a rebuild


def test_reviews_hide_items_count_and_filter_by_reason(run):
    store, run_id = run
    q = triage.run_queue(store, run_id)
    same = [x for x in q.items if x.reason == "same reward"]
    assert store.mark_reviewed(run_id, [same[0].key, q.items[0].key], "ann") == 2
    q = triage.run_queue(store, run_id)
    assert q.summary() == "2 of 8 reviewed"
    assert q.counts()["same reward"] == (4, 1) and q.counts()["no_signal"] == (1, 1)
    assert [x.key for x in q.visible(["same reward"])] == [x.key for x in same[1:]]  # reviewed hidden by default
    assert [x.key for x in q.visible(["same reward"], show_reviewed=True)] == [x.key for x in same]
    assert {x.reason for x in q.visible()} == {"kl_exploding", "identical samples", "same reward"}
    assert q.visible([]) == []


def test_confirm_writes_label_events_and_marks_reviewed(run):
    store, run_id = run
    q = triage.run_queue(store, run_id)
    identical = next(x for x in q.items if x.reason == "identical samples")
    same_b = next(x for x in q.items if x.reason == "same reward" and x.prompt_id == "b")
    odd = next(x for x in q.items if x.reason == "same reward" and x.prompt_id == "a")

    assert triage.confirm(store, run_id, identical, "exclude", "ann") == "exclude: prompt a (1 label event)"
    assert triage.confirm(store, run_id, identical, "exclude", "ann") == "exclude: prompt a (already so; nothing written)"
    assert triage.confirm(store, run_id, same_b, "flag", "bob").startswith("flag: prompt b")
    assert triage.confirm(store, run_id, odd, "penalise", "ann") == "penalise: prompt a (2 label events)"
    labels = store.prompt_labels()
    assert labels["a"].status == "excluded" and labels["a"].hackable is True and labels["a"].human_verdict(odd.open_id) is False
    assert labels["b"].status == "flagged" and labels["b"].hackable is False
    assert [(e["prompt_id"], e["field"], e["author"], e["source"]) for e in store.label_events()] == [
        ("a", "status", "ann", "studio"), ("b", "status", "bob", "studio"), ("a", "verdict", "ann", "studio"), ("a", "hackable", "ann", "studio")]
    reviews = store.reviews(run_id)
    assert [(r.author, r.outcome) for r in reviews[identical.key]] == [("ann", "exclude")]
    assert [(r.author, r.outcome) for r in reviews[same_b.key]] == [("bob", "flag")]
    assert triage.run_queue(store, run_id).summary() == "3 of 8 reviewed · 1 fatal alarm not reviewed"

    with pytest.raises(ValueError, match="no prompt to exclude"):  # an alarm is about the run, not a prompt
        triage.confirm(store, run_id, q.items[0], "exclude", "ann")
    with pytest.raises(Exception, match="unknown triage action 'delete'"):
        triage.confirm(store, run_id, identical, "delete", "ann")
    assert len(store.label_events()) == 4  # neither wrote anything


def test_a_plain_review_then_a_confirm_keeps_the_first_time_and_records_the_outcome(run):
    store, run_id = run
    item = triage.run_queue(store, run_id).items[3]
    store.mark_reviewed(run_id, [item.key], "ann")
    first = store.reviews(run_id)[item.key][0]
    triage.confirm(store, run_id, item, "flag", "ann")
    again = store.reviews(run_id)[item.key]
    assert [(r.author, r.outcome, r.at) for r in again] == [("ann", "flag", first.at)]
    assert store.mark_reviewed(run_id, [item.key], "ann") == 0  # a plain review after it changes nothing
    assert store.reviews(run_id)[item.key][0].outcome == "flag"
