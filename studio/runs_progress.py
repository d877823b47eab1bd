"""The Runs tab's progress bars: how far each shown run is, how long an iteration takes, and when it should end.

Pure functions over the rows the tab reads anyway (`rl_runs` rows and the metric rows of a MetricCache). The
time of an iteration is the sum of its `time/{phase}_s` metrics (steer, rollout, reward, train, sync, store: what
the trainer times), averaged over the iterations recorded so far; a run without them (an older trainer) falls back
on the wall clock between its creation and its last write. The ETA is that mean times the iterations left,
counted from the run's last write. Checkpoints and the doctor's held-out checks are not phases, so a run that
makes them often ends a little later than said.
"""
from __future__ import annotations

import html
import time
from dataclasses import dataclass

from k15core.runlock import RUNNING_OWNER_GONE


def iteration_seconds(rows: list[dict]) -> float | None:
    """Mean seconds per iteration from metric rows (iteration, name, value): each iteration's `time/*_s` phases
    summed (rates such as time/rollout_tokens_per_s are not phases). None when no iteration has them.

    >>> row = lambda it, name, value: {"iteration": it, "name": name, "value": value}
    >>> iteration_seconds([row(0, "time/rollout_s", 3.0), row(0, "time/train_s", 1.0), row(0, "time/rollout_tokens_per_s", 900.0),
    ...                    row(1, "time/rollout_s", 6.0)])  # (3 + 1 + 6) / 2
    5.0
    """
    per: dict[int, float] = {}
    for r in rows:
        name = r["name"]
        if r["iteration"] >= 0 and name.startswith("time/") and name.endswith("_s") and not name.endswith("_per_s"):
            per[r["iteration"]] = per.get(r["iteration"], 0.0) + r["value"]
    return sum(per.values()) / len(per) if per else None


def duration(seconds: float) -> str:
    """A rough, readable length of time.

    >>> [duration(s) for s in (12, 59, 60, 150, 3600, 5400, 90000)]
    ['under a minute', 'under a minute', '1 min', '2 min', '1 h', '1 h 30 min', '25 h']
    """
    if seconds < 60:
        return "under a minute"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h" + (f" {minutes} min" if minutes else "")


def pace_text(seconds: float) -> str:
    """Seconds per iteration, to three figures.

    >>> [pace_text(s) for s in (0.0114, 12.34, 60.0, 150.0)]
    ['under a second', '12.3 s', '60 s', '2.5 min']
    """
    if seconds < 1:
        return "under a second"
    return f"{seconds:.3g} s" if seconds < 120 else f"{seconds / 60:.3g} min"


@dataclass(frozen=True)
class Progress:
    state: str
    """starting | running | finishing | finished | stopped | failed | trainer gone | (any other run status)"""
    done: int
    """Iterations recorded."""
    planned: int | None
    """rl.iterations of the run's config (None: unknown)."""
    per_iteration_s: float | None
    eta_at: float | None
    """When the run should end (epoch seconds); only while it runs."""
    text: str


def progress(run: dict, per_iteration_s: float | None, now: float) -> Progress:
    """Where a run stands. `run`: an `rl_runs` row (status, iterations done, planned, created_at, updated_at);
    `per_iteration_s`: `iteration_seconds` of its metrics (None: use the wall clock)."""
    done, planned, status = run["iterations"], run["planned"], run["status"]
    of = f" of {planned}" if planned else ""
    if per_iteration_s is None and done > 0:
        per_iteration_s = max(run["updated_at"] - run["created_at"], 0.0) / done
    pace = f" · {pace_text(per_iteration_s)} per iteration" if per_iteration_s is not None and done > 0 else ""
    if status == "running" and done == 0:
        return Progress("starting", 0, planned, None, None,
                        f"starting: no iteration recorded yet{f' (0{of})' if of else ''}; loading the model and checking the setup")
    if status == "running" and planned and done >= planned:
        return Progress("finishing", done, planned, per_iteration_s, None, f"iteration {done}{of} · finishing: saving the policy")
    if status == "running":
        if not planned:
            return Progress("running", done, None, per_iteration_s, None, f"iteration {done} (no planned count in the run's config){pace}")
        eta_at = run["updated_at"] + (planned - done) * per_iteration_s
        left = max(eta_at - now, 0.0)
        clock = time.strftime("%a %H:%M" if left > 20 * 3600 else "%H:%M", time.localtime(eta_at))
        left_text = f"{'about ' if left >= 60 else ''}{duration(left)} left (ETA {clock})"
        return Progress("running", done, planned, per_iteration_s, eta_at, f"iteration {done}{of} · {left_text}{pace}")
    state = {"finished": "finished", "stopped": "stopped", "failed": "failed", RUNNING_OWNER_GONE: "trainer gone"}.get(status, status)
    said = {"finished": f"finished: iteration {done}{of}",
            "stopped": f"stopped after iteration {done}{of}; k15 train --resume goes on from its last checkpoint",
            "trainer gone": f"its trainer is gone after iteration {done}{of} (the process ended without marking the run); "
                            "k15 train --resume goes on"}.get(state, f"{status} after iteration {done}{of}")
    return Progress(state, done, planned, per_iteration_s, None, said + pace)


def progress_html(shown: list[tuple[str, Progress]]) -> str:
    """A bar and a line per shown run (label, progress); a run still starting gets a moving bar (no value)."""
    if not shown:
        return "<div class='k15-progress'>No RL run shown.</div>"
    out = []
    for label, p in shown:
        if p.state == "starting" or not p.planned:
            bar = "<progress aria-label='progress'></progress>" if p.state in ("starting", "running") else ""
        else:
            bar = f"<progress aria-label='progress' max='{p.planned}' value='{min(p.done, p.planned)}'></progress>"
        out.append(f"<div class='k15-progress' data-state='{html.escape(p.state, quote=True)}'><b>{html.escape(label)}</b>{bar}"
                   f"<span>{html.escape(p.text)}</span></div>")
    return "".join(out)


LEARNING_NOTE = """**What learning looks like.** Reward and accuracy climb, with noise from one iteration to the next (raise
**smoothing** to see the trend). Response length may grow first, as the model learns to work its answers out, then shrink
once the length penalty is on (`rl.length_penalty`, after `rl.length_penalty_warmup` iterations); length running into the
token limit while the truncated share rises is a run going wrong, not learning. Entropy falls slowly as the model grows
surer of itself; a fall of ten times within a few iterations is a collapse, a rise a sign of instability. The share of
groups with no learning signal should stay well under 100 %: a prompt whose k samples all get the same reward teaches
nothing. KL to the iteration's start policy stays near 0. The [doctor's alarms](#runs-alarms), above the plots, name
what goes wrong and its fix."""
