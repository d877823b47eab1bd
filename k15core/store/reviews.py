"""Triage reviews: who marked which item of a run's triage queue reviewed, and what they did (k15core.triage)."""
from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from k15core.store import schema as S
from k15core.store.base import StoreBase

R = S.triage_reviews


@dataclass(frozen=True)
class Review:
    """One person's review of one queue item."""

    item: str
    author: str
    outcome: str
    at: float


class ReviewsMixin(StoreBase):
    """The `triage_reviews` table: shared by everyone looking at a run, on SQLite and PostgreSQL alike."""

    def mark_reviewed(self, run_id: int, items: list[str], author: str, outcome: str = "reviewed") -> int:
        """Record that `author` reviewed these items of the run's queue (`outcome`: what they did); returns how many
        rows were written or changed.

        Idempotent per person: an item this author already reviewed keeps its row and its time (when they first
        looked), so a double-fired click writes nothing; a confirm after a plain "reviewed" only updates the outcome.
        Another author's review of the same item is a row of its own. One transaction; the write lock makes the
        read-then-insert safe against a second studio doing the same at once."""
        wanted = list(dict.fromkeys(items))

        def write(conn: Connection) -> int:
            mine = R.c.run_id == int(run_id), R.c.author == author
            done = dict(conn.execute(select(R.c.item, R.c.outcome).where(*mine, R.c.item.in_(wanted))).tuples().all())
            now = time.time()
            rows = [dict(run_id=int(run_id), item=k, author=author, outcome=outcome, created_at=now) for k in wanted if k not in done]
            if rows:
                conn.execute(R.insert(), rows)
            changed = [k for k, was in done.items() if outcome != "reviewed" and was != outcome]
            if changed:
                conn.execute(update(R).where(*mine, R.c.item.in_(changed)).values(outcome=outcome))
            return len(rows) + len(changed)

        return self._write(write) if wanted else 0

    def reviews(self, run_id: int) -> dict[str, list[Review]]:
        """Item key -> its reviews, oldest first, for one run."""
        q = select(R).where(R.c.run_id == int(run_id)).order_by(R.c.created_at, R.c.author)
        out: dict[str, list[Review]] = {}
        for r in self._read(lambda c: c.execute(q).mappings().all()):
            out.setdefault(r["item"], []).append(Review(r["item"], r["author"], r["outcome"], r["created_at"]))
        return out
