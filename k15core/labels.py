"""Prompt labels: an append-only history of label events, folded into each prompt's current state.

Pure functions only; the store (`Store.set_label`, `Store.undo`) writes the events, the trainer and the
studio read the folded state. Fields and the JSON values an event carries:

    status      "kept" | "excluded" | "flagged"; null = not reviewed. The trainer never draws "excluded".
    pass_rate   float in [0, 1]: share of sampled answers that verified (curation; k15core.curation).
    format_issue  str: why the answer format cannot be verified reliably (curation's format filters).
    duplicate_of  {"of": id, "similarity": float, "kind": "exact" | "near"}: the prompt this one repeats.
    excluded    bool: the older spelling of status (CLI, notebooks); true -> "excluded", false -> "kept".
    difficulty  int 1..5: a person's judgement, replacing the task's level.
    reference   str: a corrected reference answer (the studio checks it with the task's verifier first).
    tags        list[str]: the whole set of tags (sorted, unique).
    note        str: free text.
    hackable    bool: "easy to hack" (a wrong answer can get the reward); set by curation or a person.
    verdict     {"trajectory": id, "correct": bool | null}: a person's verdict on one stored response of the prompt,
                overruling (or confirming) the rule's or the judge's; null takes it back. One value per trajectory:
                events on different trajectories of a prompt never replace each other (`slot`).
    preference  {"trajectory": id, "run": id, "group": id, "mark": "chosen" | "rejected" | null}: a person's mark on one
                stored response for long2short DPO (the studio's group view, keys c / r / e); `group` is the smallest
                trajectory id of the group the response was shown in. One value per trajectory, like a verdict.
                Marks become DPO pairs by `k15core.long2short.selection.human_pairs`.

A null value resets a field to its default: that is what undoing a prompt's first label writes.
Later events win, so an undo is a newer event that writes the value the field had before.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Iterable

STATUSES = ("kept", "excluded", "flagged")
FIELDS = ("status", "difficulty", "reference", "tags", "note", "hackable", "pass_rate", "format_issue", "duplicate_of", "verdict", "preference")
"""Fields of the folded state (`excluded` events fold into `status`)."""
PER_RESPONSE = {"verdict": "correct", "preference": "mark"}
"""Fields that hold one value per stored response of the prompt -> the key of that value in the event's JSON (its
"trajectory" says which response). A null there takes that response's value back; a bare null resets them all."""
MARKS = ("chosen", "rejected")
"""A person's `preference` marks on a response."""


@dataclass(frozen=True)
class PromptLabels:
    """The current labels of one prompt: its label events folded in order. Defaults mean "never labelled"."""

    status: str | None = None
    difficulty: int | None = None
    reference: str | None = None
    tags: tuple[str, ...] = ()
    note: str = ""
    hackable: bool = False
    pass_rate: float | None = None
    format_issue: str | None = None
    duplicate_of: dict | None = None
    verdict: tuple[tuple[int, bool], ...] = ()
    """(trajectory id, correct) of every response a person gave a verdict on, by id."""
    preference: tuple[tuple[int, str], ...] = ()
    """(trajectory id, "chosen" | "rejected") of every response a person marked for DPO, by id."""
    events: int = 0
    """Number of label events behind this state (undo events included)."""

    @property
    def excluded(self) -> bool:
        return self.status == "excluded"

    def human_verdict(self, trajectory_id: int) -> bool | None:
        """A person's verdict on that response of this prompt, or None."""
        return dict(self.verdict).get(trajectory_id)


DEFAULT = PromptLabels()

OVERLAID = ("reference", "difficulty")
"""The fields where a person's label replaces the task's own value for everyone who uses the prompt: the
trainer (what it rewards, how it buckets), curation (what it scores against) and the studio (what it shows)."""


def labelled(state: PromptLabels, field: str, task_value: Any) -> Any:
    """The value `field` (one of `OVERLAID`) has for a prompt: the labelled one if a person set it, else the task's.

    >>> labelled(PromptLabels(reference="42"), "reference", "41"), labelled(DEFAULT, "difficulty", 3)
    ('42', 3)
    """
    value = getattr(state, field)
    return task_value if value is None or value == "" else value


def overlay(problem, state: PromptLabels):
    """A copy of the problem (any dataclass with `reference` and `difficulty`) with the labelled values applied."""
    return dataclasses.replace(problem, **{f: labelled(state, f, getattr(problem, f)) for f in OVERLAID})

DECISIONS = {"keep": ("status", "kept"), "exclude": ("status", "excluded"), "flag": ("status", "flagged"),
             **{f"d{d}": ("difficulty", d) for d in range(1, 6)}}
"""A reviewer's one-key decisions (the studio's focus view, the notebooks' labeller) as the (field, value) they write."""


def decision_label(decision: str) -> tuple[str, Any]:
    """The (field, value) label event of a decision ('keep', 'exclude', 'flag', 'd1'..'d5'); ValueError otherwise."""
    if decision not in DECISIONS:
        raise ValueError(f"unknown decision {decision!r}; use one of {', '.join(DECISIONS)}")
    return DECISIONS[decision]


