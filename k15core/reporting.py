"""Experiment trackers: every metric the run store gets also goes to TensorBoard and/or trackio (off by default).

`report.to` names them (`--report-to tensorboard trackio` on k15 train, sft, eval and demo; `--set report.to=[...]`
anywhere else). Each tracker is a class in REPORTERS, opened when a stage's run starts and closed when it ends. The
stages (k15core.stages) give the run's code the store wrapped in `ReportingStore`, so a tracker gets exactly the
metric names, values and iteration steps that the store's metrics table gets (`time/store_s` included, and the
doctor's iteration -1), and the run's stored config as its hyperparameters. Both write local files only:

- tensorboard: event files in <workspace>/tensorboard/<run id>-<run name>/ (`report.tensorboard_dir` moves them),
  for `tensorboard --logdir k15-workspace/tensorboard`; scalars as 32-bit floats, the config in the HParams tab.
  A resumed run reopens its folder with `purge_step` at the checkpoint's iteration, so TensorBoard drops what the
  stopped trainer logged after it, as the store does (`Store.rollback_run`).
- trackio: trackio's own local database in $TRACKIO_DIR (default: its folder in the Hugging Face cache, where a
  researcher's other trackio runs are), project `report.project` (default: the workspace folder's name), one run
  per k15 run grouped by kind; `trackio show` opens its dashboard. k15 makes a local `trackio.Run` itself rather than
  calling `trackio.init`, which reads TRACKIO_SPACE_ID / TRACKIO_SERVER_URL from the environment and would send the
  metrics there, starts a dashboard inside a notebook, and finishes the process's current trackio run (a
  researcher's own). The run's user name, which trackio asks the Hugging Face hub for, is left empty. trackio
  cannot drop logged steps: a resumed run's re-trained iterations appear there twice.

A tracker that fails (a full disk, an error of its library) never stops training: it says so once on stderr and the
run goes on without it. A name that is not registered stops the command when its config is read; a tracker whose
library is not installed stops a stage before it loads a model or records a run (`check_installed`).
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import re
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from k15core.errors import K15Error
from k15core.registry import Registry

if TYPE_CHECKING:
    from k15core.config import Config

REPORTERS: Registry[type] = Registry("tracker")

INSTALL_FIX = "pip install 'k15-studio[trackers]' (tensorboard and trackio), or leave it out of --report-to / report.to"


@dataclass
class ReportConfig:
    """Experiment trackers that also get every metric the run store gets (k15core.reporting); none by default."""

    to: list[str] = field(default_factory=list)
    """Trackers that also get every metric and the run's config: 'tensorboard', 'trackio' (both local files; the trackers extra installs them). Empty: the run store only. Also --report-to."""
    tensorboard_dir: str = ""
    """Folder of TensorBoard's event files, one subfolder per run (<run id>-<run name>); empty: tensorboard/ in the workspace."""
    project: str = ""
    """The trackio project the runs go to (its files: $TRACKIO_DIR, default trackio's folder in the Hugging Face cache); empty: the workspace folder's name."""

    def __post_init__(self):
        names = REPORTERS.names()
        for name in self.to:
            if name not in names:
                raise K15Error(f"report.to names {name!r}, which is not one of the trackers: {', '.join(names)}",
                               f"e.g. --report-to {' '.join(names)} (or --set report.to=[{', '.join(names)}])")


def check_installed(cfg: ReportConfig) -> None:
    """A K15Error naming the first tracker of `cfg.to` whose library is not installed (stages call it before they load
    a model or record a run)."""
    for name in cfg.to:
        needs = REPORTERS.get(name).requires
        if needs and not _installed(needs):
            raise K15Error(f"report.to names {name}, and its library ({needs}) is not installed", INSTALL_FIX)


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@dataclass(frozen=True)
class RunInfo:
    """The k15 run a tracker reports: as the store records it, and the workspace it is in."""

    run_id: int
    name: str
    """The store's name of the run, e.g. 'rl:rl', 'sft:warmup', 'eval:warmup'."""
    kind: str
    config: dict[str, Any]
    workspace: Path

    @property
    def label(self) -> str:
        """The run's name in a tracker, the same in each: '<run id>-<name>' with anything but letters, digits, '.', '_'
        and '-' made '-' (a TensorBoard folder name), e.g. '3-rl-rl'."""
        return f"{self.run_id}-" + re.sub(r"[^A-Za-z0-9._-]+", "-", self.name).strip("-")


