"""Many annotators on one prompt set: each person's own labels, the "next for me" queue and progress counts.

Pure functions over label events (store rows: prompt_id, field, value, author, source, action, undoes, seq, in seq
order). The folded state (`k15core.labels.fold`) is what the trainer uses: the latest event of anyone wins. Here
each person's labels are kept apart, so that two people reviewing one prompt (an overlap) can be compared
(`k15core.labels_agreement`) and each gets the prompts they still have to see.

A person's own value of a field is their latest event on it that was not taken back. An undo event is not a
person's opinion (it writes back whatever the field held before, possibly someone else's value), so undo
events, and the events they took back, are passed over. Machine sources (curation) are nobody's review.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from k15core import labels as L

MACHINE_SOURCES = frozenset({"auto"})
"""Label sources that are not a person (k15core.curation.run.AUTO)."""
REVIEW_FIELD = "status"
"""A person has reviewed a prompt when they gave it a status (keep, exclude or flag) they have not taken back."""


def own_values(events: Iterable[dict]) -> dict[str, dict[tuple[str, str], Any]]:
    """author -> {(prompt, `labels.slot`): their latest value (None: they reset it)}, undo events and undone events
    passed over, and machine sources too.

    >>> evs = [{"prompt_id": "p", "field": "status", "value": "kept", "author": "ann", "source": "studio", "action": "a1"},
    ...        {"prompt_id": "p", "field": "status", "value": "excluded", "author": "bob", "source": "studio", "action": "b1"},
    ...        {"prompt_id": "p", "field": "status", "value": "kept", "author": "bob", "source": "studio", "action": "b2", "undoes": "b1"}]
    >>> own_values(evs)
    {'ann': {('p', 'status'): 'kept'}}
    """
    events = list(events)
    undone = {e.get("undoes") for e in events if e.get("undoes")}
    out: dict[str, dict[tuple[str, str], Any]] = {}
    for ev in events:
        if ev.get("undoes") or ev.get("action") in undone or ev.get("source") in MACHINE_SOURCES:
            continue
        try:
            fld, value = L.normalise(ev["field"], ev["value"])
        except ValueError:
            continue
        out.setdefault(ev["author"], {})[ev["prompt_id"], L.slot(fld, value)] = value
    return {a: v for a, v in out.items() if v}


def reviewers(events: Iterable[dict]) -> dict[str, set[str]]:
    """prompt -> the people who reviewed it (their own status is set)."""
    out: dict[str, set[str]] = {}
    for author, values in own_values(events).items():
        for (pid, slot), value in values.items():
            if slot == REVIEW_FIELD and value is not None:
                out.setdefault(pid, set()).add(author)
    return out


@dataclass(frozen=True)
class QueueSettings:
    """How a workspace's prompts are shared out (kept in the workspace: studio/annotation_files.py)."""

    overlap: int = 1
    """How many people review each prompt that is not assigned (2: every prompt is seen twice, for agreement)."""
    assignments: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """prompt id -> the people who must review it. An assigned prompt goes to those people only, whatever the overlap."""


def next_for_me(prompt_ids: list[str], reviewed: dict[str, set[str]], user: str, settings: QueueSettings = QueueSettings(),
                claims: dict[str, str] | None = None) -> str | None:
    """The first prompt, in `prompt_ids`' order, that `user` has not reviewed and that is theirs to review: assigned to
    them, or unassigned and seen by fewer than `overlap` people. None when nothing is left for them.

    `claims`: user -> the prompt a person was handed and is looking at now (not reviewed yet); it counts as seen by
    them, so two people asking at once with overlap 1 get different prompts. The user's own claim does not count.

    >>> next_for_me(["a", "b", "c"], {"a": {"bob"}}, "ann"), next_for_me(["a", "b", "c"], {"a": {"bob"}}, "ann", QueueSettings(2))
    ('b', 'a')
    """
    overlap = max(1, int(settings.overlap))
    held: dict[str, set[str]] = {}
    for who, pid in (claims or {}).items():
        if who != user and pid:
            held.setdefault(pid, set()).add(who)
    for pid in prompt_ids:
        seen = reviewed.get(pid, set())
        if user in seen:
            continue
        assigned = settings.assignments.get(pid)
        if assigned:
            if user in assigned:
                return pid
            continue
        if len(seen | held.get(pid, set())) < overlap:
            return pid
    return None


@dataclass(frozen=True)
class Progress:
    mine: int
    """Prompts this user reviewed."""
    anyone: int
    """Prompts at least one person reviewed."""
    complete: int
    """Prompts reviewed by as many people as they need (their assignees, or `overlap` people)."""
    total: int

    def text(self) -> str:
        return (f"**{self.mine} of {self.total} reviewed** by you · {self.anyone} of {self.total} by anyone · "
                f"{self.complete} of {self.total} complete")


def progress(prompt_ids: list[str], reviewed: dict[str, set[str]], user: str, settings: QueueSettings = QueueSettings()) -> Progress:
    def done(pid: str) -> bool:
        seen, assigned = reviewed.get(pid, set()), settings.assignments.get(pid)
        return set(assigned) <= seen if assigned else len(seen) >= max(1, int(settings.overlap))

    return Progress(mine=sum(user in reviewed.get(p, ()) for p in prompt_ids), anyone=sum(bool(reviewed.get(p)) for p in prompt_ids),
                    complete=sum(done(p) for p in prompt_ids), total=len(prompt_ids))