def normalise(field: str, value: Any) -> tuple[str, Any]:
    """The canonical (field, value) of a label, or ValueError saying what is wrong with it.

    `excluded` becomes `status`; tags become a sorted unique list; null stays null (reset to default).
    """
    if field == "excluded":
        if value is None:
            return "status", None
        if not isinstance(value, bool):
            raise ValueError(f"excluded must be true or false, got {value!r}")
        return "status", "excluded" if value else "kept"
    if field not in FIELDS:
        raise ValueError(f"unknown label field {field!r}; fields: {', '.join(FIELDS)}")
    if value is None:
        return field, None
    if field == "status":
        if value not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {value!r}")
    elif field == "difficulty":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or not 1 <= int(value) <= 5:
            raise ValueError(f"difficulty must be an integer from 1 to 5, got {value!r}")
        value = int(value)
    elif field == "reference":
        if not isinstance(value, str) or not value.strip():
            raise ValueError("a reference answer cannot be empty")
        value = value.strip()
    elif field == "tags":
        if isinstance(value, str) or not all(isinstance(t, str) for t in value):
            raise ValueError(f"tags must be a list of strings, got {value!r}")
        value = sorted({t.strip() for t in value if t.strip()})
    elif field in ("note", "format_issue"):
        if not isinstance(value, str):
            raise ValueError(f"a note must be text, got {value!r}")
    elif field == "hackable":
        if not isinstance(value, bool):
            raise ValueError(f"hackable must be true or false, got {value!r}")
    elif field == "duplicate_of":
        if not isinstance(value, dict) or not isinstance(value.get("of"), str) or value.get("kind") not in ("exact", "near"):
            raise ValueError(f"duplicate_of must be {{'of': id, 'similarity': x, 'kind': 'exact'|'near'}}, got {value!r}")
        value = {"of": value["of"], "similarity": float(value.get("similarity", 1.0)), "kind": value["kind"]}
    elif field == "verdict":
        trajectory, correct = (value.get("trajectory"), value.get("correct", "missing")) if isinstance(value, dict) else (None, None)
        if isinstance(trajectory, bool) or not isinstance(trajectory, int) or trajectory < 0 or not isinstance(correct, (bool, type(None))):
            raise ValueError(f"verdict must be {{'trajectory': id, 'correct': true|false|null}}, got {value!r}")
        value = {"trajectory": trajectory, "correct": correct}
    elif field == "preference":
        ids = [value.get(k) for k in ("trajectory", "run", "group")] if isinstance(value, dict) else [None]
        mark = value.get("mark", "missing") if isinstance(value, dict) else "missing"
        if any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in ids) or mark not in (*MARKS, None):
            raise ValueError(f"preference must be {{'trajectory': id, 'run': id, 'group': id, 'mark': 'chosen'|'rejected'|null}}, got {value!r}")
        value = {"trajectory": ids[0], "run": ids[1], "group": ids[2], "mark": mark}
    elif field == "pass_rate":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise ValueError(f"pass_rate must be a number in [0, 1], got {value!r}")
        value = float(value)
    return field, value


def slot(field: str, value: Any) -> str:
    """What one event sets, for comparing and undoing writes: the field, and for a verdict or a preference mark its
    trajectory too (a prompt holds one per response: `PER_RESPONSE`).

    >>> slot("status", "kept"), slot("verdict", {"trajectory": 7, "correct": True})
    ('status', 'verdict:7')
    """
    return f"{field}:{value['trajectory']}" if field in PER_RESPONSE and isinstance(value, dict) else field


def value_of(state: PromptLabels, field: str, like: Any = None) -> Any:
    """The state's value of a canonical field, in the JSON form an event carries (None = default). For a verdict or a
    preference mark, the value of the trajectory that the event `like` names (what an undo of `like` writes back).

    >>> value_of(PromptLabels(verdict=((7, False),)), "verdict", {"trajectory": 7, "correct": True})
    {'trajectory': 7, 'correct': False}
    >>> value_of(DEFAULT, "preference", {"trajectory": 7, "run": 1, "group": 5, "mark": "chosen"})
    {'trajectory': 7, 'run': 1, 'group': 5, 'mark': None}
    """
    if field in PER_RESPONSE and isinstance(like, dict):
        return {**like, PER_RESPONSE[field]: dict(getattr(state, field)).get(like["trajectory"])}
    value = getattr(state, field)
    default = getattr(DEFAULT, field)
    if value == default:
        return None
    return list(value) if field == "tags" else value


