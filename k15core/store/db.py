"""`Store`: the only code that reads or writes the run store.

One class for callers, built from one part per table family so each family's queries read on their
own: `StoreBase` (opening, locking, retries, migrations), `RunsMixin` (runs, metrics, the per-iteration
write), `OwnersMixin` (which process trains a run), `TrajectoriesMixin` (trajectories and the Rollouts
tab's filters), `LabelsMixin` (prompts and label history),
`ReviewsMixin` (who reviewed which item of a run's triage queue).

>>> import tempfile, pathlib
>>> store = Store(pathlib.Path(tempfile.mkdtemp()) / "k15.db")
>>> run = store.create_run("demo", "rl", {})
>>> store.record_iteration(run, 0, {"rl/reward": 0.5})
>>> store.metrics(run)
[{'iteration': 0, 'name': 'rl/reward', 'value': 0.5}]
>>> store.close()
"""
from __future__ import annotations

from k15core.store.filters import TrajectoryFilter
from k15core.store.labels import LabelsMixin, LabelWrite
from k15core.store.owners import OwnersMixin
from k15core.store.reviews import ReviewsMixin
from k15core.store.runs import RunsMixin
from k15core.store.trajectories import TrajectoriesMixin

__all__ = ["Store", "TrajectoryFilter", "LabelWrite"]


class Store(RunsMixin, OwnersMixin, TrajectoriesMixin, LabelsMixin, ReviewsMixin):
    """The run store of one workspace. Safe to open from several processes at once."""
