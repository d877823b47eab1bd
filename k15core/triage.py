"""Triage: one queue per run of what needs a person's look, the suspicious groups (k15core.inspection) and the
doctor's alarms (k15core.doctor) together, with counts per reason, reviews shared through the store, and the
confirmed findings written as label events on the item's prompt.

The queue's order: fatal alarms first (the run cannot learn; nothing else matters until they are read), then warning
alarms, then the suspicions in `suspicious_groups`' order (most telling reason first, newest iteration first).
An alarm is one item per check, however many iterations it fired in: reviewing "no signal" once is the decision a
person makes, and the detail says where it fired.

Each item has a stable `key`, what the store's reviews are recorded against (`Store.mark_reviewed`): the reason, the
iteration, the prompt and the sample it opens for a suspicion; the check for an alarm. So a review survives a
studio restart and is seen by everyone looking at the run, and rebuilding the queue never loses it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from k15core.doctor import FATAL, Alarm, alarms_from_metrics
from k15core.inspection import suspicious_groups
from k15core.registry import Registry
from k15core.store import Store
from k15core.store.reviews import Review

SUSPICION, ALARM = "suspicion", "alarm"
SEVERITY_ORDER = {FATAL: 0, "warning": 1, SUSPICION: 2}
"""Where an item sorts by its severity: alarms' own severities (k15core.doctor), then every suspicion."""


@dataclass(frozen=True)
class QueueItem:
    """One thing in a run's triage queue."""

    kind: str
    """SUSPICION or ALARM."""
    reason: str
    """The suspicion's reason (inspection.SUSPICION_ORDER) or the alarm's check name (doctor.CHECKS)."""
    severity: str
    """FATAL or "warning" for an alarm; SUSPICION for a suspicion."""
    iteration: int
    """The suspicion's iteration; the newest iteration an alarm fired in (-1: before the run)."""
    prompt_id: str | None
    """The prompt a confirmed finding labels; None for an alarm (it is about the whole run)."""
    open_id: int | None
    """The flagged sample, which opening the item opens and highlights; None for an alarm."""
    detail: str
    """A suspicion's measurement; an alarm's cause and fix, as the doctor says them."""

    @property
    def key(self) -> str:
        """Stable across rebuilds of the queue: what reviews are stored against."""
        if self.kind == ALARM:
            return f"alarm:{self.reason}"
        return f"suspicion:{self.reason}:{self.iteration}:{self.prompt_id}:{self.open_id}"


@dataclass(frozen=True)
class Queue:
    """A run's whole queue (reviewed items included) and who reviewed what."""

    items: list[QueueItem]
    reviews: dict[str, list[Review]]
    """Item key -> its reviews (an item is reviewed when it has one)."""

    def reviewed(self, item: QueueItem) -> bool:
        return bool(self.reviews.get(item.key))

    def counts(self) -> dict[str, tuple[int, int]]:
        """Reason -> (items, reviewed items), in queue order."""
        out: dict[str, tuple[int, int]] = {}
        for x in self.items:
            n, done = out.get(x.reason, (0, 0))
            out[x.reason] = (n + 1, done + self.reviewed(x))
        return out

    def visible(self, reasons: list[str] | None = None, show_reviewed: bool = False) -> list[QueueItem]:
        """The items of these reasons (None: every reason), the reviewed ones only when asked for."""
        return [x for x in self.items if (reasons is None or x.reason in reasons) and (show_reviewed or not self.reviewed(x))]

    def summary(self) -> str:
        """ "12 of 40 reviewed" (and the fatal alarms not yet reviewed, which come first)."""
        done = sum(self.reviewed(x) for x in self.items)
        fatal = sum(1 for x in self.items if x.severity == FATAL and not self.reviewed(x))
        return f"{done} of {len(self.items)} reviewed" + (f" · {fatal} fatal alarm{'s' if fatal > 1 else ''} not reviewed" if fatal else "")

    def find(self, key: str) -> QueueItem | None:
        return next((x for x in self.items if x.key == key), None)


