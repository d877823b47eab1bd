"""The Prompts tab's part for many annotators: "next for me" (button and key m), the progress counter, the workspace's
guidelines, the queue settings (overlap, assignments), and agreement between people with their conflicts.

The queue and the statistics are k15core.annotators and k15core.labels_agreement (pure); the files the workspace
keeps for them, and who is looking at which prompt now, studio/annotation_files.py. The tab hands this module its
focus view (`show`), so "next for me" moves the focus as every other control does.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import gradio as gr
import pandas as pd

from k15core import annotators as A
from k15core import labels_agreement as G
from k15core.annotators import QueueSettings
from k15core.store import Store
from studio import annotation_files as F

PROGRESS_S = 2.0
"""How often the counter looks for labels written elsewhere (as the grid's refresh)."""
AGREEMENT_COLUMNS = ["field", "person A", "person B", "prompts both labelled", "same value", "Cohen's kappa"]
CONFLICT_COLUMNS = ["prompt", "field", "values"]


@dataclass(frozen=True)
class QueueView:
    next_id: str | None
    progress: A.Progress


def queue_view(store: Store, settings: QueueSettings, user: str, claims: dict[str, str] | None = None) -> QueueView:
    """Where "next for me" goes for this user, and the counts, from the store's prompts (in id order) and label events."""
    ids = [p["id"] for p in store.prompts()]
    reviewed = A.reviewers(store.label_events())
    return QueueView(A.next_for_me(ids, reviewed, user, settings, claims), A.progress(ids, reviewed, user, settings))


def agreement_frames(store: Store) -> tuple[pd.DataFrame, pd.DataFrame]:
    own = A.own_values(store.label_events())

    def shown(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.2f}"

    rows = [[r.field, r.a, r.b, r.n, shown(r.observed), shown(r.kappa)] for r in G.agreement(own)]
    clashes = [[c.prompt_id, c.field, "; ".join(f"{who}: {v}" for who, v in c.values)] for c in G.conflicts(own)]
    return pd.DataFrame(rows, columns=AGREEMENT_COLUMNS), pd.DataFrame(clashes, columns=CONFLICT_COLUMNS)


def save_settings(root, overlap, assignments: str) -> tuple[QueueSettings, str]:
    parsed, problems = F.parse_assignments(assignments)
    if problems:
        return F.read_settings(root), "not saved: " + "; ".join(problems[:5])
    try:
        k = int(overlap)
    except (TypeError, ValueError):
        return F.read_settings(root), "not saved: overlap must be a whole number"
    if k < 1:
        return F.read_settings(root), "not saved: overlap must be 1 or more"
    settings = QueueSettings(k, parsed)
    F.write_settings(root, settings)
    return settings, f"saved: overlap {k}, {len(parsed)} prompt(s) assigned"


# The page's half: key m asks for the next prompt, but only once the key queue (studio/key_queue.py, window.__k15keys)
# has saved every key typed before it: otherwise the server would not know yet that the prompt on screen is reviewed
# and would hand it out again. A click on the button waits the same way.
MINE_JS = """
const SLOT = "__k15mine", BUTTON = "prompt-next-mine";
if (window[SLOT]) window[SLOT].uninstall();
function busy() { const q = window.__k15keys; return !!(q && (q.st.queue.length || q.st.inflight)); }
function go() {
  const b = document.getElementById(BUTTON);
  if (!b) return;
  if (busy()) { setTimeout(go, 100); return; }
  b.dataset.k15ready = "1";
  b.click();
}
function onClick(e) {
  const b = e.target && e.target.closest ? e.target.closest("#" + BUTTON) : null;
  if (!b) return;
  if (b.dataset.k15ready === "1") { delete b.dataset.k15ready; return; }
  if (busy()) { e.preventDefault(); e.stopImmediatePropagation(); go(); }
}
function onKey(e) {
  if (e.ctrlKey || e.metaKey || e.altKey || e.key !== "m") return;
  const t = e.target;
  if (t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName))) return;
  if (element.offsetParent === null) return;  // the Prompts tab is not on screen
  e.preventDefault();
  if (!e.repeat) go();
}
document.addEventListener("keydown", onKey);
document.addEventListener("click", onClick, true);
window[SLOT] = {uninstall() { document.removeEventListener("keydown", onKey); document.removeEventListener("click", onClick, true); }};
"""


def build_bar() -> dict:
    """The "next for me" button and the counter, under the focus view's buttons (wired by `wire_bar`)."""
    with gr.Row():
        mine_btn = gr.Button("Next for me (m)", elem_id="prompt-next-mine", size="sm", variant="secondary")
        counter = gr.Markdown(elem_id="prompt-progress")
    gr.HTML("", js_on_load=MINE_JS, elem_id="prompt-mine-keys")
    return {"button": mine_btn, "counter": counter}


def wire_bar(ctx, bar: dict, focus_outputs: list, show: Callable[[str | None], list]) -> None:
    """"Next for me" shows the user's next prompt through the tab's focus view (`show`: id -> `focus_outputs` values)."""
    claims, mine_btn, counter = F.Claims(), bar["button"], bar["counter"]

    def on_mine(request: gr.Request):
        user = ctx.author(request)
        settings = F.read_settings(ctx.workspace.root)
        view = queue_view(ctx.store, settings, user, claims.current())
        claims.claim(user, view.next_id)
        if view.next_id is None:
            return [*[gr.skip()] * len(focus_outputs), view.progress.text() + " · nothing left for you"]
        return [*show(view.next_id), view.progress.text()]

    mine_btn.click(on_mine, None, [*focus_outputs, counter], api_name="next_for_me", trigger_mode="once")

    def counter_text(request: gr.Request):
        return queue_view(ctx.store, F.read_settings(ctx.workspace.root), ctx.author(request)).progress.text()

    timer, seen = gr.Timer(PROGRESS_S), gr.State(-1)

    def on_tick(last, request: gr.Request):  # recount only when a label was written since
        newest = ctx.store.label_events(since_seq=max(0, last))
        if last >= 0 and not newest:
            return gr.skip(), last
        return counter_text(request), max([e["seq"] for e in newest], default=max(0, last))

    timer.tick(on_tick, seen, [counter, seen], api_visibility="private", show_progress="hidden")


def build_panel(ctx) -> None:
    """Guidelines, queue settings and agreement: an accordion under the focus view."""
    root = ctx.workspace.root
    with gr.Accordion("Guidelines for this workspace", open=False):
        # gr.Markdown sanitizes the HTML its Markdown makes (sanitize_html, on by default): guidelines are anyone's text
        # values as functions: read at every page load, so an edit saved by someone else shows after a reload
        guidelines = gr.Markdown(lambda: F.read_guidelines(root) or "*No guidelines yet.*", elem_id="prompt-guidelines", sanitize_html=True)
        with gr.Accordion("Edit", open=False):
            editor = gr.Textbox(lambda: F.read_guidelines(root), lines=8, label="guidelines (Markdown)", elem_id="prompt-guidelines-edit")
            save_g = gr.Button("Save guidelines", size="sm", elem_id="prompt-guidelines-save")
    with gr.Accordion("Annotators: overlap, assignments, agreement", open=False):
        with gr.Row():
            overlap = gr.Number(lambda: F.read_settings(root).overlap, precision=0, minimum=1, label="people per prompt (overlap)", elem_id="prompt-overlap", scale=1)
            assigned = gr.Textbox(lambda: F.assignments_text(F.read_settings(root)), lines=3, label="assignments: one `prompt id: user, user` a line", scale=3,
                                  elem_id="prompt-assignments")
        with gr.Row():
            save_s = gr.Button("Save queue settings", size="sm", elem_id="prompt-queue-save")
            said = gr.Markdown(elem_id="prompt-queue-message")
        refresh = gr.Button("Compute agreement", size="sm", elem_id="prompt-agreement-refresh")
        table = gr.Dataframe(headers=AGREEMENT_COLUMNS, interactive=False, label="agreement per field and pair", elem_id="prompt-agreement")
        clashes = gr.Dataframe(headers=CONFLICT_COLUMNS, interactive=False, max_height=240, label="conflicts: latest values differ",
                               elem_id="prompt-conflicts")

    def on_save_guidelines(text):
        saved = F.write_guidelines(root, text)
        return saved or "*No guidelines yet.*", saved

    save_g.click(on_save_guidelines, editor, [guidelines, editor], api_name="save_guidelines", trigger_mode="once")
    save_s.click(lambda k, text: save_settings(root, k, text)[1], [overlap, assigned], said, api_name="save_queue_settings", trigger_mode="once")
    refresh.click(lambda: agreement_frames(ctx.store), None, [table, clashes], api_name="agreement")
