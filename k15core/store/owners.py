"""Run owners: which process trains a run (one row per owned run; the rules are in k15core.runlock)."""
from __future__ import annotations

import time
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from k15core.runlock import RUNNING_OWNER_GONE, Owner, is_gone
from k15core.store import schema as S
from k15core.store.base import StoreBase

O = S.run_owners


def owner_row(run_id: int, owner: Owner, now: float) -> dict[str, Any]:
    return dict(run_id=run_id, pid=owner.pid, host=owner.host, start=owner.start, since=now, heartbeat_at=now)


def owned_by(run_id: int, owner: Owner) -> ColumnElement[bool]:
    """The row of `run_id`, if it is `owner`'s."""
    same_start = O.c.start.is_(None) if owner.start is None else O.c.start == owner.start
    return (O.c.run_id == run_id) & (O.c.pid == owner.pid) & (O.c.host == owner.host) & same_start


def shown_status(status: str, owner: dict | None) -> str:
    """A run's status as readers should see it: 'running' with no live owner is RUNNING_OWNER_GONE."""
    return RUNNING_OWNER_GONE if status == "running" and (owner is None or is_gone(owner)) else status


class OwnersMixin(StoreBase):
    """The `run_owners` table: claimed, kept fresh and let go by `k15core.runlock.RunLock`."""

    def claim_run(self, run_id: int, owner: Owner) -> tuple[bool, dict | None]:
        """Make `owner` the run's owner unless a live process owns it. (True, the replaced gone owner's row or
        None), or (False, the live owner's row) with nothing written. One transaction: two claims never both win."""

        def claim(conn: Connection) -> tuple[bool, dict | None]:
            found = conn.execute(select(O).where(O.c.run_id == run_id)).mappings().first()
            previous = dict(found) if found is not None else None
            if previous is not None and not is_gone(previous):
                return False, previous
            conn.execute(delete(O).where(O.c.run_id == run_id))
            conn.execute(O.insert().values(**owner_row(run_id, owner, time.time())))
            return True, previous

        return self._write(claim)

    def heartbeat_run(self, run_id: int, owner: Owner) -> bool:
        """Record that `owner` still trains the run; False if the run is no longer `owner`'s."""
        return self._write(lambda c: c.execute(update(O).where(owned_by(run_id, owner)).values(heartbeat_at=time.time())).rowcount) > 0

    def release_run(self, run_id: int, owner: Owner) -> None:
        """`owner` lets go of the run (nothing happens if it is not `owner`'s)."""
        self._write(lambda c: c.execute(delete(O).where(owned_by(run_id, owner))))

    def run_owner(self, run_id: int) -> dict | None:
        found = self._read(lambda c: c.execute(select(O).where(O.c.run_id == run_id)).mappings().first())
        return dict(found) if found is not None else None