def suspicion_items(found: list[dict]) -> list[QueueItem]:
    """`suspicious_groups`' dicts as queue items, in their order."""
    return [QueueItem(SUSPICION, x["reason"], SUSPICION, int(x["iteration"]), x["prompt_id"], int(x["open_id"]), x["detail"]) for x in found]


def alarm_items(alarms: list[Alarm]) -> list[QueueItem]:
    """One item per check: its newest firing, with where it fired; fatal first, then newest first."""
    by_check: dict[str, list[Alarm]] = {}
    for a in alarms:
        by_check.setdefault(a.check, []).append(a)
    items = []
    for check, found in by_check.items():
        latest = max(found, key=lambda a: a.iteration)
        its = sorted({a.iteration for a in found})
        where = "before the run" if its == [-1] else f"fired after iteration{'s' if len(its) > 1 else ''} {', '.join(str(i) for i in its)}"
        items.append(QueueItem(ALARM, check, latest.severity, latest.iteration, None, None, f"{latest.message} ({where})"))
    return sorted(items, key=lambda x: (SEVERITY_ORDER.get(x.severity, 1), -x.iteration))


def build_queue(suspicions: list[QueueItem], alarms: list[QueueItem], reviews: dict[str, list[Review]]) -> Queue:
    """The queue: alarms (fatal first), then suspicions; a stable sort, so each part keeps its own order."""
    items = sorted(alarms + suspicions, key=lambda x: SEVERITY_ORDER.get(x.severity, 1))
    return Queue(items, reviews)


def run_queue(store: Store, run_id: int, limit: int = 500) -> Queue:
    """A run's queue as the store has it now: suspicious groups, stored doctor alarms, reviews."""
    run = store.run(int(run_id)) or {}
    rows = [r for r in store.metrics(int(run_id)) if r["name"].startswith("doctor/")]
    alarms = alarm_items(alarms_from_metrics(rows, run.get("config", {}).get("rl", {})))
    return build_queue(suspicion_items(suspicious_groups(store, int(run_id), limit)), alarms, store.reviews(int(run_id)))


# -- confirmed findings ------------------------------------------------------------------------------------------
# What each confirm action writes on the item's prompt, as (field, value) label events (k15core.labels); every one
# also marks the item reviewed with the action as its outcome. `penalise` says the flagged response earned a reward it
# should not have: a person's verdict "wrong" on that response, and the prompt marked hackable (a wrong answer can
# get its reward), which curation and the Prompts tab read. It changes no reward already trained on.
CONFIRMS: Registry[Callable[[QueueItem], list[tuple[str, object]]]] = Registry("triage action")
CONFIRMS.register("exclude")(lambda item: [("status", "excluded")])
CONFIRMS.register("flag")(lambda item: [("status", "flagged")])
CONFIRMS.register("penalise")(lambda item: [("verdict", {"trajectory": item.open_id, "correct": False}), ("hackable", True)])
OUTCOMES = ("reviewed", *CONFIRMS.names())


def confirm(store: Store, run_id: int, item: QueueItem, action: str, author: str, source: str = "studio") -> str:
    """Write the label events of `action` (CONFIRMS) on the item's prompt and mark the item reviewed; returns what
    happened, for the page. An alarm has no prompt to label: ValueError. Idempotent like `Store.set_label`."""
    events = CONFIRMS.get(action)(item)
    if item.prompt_id is None:
        raise ValueError(f"{item.reason} is an alarm about the whole run: there is no prompt to {action}; mark it reviewed instead")
    written = sum(store.set_label(item.prompt_id, field, value, author=author, source=source).events for field, value in events)
    store.mark_reviewed(run_id, [item.key], author, outcome=action)
    said = f" ({written} label event{'s' if written != 1 else ''})" if written else " (already so; nothing written)"
    return f"{action}: prompt {item.prompt_id}{said}"