def apply(state: PromptLabels, field: str, value: Any) -> PromptLabels:
    """The state after one event. Events that no longer validate (hand-edited rows) count but change nothing."""
    try:
        field, value = normalise(field, value)
    except ValueError:
        return dataclasses.replace(state, events=state.events + 1)
    if field in PER_RESPONSE and value is not None:  # one trajectory's value set or taken back; the prompt's others stay
        key, tid = PER_RESPONSE[field], value["trajectory"]
        others = {t: v for t, v in getattr(state, field) if t != tid}
        new = tuple(sorted({**others, **({} if value[key] is None else {tid: value[key]})}.items()))
    else:
        new = getattr(DEFAULT, field) if value is None else (tuple(value) if field == "tags" else value)
    return dataclasses.replace(state, **{field: new}, events=state.events + 1)


def last_values(events: Iterable[dict]) -> dict[tuple[str, str], Any]:
    """(prompt, `slot`) -> the value its latest event recorded (None: reset), for the events given in seq order.

    A write is a no-op when it would record the same value again: that is what makes label writes
    idempotent, and why recording a default (hackable = false, "checked and not hackable") still counts once.
    """
    out: dict[tuple[str, str], Any] = {}
    for ev in events:
        try:
            field, value = normalise(ev["field"], ev["value"])
        except ValueError:
            continue
        out[ev["prompt_id"], slot(field, value)] = value
    return out


def fold(events: Iterable[dict]) -> dict[str, PromptLabels]:
    """Current labels of every prompt that has events. `events` are store rows (prompt_id, field, value) in seq order."""
    states: dict[str, PromptLabels] = {}
    for ev in events:
        states[ev["prompt_id"]] = apply(states.get(ev["prompt_id"], DEFAULT), ev["field"], ev["value"])
    return states


@dataclass(frozen=True)
class HumanVerdict:
    """A person's verdict on one stored response: correct or not, who said so and when (a `verdict` label event)."""

    trajectory: int
    correct: bool
    author: str
    at: float
    """UNIX seconds."""


def _latest_per_response(events: Iterable[dict], field: str) -> dict[int, tuple[dict, dict]]:
    """Trajectory id -> (its latest value, the event that wrote it) of one `PER_RESPONSE` field, from label events in
    seq order, folded as `apply` folds them: a value taken back (null) is absent, and a bare null resets every
    response of its prompt. Events of other fields, and events that no longer validate, are passed over."""
    out: dict[int, tuple[dict, dict]] = {}
    for ev in events:
        if ev["field"] != field:
            continue
        try:
            _, value = normalise(field, ev["value"])
        except ValueError:
            continue
        if value is None:
            out = {t: (v, e) for t, (v, e) in out.items() if e.get("prompt_id") != ev.get("prompt_id")}
            continue
        out.pop(value["trajectory"], None)
        if value[PER_RESPONSE[field]] is not None:
            out[value["trajectory"]] = (value, ev)
    return out


def human_verdicts(events: Iterable[dict]) -> dict[int, HumanVerdict]:
    """Trajectory id -> the latest person's verdict on it, from label events (store rows with author and created_at) in
    seq order; a verdict taken back (correct null) is absent. Events of other fields are passed over.

    >>> evs = [{"field": "verdict", "value": {"trajectory": 3, "correct": True}, "author": "ann", "created_at": 1.0},
    ...        {"field": "verdict", "value": {"trajectory": 4, "correct": False}, "author": "bob", "created_at": 2.0},
    ...        {"field": "verdict", "value": {"trajectory": 3, "correct": None}, "author": "ann", "created_at": 3.0}]
    >>> human_verdicts(evs)
    {4: HumanVerdict(trajectory=4, correct=False, author='bob', at=2.0)}
    """
    return {t: HumanVerdict(t, v["correct"], e["author"], e["created_at"]) for t, (v, e) in _latest_per_response(events, "verdict").items()}


@dataclass(frozen=True)
class HumanMark:
    """A person's DPO mark on one stored response (a `preference` label event): chosen or rejected, in which group."""

    trajectory: int
    mark: str
    """"chosen" | "rejected"."""
    run: int
    group: int
    """The smallest trajectory id of the group the response was marked in (its run, iteration and prompt)."""
    prompt: str
    author: str
    at: float
    """UNIX seconds."""
    seq: int = 0
    """The event's place in the label history (orders two marks written in the same second)."""


def human_marks(events: Iterable[dict]) -> dict[int, HumanMark]:
    """Trajectory id -> its current DPO mark, from label events (store rows) in seq order; a mark taken back is absent.

    >>> evs = [{"field": "preference", "prompt_id": "p", "author": "ann", "created_at": 1.0, "seq": 1,
    ...         "value": {"trajectory": 3, "run": 1, "group": 3, "mark": "chosen"}},
    ...        {"field": "preference", "prompt_id": "p", "author": "ann", "created_at": 2.0, "seq": 2,
    ...         "value": {"trajectory": 3, "run": 1, "group": 3, "mark": None}}]
    >>> human_marks(evs), list(human_marks(evs[:1]).values())[0].mark
    ({}, 'chosen')
    """
    return {t: HumanMark(t, v["mark"], v["run"], v["group"], e["prompt_id"], e["author"], e["created_at"], e.get("seq", 0))
            for t, (v, e) in _latest_per_response(events, "preference").items()}
