"""Prompt labels: the pure fold, and the store's idempotent writes, undo and schema migration."""
from __future__ import annotations

import sqlite3

import pytest

from k15core import labels
from k15core.store import SCHEMA_VERSION, Store


def ev(pid, field, value):
    return {"prompt_id": pid, "field": field, "value": value}


def test_fold_later_events_win_and_null_resets():
    states = labels.fold([
        ev("a", "status", "flagged"), ev("a", "difficulty", 4), ev("b", "excluded", True),
        ev("a", "status", "excluded"), ev("a", "difficulty", None), ev("b", "excluded", False), ev("a", "tags", ["y", "x", "x"]),
    ])
    assert states["a"].status == "excluded" and states["a"].excluded
    assert states["a"].difficulty is None  # reset to the task's level
    assert states["a"].tags == ("x", "y") and states["a"].events == 5
    assert states["b"].status == "kept" and not states["b"].excluded  # the old `excluded` spelling folds into status


@pytest.mark.parametrize("field, value", [
    ("status", "deleted"), ("difficulty", 0), ("difficulty", 6), ("difficulty", 2.5), ("difficulty", True),
    ("reference", "  "), ("tags", "x"), ("hackable", "yes"), ("colour", "red"), ("excluded", "true"),
])
def test_normalise_rejects_bad_labels(field, value):
    with pytest.raises(ValueError):
        labels.normalise(field, value)


def test_value_of_is_none_at_default_so_writes_compare_in_json_form():
    state = labels.fold([ev("a", "tags", ["b", "a"]), ev("a", "hackable", False)])["a"]
    assert labels.value_of(state, "tags") == ["a", "b"]
    assert labels.value_of(state, "hackable") is None and labels.value_of(state, "status") is None


def test_set_label_is_idempotent_and_one_action_per_call(store_at):
    store = Store(store_at)
    first = store.set_label("p1", "status", "excluded", author="ann", source="studio")
    again = store.set_label("p1", "status", "excluded", author="ann", source="studio")  # a double-fired UI event
    assert first.events == 1 and again.events == 0 and again.action is None
    assert len(store.label_events()) == 1
    bulk = store.set_label(["p1", "p2", "p3", "p2"], "status", "excluded", author="ann", source="studio")
    assert bulk.events == 2  # p1 already excluded; p2 listed twice counts once
    assert {e["action"] for e in store.label_events()[1:]} == {bulk.action}
    with pytest.raises(ValueError):
        store.set_label("p1", "difficulty", 9, author="ann", source="studio")
    assert len(store.label_events()) == 3  # a bad label writes nothing


def test_undo_restores_the_previous_state_and_walks_back(store_at):
    store = Store(store_at)
    store.set_label("p1", "status", "flagged", author="ann", source="studio")
    store.set_label("p1", "status", "excluded", author="ann", source="studio")
    bulk = store.set_label(["p1", "p2"], "difficulty", 5, author="ann", source="studio")
    store.set_label("p9", "status", "excluded", author="bob", source="studio")  # someone else's action

    u1 = store.undo("ann")
    assert u1.undid == bulk.action and u1.events == 2
    got = store.prompt_labels()
    assert got["p1"].difficulty is None and got["p2"].difficulty is None and got["p1"].status == "excluded"
    assert got["p9"].excluded  # bob's action untouched
    assert store.undo("ann", action=bulk.action).events == 0  # the same undo fired twice: nothing more

    store.undo("ann")
    assert store.prompt_labels()["p1"].status == "flagged"
    store.undo("ann")
    assert store.prompt_labels()["p1"].status is None  # back to never reviewed
    assert store.undo("ann").events == 0  # nothing left to undo
    history = store.label_events(prompt_ids=["p1"])
    assert len(history) == 6 and all(e["author"] == "ann" for e in history)  # nothing is ever deleted


def test_a_version_1_store_is_migrated_in_place(tmp_path):
    path = tmp_path / "k15.db"
    Store(path).close()
    raw = sqlite3.connect(path)  # rebuild the version-1 label table by hand, with one old event in it
    raw.executescript("""
        DROP TABLE label_events;
        CREATE TABLE label_events (seq INTEGER PRIMARY KEY AUTOINCREMENT, prompt_id VARCHAR(200) NOT NULL, field VARCHAR(64) NOT NULL,
            value TEXT NOT NULL, author VARCHAR(200) NOT NULL, source VARCHAR(64) NOT NULL, created_at FLOAT NOT NULL);
        INSERT INTO label_events (prompt_id, field, value, author, source, created_at) VALUES ('p1', 'excluded', 'true', 'ann', 'studio', 0);
        DROP INDEX ix_trajectories_run_id;
        ALTER TABLE trajectories DROP COLUMN entropies;
        ALTER TABLE trajectories DROP COLUMN group_id;
        ALTER TABLE trajectories DROP COLUMN verdict;
        ALTER TABLE prompts DROP COLUMN images;
        UPDATE meta SET value = '1' WHERE key = 'schema_version';
    """)
    raw.commit()
    raw.close()
    store = Store(path)
    assert store.prompt_labels()["p1"].excluded
    assert store.label_events()[0]["action"] == "v1-1"
    assert store.undo("ann").events == 1 and not store.prompt_labels()["p1"].excluded
    version = sqlite3.connect(path).execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
    assert version == str(SCHEMA_VERSION) == "8"
    columns = [row[1] for row in sqlite3.connect(path).execute("PRAGMA table_info(trajectories)")]
    assert "entropies" in columns  # 2 -> 3 ran after 1 -> 2
    assert "group_id" in columns  # and 3 -> 4 after that
    assert "ix_trajectories_run_id" in [row[1] for row in sqlite3.connect(path).execute("PRAGMA index_list(trajectories)")]


