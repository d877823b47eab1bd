"""One-key decisions on the Prompts tab, applied to the prompt each key was typed on, in the order typed.

A person who knows the keys types ahead of the screen (`a` keeps the prompt and moves on; a `3` 50 ms
later is meant for the next prompt), and while a run trains a label write can wait seconds for the
store. So the page (studio/shortcuts.py) does the walking itself: each key takes the id shown in the
focus box at the moment it is pressed, the focus moves on at once, and the key joins a queue that goes
to `apply_keys` one batch at a time, never two at once, so the server sees the keys in typing order.
`apply_keys` writes each label on the id its key carries, never on whatever the focus shows by then.

Each key has a number (seq) that counts up per page; the session remembers the highest one applied, so a
batch the page sends again (its answer was lost) is not applied twice.
"""
from __future__ import annotations

import itertools
import json
from typing import Any

from sqlalchemy.exc import OperationalError

from k15core import labels as L
from k15core.store import Store
from k15core.store.labels import UnknownPrompts

# One key per decision, printed on its button; (key, button element id). Ignored while a text box has focus.
KEYS = {
    "keep": ("a", "prompt-keep"), "exclude": ("x", "prompt-exclude"), "flag": ("f", "prompt-flag"),
    **{f"d{d}": (str(d), f"prompt-d{d}") for d in range(1, 6)},
    "undo": ("u", "prompt-undo"), "next": ("n", "prompt-next"), "prev": ("p", "prompt-prev"),
}
ADVANCING = ("keep", "exclude", "flag")
"""Decisions that move the focus to the next prompt (a reviewer's verdict on this one is done)."""
WRITING = (*L.DECISIONS, "undo")
"""The actions that reach the server; next and previous only move the focus, in the page."""
MAX_BATCH = 200
_ANSWERS = itertools.count(1)


def decide(store: Store, prompt_id: str, decision: str, author: str) -> tuple[str | None, str]:
    """Apply one focus-view decision ('keep', 'exclude', 'flag', 'd1'..'d5'). Returns (action id, message).

    Every label writer here writes with `known_only`: the id comes from a text box or the API, and a label
    on an id the store does not hold would be a row no prompt ever reads (refused, nothing written)."""
    if not prompt_id:
        return None, "no prompt selected"
    field, value = L.decision_label(decision)
    try:
        w = store.set_label(prompt_id, field, value, author=author, source="studio", known_only=True)
    except UnknownPrompts as err:
        return None, str(err)
    return w.action, (f"{prompt_id}: {field} = {value}" if w.events else f"{prompt_id}: already {field} = {value} (nothing written)")


def undo_last(store: Store, author: str) -> tuple[str | None, str]:
    """Take back the author's last action. Returns (the prompt it touched, if only one; message)."""
    w = store.undo(author)
    if w.undid is None:
        return None, "nothing to undo"
    ids = sorted({e["prompt_id"] for e in store.label_events() if e.get("action") == w.action})
    shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
    return ids[0] if len(ids) == 1 else None, f"undone: {w.events} label(s) on {shown}"


def apply_keys(store: Store, keys: Any, author: str, applied: int) -> tuple[list[dict], int]:
    """Apply typed keys in order, each to the prompt id it carries. Returns (one result per key, highest seq applied).

    `keys`: [{"seq": int, "id": prompt id, "action": one of WRITING}, ...] as the page sent them (untrusted).
    Keys apply strictly in seq order: seq <= `applied` were applied before and are skipped, and a gap (a
    key missing) stops the batch until the page sends the missing one. A key with an id or action the studio
    cannot read is answered and passed over, so one bad key cannot hold the queue; a store locked through
    every retry stops the batch at that key (the page sends the rest again). A result: {"seq", "id", "said"}, and for an undo "target", the prompt it gave back.
    """
    if not isinstance(keys, list):
        return [], applied
    results = []
    for key in keys[:MAX_BATCH]:
        seq = key.get("seq") if isinstance(key, dict) else None
        if not isinstance(seq, int) or isinstance(seq, bool) or seq <= applied:
            continue
        if seq != applied + 1:  # an earlier key has not arrived (a batch sent again overtook it): wait for it
            break
        pid, action = key.get("id"), key.get("action")
        if not isinstance(pid, str) or action not in WRITING:
            results.append({"seq": seq, "id": pid if isinstance(pid, str) else "", "said": "ignored a key the studio cannot read"})
        else:
            try:
                if action == "undo":
                    target, said = undo_last(store, author)
                    results.append({"seq": seq, "id": pid, "said": said, "target": target})
                else:
                    results.append({"seq": seq, "id": pid, "said": decide(store, pid, action, author)[1]})
            except OperationalError as err:  # the store stayed locked through every retry: stop; the page sends the rest again
                results.append({"seq": seq, "id": pid, "said": f"not saved yet, the store is busy ({err.orig}); trying again", "retry": True})
                break
        applied = seq
    return results, applied


def panel_value(ids: list[str], applied: int | None = None, results: list[dict] | None = None) -> str:
    """What the page's key queue reads from the server (JSON): the filter's prompt ids in grid order, to walk them
    without a round trip, and after a batch the highest seq applied and each key's result."""
    out: dict[str, Any] = {"ids": list(ids or [])}
    if applied is not None:  # "answer": a number of its own, so the page (which watches for a changed value) sees every answer
        out.update(applied=applied, results=results or [], answer=next(_ANSWERS))
    return json.dumps(out)
