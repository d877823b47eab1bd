"""Triage reviews in the store (schema 8, k15core.store.reviews) on SQLite and PostgreSQL: shared by everyone looking
at a run, one row per person and item, idempotent, and a version-7 store gains the table in place."""
from __future__ import annotations

from k15core.store import SCHEMA_VERSION, Store


def _version(store: Store) -> str:
    return store._read(lambda c: c.exec_driver_sql("SELECT value FROM meta WHERE key = 'schema_version'").scalar())


def test_reviews_are_per_person_idempotent_and_seen_by_another_studio(store_at):
    store, other = Store(store_at), Store(store_at)  # two studios on one store
    run, second = store.create_run("r", "rl", {}), store.create_run("s", "rl", {})
    assert store.mark_reviewed(run, ["suspicion:x", "alarm:no_signal", "suspicion:x"], "ann") == 2
    assert store.mark_reviewed(run, ["suspicion:x"], "ann") == 0  # a double-fired click writes nothing
    assert other.mark_reviewed(run, ["suspicion:x"], "bob", outcome="exclude") == 1  # a second person is a row of their own
    assert other.mark_reviewed(run, [], "bob") == 0
    seen = other.reviews(run)
    assert sorted(seen) == ["alarm:no_signal", "suspicion:x"]
    assert [(r.author, r.outcome) for r in seen["suspicion:x"]] == [("ann", "reviewed"), ("bob", "exclude")]
    assert seen["suspicion:x"][0].at <= seen["suspicion:x"][1].at
    assert store.reviews(second) == {}  # per run
    assert store.mark_reviewed(run, ["alarm:no_signal"], "ann", outcome="flag") == 1  # a confirm after a plain review: the outcome
    assert store.mark_reviewed(run, ["alarm:no_signal"], "ann", outcome="flag") == 0
    assert [(r.author, r.outcome) for r in other.reviews(run)["alarm:no_signal"]] == [("ann", "flag")]
    store.close()
    other.close()


def test_a_version_7_store_gets_the_reviews_table_on_both_databases(store_at):
    store = Store(store_at)
    run = store.create_run("r", "rl", {})
    store._write(lambda c: (c.exec_driver_sql("DROP TABLE triage_reviews"),  # what version 7 had
                            c.exec_driver_sql("UPDATE meta SET value = '7' WHERE key = 'schema_version'")))
    store.close()
    store = Store(store_at)  # the migration runs here
    assert _version(store) == str(SCHEMA_VERSION) == "8"
    assert store.reviews(run) == {}
    assert store.mark_reviewed(run, ["alarm:truncated"], "ann") == 1
    store.close()
    assert _version(reopened := Store(store_at)) == "8"
    assert list(reopened.reviews(run)) == ["alarm:truncated"]
    reopened.close()
