"""Keyboard shortcuts for the Prompts tab: the page's half of its key queue (the server's half is studio/prompt_keys.py;
the queue itself, shared with the Rollouts tab's group view, is studio/key_queue.py).

Gradio has none built in. The script runs in the page, installed by the tab's key panel (`#prompt-keys`):
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

from studio.key_queue import PANEL_TEMPLATE, queue_js  # noqa: F401  (PANEL_TEMPLATE: the Prompts tab's key panel)
from studio.prompt_keys import ADVANCING, KEYS

_PROMPT_VIEW_JS = """
const VIEW = "prompt-card";
const box = () => document.querySelector("#prompt-id textarea, #prompt-id input");

function current() {
  const b = box();
  return b ? b.value.trim() : "";
}

function paint() {  // dim the card while it still shows another prompt than the focus box
  const card = document.getElementById("prompt-card"), b = box();
  const shown = card && card.querySelector("[data-prompt-id]");
  if (card && b) card.classList.toggle("k15-stale", !!shown && shown.dataset.promptId !== b.value);
}

function move(pid) {  // show another prompt: the box at once, the card when the server answers
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

function pick(e) {}  // a click elsewhere on the page moves nothing
"""


def key_map() -> dict[str, str]:
    """Key -> action; arrow keys also move through the prompts."""
    out = {key: action for action, (key, _) in KEYS.items()}
    out["ArrowRight"], out["ArrowLeft"] = "next", "prev"
    return out


def keys_js() -> str:
    """The key panel's js_on_load: the key queue over the Prompts focus view."""
    return queue_js("__k15keys", key_map(), {elem: action for action, (_, elem) in KEYS.items()}, ADVANCING, _PROMPT_VIEW_JS)


def shortcuts_head() -> str:
    return """<script>
document.addEventListener("keydown", (e) => {  // Esc leaves a text box, so the keys work again
  if (e.key === "Escape" && document.activeElement && document.activeElement !== document.body) document.activeElement.blur();
});
</script>"""