def flat_config(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as one level of dotted keys; numbers, strings and booleans kept, anything else as JSON text.

    >>> flat_config({"rl": {"lr": 1e-5, "levels": [1, 2]}, "base_model": "/m", "x": None})
    {'rl.lr': 1e-05, 'rl.levels': '[1, 2]', 'base_model': '/m', 'x': 'null'}
    """
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            out.update(flat_config(value, f"{prefix}{key}."))
        elif isinstance(value, (bool, int, float, str)):
            out[prefix + str(key)] = value
        else:
            out[prefix + str(key)] = json.dumps(value, sort_keys=True, default=str)
    return out


# -- the trackers ------------------------------------------------------------------------------------

class Reporter:
    """One tracker's side of one k15 run. Made when the run's stage starts (`resume_from`: the iteration a resumed RL
    run continues from, None for a new run), given every metric write, closed once. Any exception it raises is the
    tracker failing: `Trackers` reports it once and goes on without it."""

    requires = ""
    """The import name of the library it needs (checked by `check_installed`)."""

    def __init__(self, run: RunInfo, cfg: ReportConfig, resume_from: int | None = None):
        self.run = run

    def log(self, step: int, metrics: dict[str, float]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


@REPORTERS.register("tensorboard")
class TensorBoardReporter(Reporter):
    """torch.utils.tensorboard's SummaryWriter (it needs the tensorboard package): one folder per run, every metric a
    scalar (TensorBoard keeps 32-bit floats: the store's value rounded to float32), the flattened config as HParams."""

    requires = "tensorboard"

    def __init__(self, run: RunInfo, cfg: ReportConfig, resume_from: int | None = None):
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams

        super().__init__(run, cfg, resume_from)
        root = Path(cfg.tensorboard_dir).expanduser() if cfg.tensorboard_dir else run.workspace / "tensorboard"
        self.log_dir = root / run.label
        # purge_step: TensorBoard discards what earlier files of this folder logged at and after it (a resume).
        self.writer = SummaryWriter(log_dir=str(self.log_dir), purge_step=resume_from)
        if resume_from is None:
            for summary in hparams(flat_config(run.config), {}):  # experiment, session start, session end
                self.writer.file_writer.add_summary(summary)
        self.writer.flush()

    def log(self, step: int, metrics: dict[str, float]) -> None:
        for name, value in metrics.items():
            self.writer.add_scalar(name, float(value), global_step=step)
        self.writer.flush()  # once per store write: TensorBoard shows each iteration as it is stored

    def close(self) -> None:
        self.writer.close()


@REPORTERS.register("trackio")
class TrackioReporter(Reporter):
    """A local trackio.Run (see the module's docstring for why not trackio.init): its thread writes to trackio's
    SQLite database in $TRACKIO_DIR; nothing goes over the network and no dashboard starts."""

    requires = "trackio"

    def __init__(self, run: RunInfo, cfg: ReportConfig, resume_from: int | None = None):
        import trackio
        from trackio.sqlite_storage import SQLiteStorage

        super().__init__(run, cfg, resume_from)
        self.project = cfg.project or run.workspace.name
        SQLiteStorage.validate_project_name(self.project)
        previous = SQLiteStorage.get_latest_run_record_by_name(self.project, run.label) if resume_from is not None else None
        with _no_hub_user():
            self.trackio_run = trackio.Run(
                url=None, project=self.project, client=None, name=run.label, run_id=previous["id"] if previous else None,
                group=run.kind, config=run.config, space_id=None, server_base_url=None, auto_log_gpu=False, auto_log_cpu=False,
            )

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self.trackio_run.log({name: float(value) for name, value in metrics.items()}, step=step)

    def close(self) -> None:
        with contextlib.redirect_stdout(io.StringIO()):  # its "Uploading logs to Trackio" line: here it only writes the file
            self.trackio_run.finish()


@contextmanager
def _no_hub_user():
    """trackio.Run records the Hugging Face user name in the run's config, asking the hub (`whoami`) for it when a token
    is set: a network call k15 never makes. While the run is made, that lookup answers no user."""
    import trackio.run as trackio_run

    def no_user() -> str:
        raise LookupError("k15 reports to trackio offline")

    saved = getattr(trackio_run, "_get_default_namespace", None)
    trackio_run._get_default_namespace = no_user
    try:
        yield
    finally:
        if saved is None:
            del trackio_run._get_default_namespace
        else:
            trackio_run._get_default_namespace = saved


# -- one run's trackers, and the store that feeds them ----------------------------------------------

class Trackers:
    """The trackers of one run, each opened, fed and closed behind a guard: the first exception of a tracker is
    printed once on stderr and that tracker is dropped; the run goes on."""

    def __init__(self, names: list[str], run: RunInfo, cfg: ReportConfig, resume_from: int | None = None):
        self.run = run
        self.live: dict[str, Reporter] = {}
        self.failed: dict[str, str] = {}
        for name in dict.fromkeys(names):  # each once, in the order given
            reporter = self._guard(name, lambda: REPORTERS.get(name)(run, cfg, resume_from))
            if reporter is not None:
                self.live[name] = reporter

    def log(self, step: int, metrics: dict[str, float]) -> None:
        for name, reporter in list(self.live.items()):
            self._guard(name, lambda: reporter.log(step, dict(metrics)))

    def close(self) -> None:
        """Close every tracker (again: nothing)."""
        live, self.live = self.live, {}
        for name, reporter in live.items():
            self._guard(name, reporter.close)

    def _guard(self, name: str, call):
        try:
            return call()
        except Exception as err:  # a tracker never stops training
            self.live.pop(name, None)
            if name not in self.failed:
                self.failed[name] = f"{type(err).__name__}: {err}"
                print(f"warning: the {name} tracker failed ({self.failed[name]}); run {self.run.run_id} goes on without it",
                      file=sys.stderr, flush=True)
            return None


class ReportingStore:
    """The run store as one run's code sees it: every write goes to the store, and the metrics of `run_id` then to
    its trackers too, the same names, values and iteration; the run's end (any status but 'running') closes them.
    Everything else is the store's own."""

    def __init__(self, store, run_id: int, trackers: Trackers):
        self._store, self._run_id, self.trackers = store, run_id, trackers

    def __getattr__(self, name: str):
        return getattr(self._store, name)

    def record_iteration(self, run_id: int, iteration: int, metrics: dict[str, float], trajectories=()) -> None:
        self._store.record_iteration(run_id, iteration, metrics, trajectories)
        if run_id == self._run_id:
            self.trackers.log(iteration, metrics)

    def log_metrics(self, run_id: int, iteration: int, metrics: dict[str, float], trajectories=()) -> None:
        self._store.log_metrics(run_id, iteration, metrics, trajectories)
        if run_id == self._run_id:
            self.trackers.log(iteration, metrics)

    def set_run_status(self, run_id: int, status: str) -> None:
        self._store.set_run_status(run_id, status)
        if run_id == self._run_id and status != "running":
            self.trackers.close()


@contextmanager
def reporting(store, workspace: Path, cfg: Config, run_id: int, resume_from: int | None = None):
    """The store for run `run_id`'s code: wrapped in `ReportingStore` with the trackers `cfg.report.to` names (opened
    here, closed when the run ends or the block exits, whichever is first), or `store` itself when it names none
    or `store` is None (a rank other than 0 under torchrun)."""
    if store is None or not cfg.report.to:
        yield store
        return
    row = store.run(run_id)
    run = RunInfo(run_id, row["name"], row["kind"], row["config"], Path(workspace))
    trackers = Trackers(cfg.report.to, run, cfg.report, resume_from)
    try:
        yield ReportingStore(store, run_id, trackers)
    finally:
        trackers.close()
