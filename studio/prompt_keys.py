"""One-key decisions on the Prompts tab, applied to the prompt each key was typed on, in the order typed.

A person who knows the keys types ahead of the screen (`a` keeps the prompt and moves on; a `3` 50 ms
later is meant for the next prompt), and while a run trains a label write can wait seconds for the
store. So the page (studio/shortcuts.py) does the walking itself: each key takes the id shown in the
focus box at the moment it is pressed, the focus moves on at once, and the key joins a queue that goes
to `apply_keys` one batch at a time, never two at once, so the server sees the keys in typing order.
`apply_keys` writes each label on the id its key carries, never on whatever the focus shows by then.
The queue itself (seq numbers, one batch at a time, each key once) is studio/key_queue.py.
"""
from __future__ import annotations

from typing import Any

from k15core import labels as L
from k15core.store import Store
from k15core.store.labels import UnknownPrompts
from studio.key_queue import apply_in_order, panel_value  # noqa: F401  (panel_value: the Prompts tab's, as before)

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
    """Apply typed keys in order, each to the prompt id it carries (`key_queue.apply_in_order`: seq order, each once).
    Returns (one result per key, highest seq applied).

    `keys`: [{"seq": int, "id": prompt id, "action": one of WRITING}, ...] as the page sent them (untrusted). A result:
    {"seq", "id", "said"}, and for an undo "target", the prompt it gave back.
    """
    def apply_one(pid, action) -> dict | None:
        if not isinstance(pid, str) or action not in WRITING:
            return None
        if action == "undo":
            target, said = undo_last(store, author)
            return {"said": said, "target": target}
        return {"said": decide(store, pid, action, author)[1]}

    return apply_in_order(keys, applied, apply_one)
