"""The run store: one SQLite database per workspace (WAL mode), or a PostgreSQL database a team shares
(`--store postgresql://...`, backends.py), written and read through `Store`."""
from k15core.store.db import Store
from k15core.store.schema import SCHEMA_VERSION

__all__ = ["Store", "SCHEMA_VERSION"]