def test_labelled_values_replace_the_tasks_and_an_undone_label_restores_it():
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class P:
        id: str
        reference: str
        difficulty: int

    base = P("p", "41", 2)
    assert labels.overlay(base, labels.DEFAULT) == base
    assert labels.overlay(base, labels.PromptLabels(reference="42")) == P("p", "42", 2)
    assert labels.overlay(base, labels.PromptLabels(difficulty=5)) == P("p", "41", 5)
    undone = labels.fold([{"prompt_id": "p", "field": "reference", "value": "42"}, {"prompt_id": "p", "field": "reference", "value": None}])["p"]
    assert labels.labelled(undone, "reference", "41") == "41"


# -- a person's verdict on one response (the Rollouts tab's overrule) ---------------------------------------------

def verdict(t, correct):
    return {"trajectory": t, "correct": correct}


@pytest.mark.parametrize("value", [{"trajectory": "3", "correct": True}, {"trajectory": True, "correct": True}, {"trajectory": -1, "correct": True},
                                   {"trajectory": 3, "correct": "yes"}, {"trajectory": 3}, {"correct": True}, [3, True], "3"])
def test_a_verdict_label_must_name_a_trajectory_and_a_boolean(value):
    with pytest.raises(ValueError, match="verdict must be"):
        labels.normalise("verdict", value)


def test_verdicts_on_different_responses_of_a_prompt_live_side_by_side():
    state = labels.fold([ev("a", "verdict", verdict(3, True)), ev("a", "verdict", verdict(9, False)), ev("a", "verdict", verdict(3, False)),
                         ev("a", "verdict", verdict(12, True)), ev("a", "verdict", verdict(12, None))])["a"]
    assert state.verdict == ((3, False), (9, False))  # 3 changed its mind, 12 was taken back, 9 stayed
    assert state.human_verdict(9) is False and state.human_verdict(12) is None
    assert labels.fold([ev("a", "verdict", verdict(3, True)), ev("a", "verdict", None)])["a"].verdict == ()  # a bare null resets them all


def test_a_verdict_write_is_idempotent_per_response_and_undo_restores_that_response_only(store_at):
    store = Store(store_at)
    assert store.set_label("p", "verdict", verdict(3, True), author="ann", source="studio").events == 1
    assert store.set_label("p", "verdict", verdict(3, True), author="ann", source="studio").events == 0  # a double-fired click
    assert store.set_label("p", "verdict", verdict(4, True), author="ann", source="studio").events == 1  # another response: its own slot
    assert store.set_label("p", "verdict", verdict(3, False), author="bob", source="studio").events == 1
    assert store.prompt_labels()["p"].verdict == ((3, False), (4, True))
    assert store.undo("bob").events == 1
    assert store.prompt_labels()["p"].verdict == ((3, True), (4, True))  # ann's verdict on 3 is back; 4 untouched
    assert store.undo("ann").events == 1  # ann's newest: the verdict on 4
    assert store.prompt_labels()["p"].verdict == ((3, True),)
    latest = labels.human_verdicts(store.label_events())
    assert {t: (h.correct, h.author) for t, h in latest.items()} == {3: (True, "bob")}  # bob's undo wrote it back
    assert latest[3].at == store.label_events()[-2]["created_at"]
    store.close()


def test_a_second_person_giving_the_same_label_is_recorded_once_for_agreement(store_at):
    """Idempotence is per person: bob keeping a prompt ann kept is his review (kappa, the queue's overlap), so it
    is written; bob's double-fired keep still writes one row."""
    store = Store(store_at)
    assert store.set_label("p1", "status", "kept", author="ann", source="studio").events == 1
    assert store.set_label("p1", "status", "kept", author="bob", source="studio").events == 1
    assert store.set_label("p1", "status", "kept", author="bob", source="studio").events == 0
    assert store.set_label(["p1", "p2"], "status", "kept", author="ann", source="studio").events == 1  # p2 only
    # ann's value changed under bob's feet: bob writing his (recorded) value again is a new decision, written
    store.set_label("p1", "status", "excluded", author="ann", source="studio")
    assert store.set_label("p1", "status", "kept", author="bob", source="studio").events == 1
    assert store.prompt_labels()["p1"].status == "kept"
    assert [(e["author"], e["value"]) for e in store.label_events(prompt_ids=["p1"])] == [
        ("ann", "kept"), ("bob", "kept"), ("ann", "excluded"), ("bob", "kept")]
