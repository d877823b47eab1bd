"""The server's half of the Prompts tab's key queue, as a plain function over a real store (no browser).

`apply_keys` must write each key's label on the id the key carries, strictly in seq order, each key once,
and never let one bad key or a busy store lose the keys behind it.
"""
from __future__ import annotations

import json
import sqlite3

from k15core.store import Store
from studio import prompt_keys


def _events(store) -> list[tuple]:
    return [(e["prompt_id"], e["field"], e["value"]) for e in store.label_events()]


def _keys(*triples) -> list[dict]:
    return [{"seq": seq, "id": pid, "action": action} for seq, pid, action in triples]


def test_each_key_lands_on_its_own_id_in_order_and_only_once(ctx, studio_data):
    p0, p1, p2 = studio_data.prompt_ids[:3]
    batch = _keys((1, p0, "d3"), (2, p0, "keep"), (3, p2, "exclude"), (4, p1, "d5"))
    results, applied = prompt_keys.apply_keys(ctx.store, batch, "ann", 0)
    assert applied == 4 and [r["seq"] for r in results] == [1, 2, 3, 4]
    assert _events(ctx.store) == [(p0, "difficulty", 3), (p0, "status", "kept"), (p2, "status", "excluded"), (p1, "difficulty", 5)]
    assert results[2]["said"] == f"{p2}: status = excluded"
    # the page sent the batch again (its answer was lost) plus one new key: only the new key is applied
    results, applied = prompt_keys.apply_keys(ctx.store, [*batch, *_keys((5, p0, "d1"))], "ann", 4)
    assert applied == 5 and [r["seq"] for r in results] == [5]
    assert _events(ctx.store)[-1] == (p0, "difficulty", 1) and len(_events(ctx.store)) == 5


def test_a_missing_key_holds_the_later_ones_until_it_comes(ctx, studio_data):
    p0, p1 = studio_data.prompt_ids[:2]
    results, applied = prompt_keys.apply_keys(ctx.store, _keys((2, p1, "flag"), (3, p1, "d2")), "ann", 0)
    assert (results, applied, _events(ctx.store)) == ([], 0, [])  # key 1 has not arrived: nothing may overtake it
    results, applied = prompt_keys.apply_keys(ctx.store, _keys((1, p0, "keep"), (2, p1, "flag"), (3, p1, "d2")), "ann", 0)
    assert applied == 3 and _events(ctx.store) == [(p0, "status", "kept"), (p1, "status", "flagged"), (p1, "difficulty", 2)]


def test_bad_keys_are_answered_and_passed_over(ctx, studio_data):
    p0 = studio_data.prompt_ids[0]
    assert prompt_keys.apply_keys(ctx.store, "not a list", "ann", 0) == ([], 0)
    batch = [{"seq": 1, "id": p0, "action": "drop_table"}, {"seq": 2, "id": "ghost", "action": "keep"}, {"seq": 3, "id": 7, "action": "keep"},
             {"seq": 4, "id": p0, "action": "flag"}]
    results, applied = prompt_keys.apply_keys(ctx.store, batch, "ann", 0)
    assert applied == 4 and _events(ctx.store) == [(p0, "status", "flagged")]
    assert "cannot read" in results[0]["said"] and "no prompt with id 'ghost'" in results[1]["said"] and "cannot read" in results[2]["said"]


def test_undo_answers_with_the_prompt_it_gave_back(ctx, studio_data):
    p0, p1 = studio_data.prompt_ids[:2]
    results, applied = prompt_keys.apply_keys(ctx.store, _keys((1, p0, "exclude"), (2, p1, "undo")), "ann", 0)
    assert applied == 2 and results[1]["target"] == p0 and results[1]["said"].startswith("undone: 1 label(s)")
    assert not ctx.store.prompt_labels([p0])[p0].excluded


def test_a_store_locked_past_every_retry_stops_the_batch_and_loses_nothing(studio_data):
    p0, p1 = studio_data.prompt_ids[:2]
    db = studio_data.root / "k15.db"
    store = Store(db, busy_timeout_s=0.05, retries=1)
    blocker = sqlite3.connect(db, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # a training run holding the write lock
        batch = _keys((1, p0, "keep"), (2, p1, "flag"))
        results, applied = prompt_keys.apply_keys(store, batch, "ann", 0)
        assert applied == 0 and len(results) == 1 and results[0]["retry"] and "busy" in results[0]["said"]
        blocker.rollback()
        results, applied = prompt_keys.apply_keys(store, batch, "ann", applied)  # the page sends the same keys again
        assert applied == 2 and _events(store) == [(p0, "status", "kept"), (p1, "status", "flagged")]
    finally:
        blocker.close()
        store.close()


def test_the_panel_value_is_what_the_page_reads():
    assert json.loads(prompt_keys.panel_value(["a", "b"])) == {"ids": ["a", "b"]}  # a grid load: no answer to any key
    answer = json.loads(prompt_keys.panel_value(["a"], 3, [{"seq": 3}]))
    assert answer.pop("answer") > 0 and answer == {"ids": ["a"], "applied": 3, "results": [{"seq": 3}]}
    assert prompt_keys.panel_value(["a"], 3, []) != prompt_keys.panel_value(["a"], 3, [])  # the page sees every answer
