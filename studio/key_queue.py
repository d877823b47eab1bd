"""The studio's key queue, shared by every keyboard view: a key lands on the item that was on screen when it was pressed.

A person who knows the keys types ahead of the screen, and while a run trains a label write can wait seconds
for the store. So the page does the walking itself: each key takes the id of the item in focus at the moment it
is pressed, the focus moves on at once, and the key joins a queue that goes to the server one batch at a time,
never two at once, so the server sees the keys in typing order and applies each to the id it carries, never to
whatever the screen shows by then. Each key has a number (seq) that counts up per page; the session remembers
the highest one applied, so a batch the page sends again (its answer was lost) is not applied twice.

Two views use it: the Prompts tab's focus view (studio/prompt_keys.py + shortcuts.py: the id is a prompt's) and
the Rollouts tab's group view (studio/pair_marks.py: the id is a trajectory's). Each gives the server half a
function that applies one key, and the page half a small "view" script: which id is in focus, how to move it.
"""
from __future__ import annotations

import itertools
import json
from typing import Any, Callable

from sqlalchemy.exc import OperationalError

MAX_BATCH = 200
_ANSWERS = itertools.count(1)
CANNOT_READ = "ignored a key the studio cannot read"


def apply_in_order(keys: Any, applied: int, apply_one: Callable[[Any, Any], dict | None]) -> tuple[list[dict], int]:
    """Apply typed keys in order, each through `apply_one(id, action)`. Returns (one result per key, highest seq applied).

    `keys`: [{"seq": int, "id": ..., "action": ...}, ...] as the page sent them (untrusted). Keys apply strictly in
    seq order: seq <= `applied` were applied before and are skipped, and a gap (a key missing) stops the batch until
    the page sends the missing one. `apply_one` answers {"said": ..., more} or None for a key it cannot read, which
    is answered and passed over, so one bad key cannot hold the queue; a store locked through every retry stops the
    batch at that key (the page sends the rest again). A result: {"seq", "id", "said", ...what apply_one added}.
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
        kid = key.get("id")
        shown = kid if isinstance(kid, str) else ""
        try:
            done = apply_one(kid, key.get("action"))
        except OperationalError as err:  # the store stayed locked through every retry: stop; the page sends the rest again
            results.append({"seq": seq, "id": shown, "said": f"not saved yet, the store is busy ({err.orig}); trying again", "retry": True})
            break
        results.append({"seq": seq, "id": shown, **(done if done is not None else {"said": CANNOT_READ})})
        applied = seq
    return results, applied


def panel_value(ids: list[str], applied: int | None = None, results: list[dict] | None = None) -> str:
    """What the page's key queue reads from the server (JSON): the ids to walk without a round trip (the Prompts
    filter's, in grid order), and after a batch the highest seq applied and each key's result."""
    out: dict[str, Any] = {"ids": list(ids or [])}
    if applied is not None:  # "answer": a number of its own, so the page (which watches for a changed value) sees every answer
        out.update(applied=applied, results=results or [], answer=next(_ANSWERS))
    return json.dumps(out)


PANEL_TEMPLATE = '<div class="k15-keys"><span class="k15-keys-state">all saved</span> <span class="k15-keys-said"></span></div>'

_QUEUE_JS = """
const KEYS = __KEYS__, BUTTONS = __BUTTONS__, ADVANCING = __ADVANCING__, MAX_BATCH = __MAX_BATCH__, RESEND_MS = 15000, SLOT = __SLOT__;
const old = window[SLOT];
if (old) old.uninstall();  // the panel was mounted again: keep one listener, and the keys still queued
const st = old ? old.st : {seq: 0, queue: [], inflight: 0, sentAt: 0, retryAt: 0, ids: [], said: "", answer: null, focus: ""};

// The view: VIEW (the element id its items are in), current() (the id in focus), move(id) (show another),
// step(id, delta, verdict) (the walk; verdict: a labelling key moving on), paint() (the view follows the focus), pick(e) (a click).
__VIEW__

