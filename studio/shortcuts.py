"""Keyboard shortcuts for the Prompts tab: the page's half of the key queue (the server's half is studio/prompt_keys.py).

Gradio has none built in. The script below runs in the page, installed by the tab's key panel (`#prompt-keys`):
- a key takes the prompt id shown in the focus box at the moment it is pressed; a label key joins a queue
  with that id; a/x/f and n/p move the focus at once, in the page, over the filter's ids (the server
  renders them into the panel), so the next key is typed on the next prompt without waiting for an answer;
- the queue goes to the server one batch at a time (the panel's `apply_keys` event) and the next batch only
  after the answer, so the server gets the keys in typing order; a batch unanswered for 15 s is sent again
  (the server applies each key once, in order: prompt_keys.apply_keys);
- clicks on the decision buttons take the same path, so a click cannot overtake keys still queued;
- the panel says how many keys wait and what the last one did; the card is dimmed while it still shows
  another prompt than the focus box (its answer is on the way).
Keys are ignored while focus is in a text field (INPUT, TEXTAREA, SELECT, contentEditable), with a modifier
held, or when the Prompts tab is not on screen, so typing never labels.
"""
from __future__ import annotations

import json

from studio.prompt_keys import ADVANCING, KEYS, MAX_BATCH

PANEL_TEMPLATE = '<div class="k15-keys"><span class="k15-keys-state">all saved</span> <span class="k15-keys-said"></span></div>'

_KEYS_JS = """
const KEYS = __KEYS__, BUTTONS = __BUTTONS__, ADVANCING = __ADVANCING__, MAX_BATCH = __MAX_BATCH__, RESEND_MS = 15000;
const old = window.__k15keys;
if (old) old.uninstall();  // the panel was mounted again: keep one listener, and the keys still queued
const st = old ? old.st : {seq: 0, queue: [], inflight: 0, sentAt: 0, retryAt: 0, ids: [], said: "", answer: null};
const box = () => document.querySelector("#prompt-id textarea, #prompt-id input");

function render() {
  const n = st.queue.length, waiting = st.inflight && Date.now() - st.sentAt > 2000 ? " (waiting for the store)" : "";
  const state = element.querySelector(".k15-keys-state"), said = element.querySelector(".k15-keys-said");
  if (state) state.textContent = n ? `${n} key${n > 1 ? "s" : ""} waiting to be saved${waiting}` : "all saved";
  if (said) said.textContent = st.said ? "· " + st.said : "";
  stale();
}

function stale() {  // dim the card while it still shows another prompt than the focus box
  const card = document.getElementById("prompt-card"), b = box();
  const shown = card && card.querySelector("[data-prompt-id]");
  if (card && b) card.classList.toggle("k15-stale", !!shown && shown.dataset.promptId !== b.value);
}

function focus(pid) {  // show another prompt: the box at once, the card when the server answers
  const b = box();
  if (!b || !pid || b.value === pid) return;
  b.value = pid;
  b.dispatchEvent(new Event("input", {bubbles: true}));  // Gradio's copy of the value follows, so every handler reads this id
  trigger("show_focus");
}

function step(pid, delta, verdict) {  // the same walk as the server's Next/Previous buttons
  const ids = st.ids, i = ids.indexOf(pid);
  if (i < 0) return verdict ? null : ids[0];  // an id typed outside the filter: a verdict stays on it, n/p go to the first
  return ids[Math.max(0, Math.min(ids.length - 1, i + delta))];
}

function pump() {  // one batch on the wire at a time: the server sees the keys in the order they were typed
  if (st.inflight || !st.queue.length || Date.now() < st.retryAt) return;
  const batch = st.queue.slice(0, MAX_BATCH);
  st.inflight = batch[batch.length - 1].seq;
  st.sentAt = Date.now();
  trigger("apply_keys", {keys: batch});
}

function act(action) {
  const b = box(), pid = b ? b.value.trim() : "";
  if (!pid && action !== "undo") return;  // undo takes back the person's last action, on whatever prompt
  if (action !== "next" && action !== "prev") {
    st.queue.push({seq: ++st.seq, id: pid, action: action});
    pump();
  }
  if (action === "next" || ADVANCING.includes(action)) focus(step(pid, 1, action !== "next"));
  if (action === "prev") focus(step(pid, -1, false));
  render();
}

function read() {  // an answer from the server: the filter's ids, and after a batch what it applied
  if (props.value === st.answer) return;
  st.answer = props.value;
  let v;
  try { v = JSON.parse(props.value || "{}"); } catch (err) { return; }
  if (Array.isArray(v.ids)) st.ids = v.ids;
  if (typeof v.applied !== "number") return;
  const before = st.queue.length;
  for (const r of v.results || []) {
    st.said = r.said;
    const movedOn = st.seq > r.seq || !box() || box().value !== r.id;  // typed more, or left the prompt
    if (r.target && !movedOn) focus(r.target);  // undo shows the prompt it gave back, unless the person moved on
  }
  st.queue = st.queue.filter((k) => k.seq > v.applied);
  st.inflight = 0;
  if (st.queue.length && st.queue.length === before) st.retryAt = Date.now() + 1000;  // no progress (store busy): breathe, then again
  if (v.results && v.results.length) trigger("show_focus");  // the card shows the labels just written
  pump();
  render();
}

function onKey(e) {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName))) return;
  const action = KEYS[e.key];
  if (!action || element.offsetParent === null) return;  // not ours, or the Prompts tab is not on screen
  e.preventDefault();
  if (!e.repeat) act(action);  // a held key is one decision, not a burst
}

function onClick(e) {
  const btn = e.target && e.target.closest ? e.target.closest("button[id]") : null;
  const action = btn && BUTTONS[btn.id];
  if (!action) return;
  e.preventDefault();
  e.stopImmediatePropagation();  // the button's own event would read the focus box whenever the server got to it
  act(action);
}

document.addEventListener("keydown", onKey);
document.addEventListener("click", onClick, true);
const timer = setInterval(() => {
  if (st.inflight && Date.now() - st.sentAt > RESEND_MS) st.inflight = 0;  // the answer was lost: send again
  pump();
  render();
}, 500);
const card = document.getElementById("prompt-card"), observer = new MutationObserver(stale);
if (card) observer.observe(card, {childList: true, subtree: true});
watch("value", read);
window.__k15keys = {st, uninstall() {
  document.removeEventListener("keydown", onKey);
  document.removeEventListener("click", onClick, true);
  clearInterval(timer);
  observer.disconnect();
}};
read();
render();
"""


def key_map() -> dict[str, str]:
    """Key -> action; arrow keys also move through the prompts."""
    out = {key: action for action, (key, _) in KEYS.items()}
    out["ArrowRight"], out["ArrowLeft"] = "next", "prev"
    return out


def keys_js() -> str:
    """The key panel's js_on_load: the key queue described above."""
    return (_KEYS_JS.replace("__KEYS__", json.dumps(key_map())).replace("__BUTTONS__", json.dumps({elem: action for action, (_, elem) in KEYS.items()}))
            .replace("__ADVANCING__", json.dumps(list(ADVANCING))).replace("__MAX_BATCH__", str(MAX_BATCH)))


def shortcuts_head() -> str:
    return """<script>
document.addEventListener("keydown", (e) => {  // Esc leaves a text box, so the keys work again
  if (e.key === "Escape" && document.activeElement && document.activeElement !== document.body) document.activeElement.blur();
});
</script>"""
