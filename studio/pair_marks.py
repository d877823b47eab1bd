"""DPO pairs marked by people in the Rollouts tab's group view (long2short, report §2.4; `k15 long2short dpo --pairs`).

With a group open, a person walks its samples with the keys and marks each one chosen or rejected. A mark is a
`preference` label event on the sample's prompt ({trajectory, run, group, mark}; k15core.labels) with its author and
time like every label, so Undo takes it back and the prompt's history shows it. Marks become pairs by one rule
(k15core.long2short.selection.human_pairs): within one group, every chosen sample x every rejected sample.

The keys go through the studio's key queue (studio/key_queue.py): each key carries the id of the sample that had
the focus when it was pressed, so typing ahead of the screen never marks the wrong sample.
"""
from __future__ import annotations

import html
import time

from k15core import labels as L
from k15core.labels import HumanMark
from k15core.long2short.selection import human_pairs
from k15core.store import Store
from studio.key_queue import apply_in_order, queue_js

# One key per action, printed on its button; (key, button element id). None of them is a Prompts tab key.
KEYS = {
    "chosen": ("c", "rollouts-mark-chosen"), "rejected": ("r", "rollouts-mark-rejected"), "clear": ("e", "rollouts-mark-clear"),
    "undo": ("z", "rollouts-mark-undo"), "next": ("j", "rollouts-sample-next"), "prev": ("k", "rollouts-sample-prev"),
}
MARK_OF = {"chosen": "chosen", "rejected": "rejected", "clear": None}
ADVANCING = ("chosen", "rejected")
"""Marks that move the focus to the next sample, so a group is marked by typing down it ("crr")."""
WRITING = (*MARK_OF, "undo")
HELP = ("Keys on an open group: **j**/**k** next/previous sample (or click one) · **c** chosen · **r** rejected (both move on) · "
        "**e** clear the mark · **z** undo my last action. Keys do nothing while a text box has focus (Esc leaves it). "
        "Within a group, every chosen sample pairs with every rejected one: the DPO pairs `k15 long2short dpo --pairs human` "
        "(or `both`) trains on.")


def mark(store: Store, trajectory_id, value: str | None, author: str) -> str:
    """Mark one stored response chosen or rejected for DPO (None clears its mark); returns what happened, for the page.

    Idempotent: marking a sample again as it already is writes nothing (`Store.set_label`)."""
    try:
        tid = int(trajectory_id)
    except (TypeError, ValueError):
        return "open a group and pick a sample first"
    group = store.trajectory_group(tid)
    if not group:
        return f"no sample with id {tid}"
    one = next(t for t in group if t["id"] == tid)
    if value is None and tid not in group_marks(store, one["prompt_id"]):
        return f"sample {one['sample_index']} (id {tid}) has no mark to clear"
    event = {"trajectory": tid, "run": one["run_id"], "group": min(t["id"] for t in group), "mark": value}
    w = store.set_label(one["prompt_id"], "preference", event, author=author, source="studio")
    said = f"sample {one['sample_index']} (id {tid}): " + ("mark cleared" if value is None else value)
    return said + ("" if w.events else " (already so; nothing written)")


def undo_mark(store: Store, author: str) -> tuple[str | None, str]:
    """Take back the author's last action (a mark or any other label). Returns (the sample it gave back, if the action
    was a mark, as the page's id; message)."""
    w = store.undo(author)
    if w.undid is None:
        return None, "nothing to undo"
    events = [e for e in store.label_events() if e.get("action") == w.action]
    marks = [e["value"]["trajectory"] for e in events if e["field"] == "preference" and isinstance(e["value"], dict)]
    if marks:
        return str(marks[0]), f"undone: the mark on sample id {marks[0]}"
    return None, f"undone: {w.events} label(s) on {', '.join(sorted({e['prompt_id'] for e in events})[:5])}"


def apply_keys(store: Store, keys, author: str, applied: int) -> tuple[list[dict], int]:
    """Apply typed keys in order, each to the trajectory id it carries (`key_queue.apply_in_order`).

    `keys`: [{"seq": int, "id": trajectory id as text, "action": one of WRITING}, ...] as the page sent them (untrusted).
    A result: {"seq", "id", "said"}, and for an undo "target", the sample it gave back."""
    def apply_one(tid, action) -> dict | None:
        if action not in WRITING or not isinstance(tid, str):
            return None
        if action == "undo":
            target, said = undo_mark(store, author)
            return {"said": said, "target": target}
        if not tid.isdigit():
            return None
        return {"said": mark(store, int(tid), MARK_OF[action], author)}

    return apply_in_order(keys, applied, apply_one)


def group_marks(store: Store, prompt_id: str) -> dict[int, HumanMark]:
    """Trajectory id -> its current DPO mark, for the samples of one prompt."""
    return L.human_marks(e for e in store.label_events(prompt_ids=[prompt_id]) if e["field"] == "preference")


def mark_html(m: HumanMark | None) -> str:
    """One sample's mark line (nothing when unmarked). The author is user data: escaped."""
    if m is None:
        return ""
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(m.at))
    return f'<div class="k15-mark k15-mark-{m.mark}" data-mark="{m.mark}"><b>{m.mark}</b> for DPO · {html.escape(m.author)}, {when}</div>'


def pairs_html(group: list[dict], marks: dict[int, HumanMark]) -> str:
    """The group's DPO marks in one line: how many chosen and rejected, and the pairs they make."""
    ids = {int(t["id"]) for t in group}
    here = [m for t, m in marks.items() if t in ids]
    chosen = sum(m.mark == "chosen" for m in here)
    n = len(human_pairs(here))
    return (f'<div class="k15-pairs">DPO marks: {chosen} chosen, {len(here) - chosen} rejected: '
            f'<b>{n} pair{"" if n == 1 else "s"}</b> (keys: j/k move · c chosen · r rejected · e clear · z undo)</div>')


_GROUP_VIEW_JS = """
const VIEW = "rollouts-group";
const cards = () => Array.from(document.querySelectorAll("#rollouts-group .k15-card[data-trajectory]"));

function current() {  // the sample in focus; when another group is on screen: the sample opened, else the first
  const ids = cards().map((c) => c.dataset.trajectory);
  if (!ids.includes(st.focus)) {
    const opened = document.querySelector("#rollouts-open-id textarea, #rollouts-open-id input");
    const want = opened ? opened.value.trim() : "";
    st.focus = ids.includes(want) ? want : (ids[0] || "");
  }
  return st.focus;
}

function paint() {  // outline the sample in focus
  const f = current();
  for (const c of cards()) c.classList.toggle("k15-focus", c.dataset.trajectory === f);
}

function move(id) {
  const card = id ? cards().find((c) => c.dataset.trajectory === id) : null;
  if (!card) return;
  st.focus = id;
  paint();
  card.scrollIntoView({block: "nearest"});
}

function step(id, delta, verdict) {
  const ids = cards().map((c) => c.dataset.trajectory), i = ids.indexOf(id);
  return i < 0 ? ids[0] : ids[Math.max(0, Math.min(ids.length - 1, i + delta))];
}

function pick(e) {  // a click on a sample puts the focus there
  const card = e.target && e.target.closest ? e.target.closest("#rollouts-group .k15-card[data-trajectory]") : null;
  if (card) move(card.dataset.trajectory);
}
"""


def keys_js() -> str:
    """The group view's key panel js_on_load: the key queue over the open group's samples."""
    return queue_js("__k15pairkeys", {key: action for action, (key, _) in KEYS.items()}, {elem: action for action, (_, elem) in KEYS.items()},
                    ADVANCING, _GROUP_VIEW_JS)