function render() {
  const n = st.queue.length, waiting = st.inflight && Date.now() - st.sentAt > 2000 ? " (waiting for the store)" : "";
  const state = element.querySelector(".k15-keys-state"), said = element.querySelector(".k15-keys-said");
  if (state) state.textContent = n ? `${n} key${n > 1 ? "s" : ""} waiting to be saved${waiting}` : "all saved";
  if (said) said.textContent = st.said ? "· " + st.said : "";
  paint();
}

function pump() {  // one batch on the wire at a time: the server sees the keys in the order they were typed
  if (st.inflight || !st.queue.length || Date.now() < st.retryAt) return;
  const batch = st.queue.slice(0, MAX_BATCH);
  st.inflight = batch[batch.length - 1].seq;
  st.sentAt = Date.now();
  trigger("apply_keys", {keys: batch});
}

function act(action) {
  const id = current();
  if (!id && action !== "undo") return;  // undo takes back the person's last action, wherever it was
  if (action !== "next" && action !== "prev") {
    st.queue.push({seq: ++st.seq, id: id, action: action});
    pump();
  }
  if (action === "next" || ADVANCING.includes(action)) move(step(id, 1, action !== "next"));
  if (action === "prev") move(step(id, -1, false));
  render();
}

function read() {  // an answer from the server: ids to walk, and after a batch what it applied
  if (props.value === st.answer) return;
  st.answer = props.value;
  let v;
  try { v = JSON.parse(props.value || "{}"); } catch (err) { return; }
  if (Array.isArray(v.ids)) st.ids = v.ids;
  if (typeof v.applied !== "number") return;
  const before = st.queue.length;
  for (const r of v.results || []) {
    st.said = r.said;
    const movedOn = st.seq > r.seq || current() !== r.id;  // typed more, or left that item
    if (r.target && !movedOn) move(r.target);  // undo shows what it gave back, unless the person moved on
  }
  st.queue = st.queue.filter((k) => k.seq > v.applied);
  st.inflight = 0;
  if (st.queue.length && st.queue.length === before) st.retryAt = Date.now() + 1000;  // no progress (store busy): breathe, then again
  if (v.results && v.results.length) trigger("show_focus");  // the view shows the labels just written
  pump();
  render();
}

function onKey(e) {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName))) return;
  const action = KEYS[e.key];
  if (!action || element.offsetParent === null) return;  // not ours, or this view's tab is not on screen
  e.preventDefault();
  if (!e.repeat) act(action);  // a held key is one decision, not a burst
}

function onClick(e) {
  const btn = e.target && e.target.closest ? e.target.closest("button[id]") : null;
  const action = btn && BUTTONS[btn.id];
  if (!action) { pick(e); return; }
  e.preventDefault();
  e.stopImmediatePropagation();  // the button's own event would read the focus whenever the server got to it
  act(action);
}

document.addEventListener("keydown", onKey);
document.addEventListener("click", onClick, true);
const timer = setInterval(() => {
  if (st.inflight && Date.now() - st.sentAt > RESEND_MS) st.inflight = 0;  // the answer was lost: send again
  pump();
  render();
}, 500);
const view = document.getElementById(VIEW), observer = new MutationObserver(paint);
if (view) observer.observe(view, {childList: true, subtree: true});
watch("value", read);
window[SLOT] = {st, uninstall() {
  document.removeEventListener("keydown", onKey);
  document.removeEventListener("click", onClick, true);
  clearInterval(timer);
  observer.disconnect();
}};
read();
render();
"""


def queue_js(slot: str, keys: dict[str, str], buttons: dict[str, str], advancing: tuple[str, ...], view_js: str) -> str:
    """A key panel's js_on_load: the queue above over one view. `keys`: key -> action; `buttons`: button element id ->
    action (their clicks take the keys' path, so a click cannot overtake keys still queued); `advancing`: the actions
    that move the focus on; `slot`: the window property that keeps the page's one queue of this view."""
    return (_QUEUE_JS.replace("__VIEW__", view_js.strip()).replace("__KEYS__", json.dumps(keys)).replace("__BUTTONS__", json.dumps(buttons))
            .replace("__ADVANCING__", json.dumps(list(advancing))).replace("__MAX_BATCH__", str(MAX_BATCH)).replace("__SLOT__", json.dumps(slot)))
