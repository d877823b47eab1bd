"""The prompts table's `images` column (schema 7): a version-6 store gains it in place on SQLite and on PostgreSQL,
its rows read as text prompts, and image prompts keep their addresses (never bytes)."""
from __future__ import annotations

from k15core.store import SCHEMA_VERSION, Store
from k15core.tasks.problem import Problem

ADDRESS = "ab" * 32


def _version(store: Store) -> str:
    return store._read(lambda c: c.exec_driver_sql("SELECT value FROM meta WHERE key = 'schema_version'").scalar())


def test_a_version_6_store_gets_the_images_column_on_both_databases(store_at):
    store = Store(store_at)
    store.add_prompts([Problem("old", "1+1", "2")], source="test")
    # what version 6 had: no images column (the DDL below runs on both databases)
    store._write(lambda c: (c.exec_driver_sql("ALTER TABLE prompts DROP COLUMN images"),
                            c.exec_driver_sql("UPDATE meta SET value = '6' WHERE key = 'schema_version'")))
    store.close()

    store = Store(store_at)  # the migration runs here
    assert _version(store) == str(SCHEMA_VERSION) == "8"
    assert store.prompt("old")["images"] == []  # an older row is a text prompt
    assert store.add_prompts([Problem("pic", "Seq <image>, steps: 1", "5", images=(ADDRESS, ADDRESS))], source="test") == 1
    assert store.prompt("pic")["images"] == [ADDRESS, ADDRESS]
    assert [p["images"] for p in store.prompts()] == [[], [ADDRESS, ADDRESS]]
    raw = store._read(lambda c: c.exec_driver_sql("SELECT images FROM prompts WHERE id = 'pic'").scalar())
    assert raw == f'["{ADDRESS}", "{ADDRESS}"]'  # addresses only, as JSON text
    store.close()
    assert _version(reopened := Store(store_at)) == "8"  # opening again migrates nothing twice
    reopened.close()
