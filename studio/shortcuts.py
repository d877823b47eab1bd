"""Keyboard shortcuts for the Prompts tab. Gradio has none built in, so a small script in the page's
<head> maps a key to a click on the button whose id it names.

Keys are ignored while focus is in a text field (INPUT, TEXTAREA, SELECT, contentEditable), with a
modifier held, or when the button is not visible (another tab is open), so typing never labels.
"""
from __future__ import annotations

import json

from studio.prompt_keys import KEYS


def key_map() -> dict[str, str]:
    """Key -> button element id; arrow keys also move through the prompts."""
    out = {key: elem for key, elem in KEYS.values()}
    out["ArrowRight"], out["ArrowLeft"] = KEYS["next"][1], KEYS["prev"][1]
    return out


def shortcuts_head() -> str:
    return """<script>
(() => {
  const KEYS = %s;
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
    const t = e.target;
    if (t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName))) return;
    const id = KEYS[e.key];
    if (!id) return;
    const el = document.getElementById(id);
    if (!el || el.offsetParent === null) return;  // not on screen: another tab is open
    e.preventDefault();
    el.click();
  });
  document.addEventListener("keydown", (e) => {  // Esc leaves a text box, so the keys work again
    if (e.key === "Escape" && document.activeElement && document.activeElement !== document.body) document.activeElement.blur();
  });
})();
</script>""" % json.dumps(key_map())
