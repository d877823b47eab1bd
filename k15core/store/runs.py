"""Runs and their metrics, and the one write a trainer makes per iteration."""
from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection

from k15core.runlock import this_process
from k15core.store import schema as S
from k15core.store.base import StoreBase
from k15core.store.owners import owned_by, owner_row, shown_status
from k15core.store.trajectories import trajectory_row
from k15core.types import TrajectoryRecord


TRAJECTORY_ID_FLOOR = "trajectory_id_floor"
"""meta key: trajectory ids up to this value were given once and are never given again (SQLite; see rollback_run)."""


class RunsMixin(StoreBase):
    """The `runs` and `metrics` tables."""

    def create_run(self, name: str, kind: str, config: dict[str, Any]) -> int:
        """A new run, 'running' and owned by this process (k15core.runlock) from the same transaction on."""
        now = time.time()
        row = dict(name=name, kind=kind, config=json.dumps(config, sort_keys=True), status="running", created_at=now, updated_at=now)

        def create(conn: Connection) -> int:
            run_id = conn.execute(S.runs.insert().values(**row)).inserted_primary_key[0]
            conn.execute(S.run_owners.insert().values(**owner_row(run_id, this_process(), now)))
            return run_id

        return self._write(create)

    def set_run_status(self, run_id: int, status: str) -> None:
        """Any status but 'running' also ends this process's ownership of the run (another process's stays)."""
        now = time.time()
        values = dict(status=status, updated_at=now, finished_at=now if status != "running" else None)

        def write(conn: Connection) -> None:
            conn.execute(update(S.runs).where(S.runs.c.id == run_id).values(**values))
            if status != "running":
                conn.execute(delete(S.run_owners).where(owned_by(run_id, this_process())))

        self._write(write)

    def runs(self, kind: str | None = None) -> list[dict]:
        """Every run (of `kind`), oldest first, with its `owner` (the run_owners row, or None). A 'running' run
        whose owner is gone reads as 'running (owner gone)' (k15core.runlock.RUNNING_OWNER_GONE)."""
        O = S.run_owners
        owner_cols = [c.label(f"owner_{c.name}") for c in O.c if c.name != "run_id"]
        q = select(S.runs, *owner_cols).select_from(S.runs.outerjoin(O, O.c.run_id == S.runs.c.id)).order_by(S.runs.c.id)
        if kind is not None:
            q = q.where(S.runs.c.kind == kind)
        out = []
        for r in self._read(lambda c: c.execute(q).mappings().all()):
            run = {k: v for k, v in r.items() if not k.startswith("owner_")}
            owner = {k.removeprefix("owner_"): v for k, v in r.items() if k.startswith("owner_")} if r["owner_pid"] is not None else None
            out.append({**run, "config": json.loads(r["config"]), "status": shown_status(r["status"], owner), "owner": owner})
        return out

    def run(self, run_id: int) -> dict | None:
        found = [r for r in self.runs() if r["id"] == run_id]
        return found[0] if found else None

    def record_iteration(self, run_id: int, iteration: int, metrics: dict[str, float], trajectories: list[TrajectoryRecord] = ()) -> None:
        """Write one iteration's metrics and trajectories in one transaction: readers see all of it or none."""
        metric_rows = [dict(run_id=run_id, iteration=iteration, name=k, value=float(v)) for k, v in metrics.items()]
        traj_rows = [trajectory_row(run_id, iteration, t) for t in trajectories]
        now = time.time()

        def write(conn: Connection) -> None:
            if metric_rows:
                conn.execute(S.metrics.insert(), metric_rows)
            if traj_rows:
                floor = self._trajectory_id_floor(conn)
                rows = traj_rows
                if floor is not None and (conn.execute(select(func.max(S.trajectories.c.id))).scalar() or 0) < floor:
                    conn.execute(S.trajectories.insert().values(**rows[0], id=floor + 1))  # the rest follow it: no id comes back
                    rows = rows[1:]
                if rows:
                    conn.execute(S.trajectories.insert(), rows)
            conn.execute(update(S.runs).where(S.runs.c.id == run_id).values(updated_at=now))

        self._write(write)

    log_metrics = record_iteration

    @staticmethod
    def _trajectory_id_floor(conn: Connection) -> int | None:
        """The highest trajectory id a rollback deleted (None: none ever did, or the database never reuses ids)."""
        found = conn.execute(select(S.meta.c.value).where(S.meta.c.key == TRAJECTORY_ID_FLOOR)).scalar()
        return None if found is None else int(found)

    def rollback_run(self, run_id: int, iteration: int) -> tuple[int, int]:
        """Delete the run's metrics and trajectories of `iteration` and later, in one transaction; returns how many
        of each. A resume calls it with its checkpoint's iteration: what was stored after that checkpoint is
        trained again, and must be stored once, not beside the first try. The deleted ids are not given again:
        a person's verdict or DPO mark names a trajectory id, and must never come to name a response they never saw."""

        def drop(conn: Connection) -> tuple[int, int]:
            if self.backend.reuses_ids:  # the highest id ever given stays taken, so that no label moves to a new response
                top = max(conn.execute(select(func.max(S.trajectories.c.id))).scalar() or 0, self._trajectory_id_floor(conn) or 0)
                conn.execute(delete(S.meta).where(S.meta.c.key == TRAJECTORY_ID_FLOOR))
                conn.execute(S.meta.insert().values(key=TRAJECTORY_ID_FLOOR, value=str(top)))
            gone = [conn.execute(delete(t).where(t.c.run_id == run_id, t.c.iteration >= iteration)).rowcount for t in (S.metrics, S.trajectories)]
            conn.execute(update(S.runs).where(S.runs.c.id == run_id).values(updated_at=time.time()))
            return gone[0], gone[1]

        return self._write(drop)

    def metrics(self, run_id: int, since_iteration: int = -(2**31), names: list[str] | None = None) -> list[dict]:
        """Metric rows (iteration, name, value) with iteration > since_iteration, oldest first."""
        q = (
            select(S.metrics.c.iteration, S.metrics.c.name, S.metrics.c.value)
            .where(S.metrics.c.run_id == run_id, S.metrics.c.iteration > since_iteration)
            .order_by(S.metrics.c.iteration, S.metrics.c.id)
        )
        if names is not None:
            q = q.where(S.metrics.c.name.in_(names))
        return [dict(r) for r in self._read(lambda c: c.execute(q).mappings().all())]

    def last_iteration(self, run_id: int) -> int | None:
        q = select(func.max(S.metrics.c.iteration)).where(S.metrics.c.run_id == run_id)
        return self._read(lambda c: c.execute(q).scalar())
