"""The Rollouts tab's triage queue (k15core.triage): a run's suspicious groups and the doctor's alarms in one table,
with counts and a filter per reason, reviewed items hidden (a checkbox shows them), and one click per decision.

It lives in the Rollouts tab, not a tab of its own, because what a person reads to decide is the group view there:
the k samples with their tokens, verdicts and DPO marks. Clicking a suspicion opens its group in that view with the
flagged sample outlined (class `k15-flagged`, with what the queue says of it) and scrolled into view; clicking an
alarm shows the doctor's cause and fix. Decisions: "Mark reviewed", and the confirm actions (exclude, flag,
penalise: k15core.triage.CONFIRMS), which write label events on the prompt, under the person's name, and mark the
item reviewed. Reviews are in the store, so everyone looking at the run shares them.

Buttons, no keys: the Rollouts tab's keys (j/k/c/r/e/z) already drive the DPO marks of the open group, and a second
key queue on one page would have to share that script (studio/key_queue.py) to stay in typing order.
"""
from __future__ import annotations

import html

import gradio as gr
import pandas as pd

from k15core import triage as T
from studio.runs_plots import literal_md

COLUMNS = ["severity", "reason", "iteration", "prompt_id", "detail", "reviewed by", "open id", "key"]

SCROLL_JS = """(tid) => {  // bring the flagged sample into view once the group view has drawn it (its answer comes later)
  if (!tid) return;
  let tries = 0;
  const timer = setInterval(() => {
    const card = document.querySelector(`#rollouts-group .k15-flagged[data-trajectory="${tid}"]`);
    if (card) { card.scrollIntoView({block: "center"}); clearInterval(timer); }
    if (++tries > 50) clearInterval(timer);
  }, 200);
}"""


def flags(queue: T.Queue) -> dict[int, list[str]]:
    """Trajectory id -> what the queue says of it ("reason: detail"), for the group view's highlight."""
    out: dict[int, list[str]] = {}
    for x in queue.items:
        if x.open_id is not None:
            out.setdefault(x.open_id, []).append(f"{x.reason}: {x.detail}")
    return out


def table(queue: T.Queue | None, reasons: list[str] | None, show_reviewed: bool) -> pd.DataFrame:
    """The queue's rows for these reasons (reviewed ones only with `show_reviewed`), in queue order."""
    if queue is None:
        return pd.DataFrame(columns=COLUMNS)
    rows = [[x.severity, x.reason, x.iteration, x.prompt_id or "(the run)", x.detail, ", ".join(r.author for r in queue.reviews.get(x.key, [])),
             x.open_id if x.open_id is not None else "", x.key] for x in queue.visible(reasons, show_reviewed)]
    return pd.DataFrame(rows, columns=COLUMNS)


def reason_choices(queue: T.Queue) -> list[tuple[str, str]]:
    """The filter's choices: "reason (left of all)" -> reason, in queue order."""
    return [(f"{reason} ({n - done} of {n} to review)", reason) for reason, (n, done) in queue.counts().items()]


def item_detail(item: T.QueueItem | None, queue: T.Queue) -> str:
    """What the page says of the selected item (Markdown; every piece of stored text shown as itself: literal_md)."""
    if item is None:
        return "Pick an item in the queue."
    e = literal_md
    who = "; ".join(f"{e(r.author)} ({e(r.outcome)})" for r in queue.reviews.get(item.key, [])) or "not yet"
    where = "the whole run" if item.prompt_id is None else f"prompt {e(item.prompt_id)}, sample id {item.open_id}"
    return f"**{e(item.severity)} · {e(item.reason)}** · iteration {item.iteration} · {where}  \n{e(item.detail)}  \nreviewed: {who}"


def build(ctx, run_box, open_id, flagged) -> dict:
    """The queue's controls, under the run picked in `run_box`; a click opens the item's sample through `open_id`,
    and `flagged` (a State: trajectory id -> the queue's notes) tells the group view what to outline."""
    with gr.Accordion("Triage: suspicious groups and the doctor's alarms", open=False, elem_id="triage"):
        with gr.Row():
            build_btn = gr.Button("Build the queue for this run", scale=1, elem_id="triage-build")
            summary = gr.Markdown(elem_id="triage-summary")
        with gr.Row():
            reasons = gr.CheckboxGroup([], label="reasons", scale=4, elem_id="triage-reasons")
            show_reviewed = gr.Checkbox(False, label="show reviewed items", scale=1, elem_id="triage-show-reviewed")
        grid = gr.Dataframe(headers=COLUMNS, interactive=False, max_height=300, wrap=True, elem_id="triage-queue")
        detail = gr.Markdown("Pick an item in the queue.", elem_id="triage-detail")
        with gr.Row():
            buttons = [(gr.Button(label, size="sm", variant=variant, elem_id=f"triage-{action}"), action) for action, label, variant in (
                ("reviewed", "Mark reviewed", "secondary"), ("exclude", "Confirm: exclude the prompt", "stop"),
                ("flag", "Confirm: flag the prompt", "primary"), ("penalise", "Confirm: penalise (response wrong, prompt hackable)", "stop"))]
            said = gr.Markdown(elem_id="triage-said")
    queue_state = gr.State(None)  # the run's Queue as last read from the store
    picked = gr.State(None)  # the selected item's key

    def load(rid, chosen, show, keep_filter):
        """Read the run's queue afresh; `keep_filter`: keep the person's reason filter (after a decision), else all reasons."""
        try:
            run_id = int(rid)
        except (TypeError, ValueError):
            return None, pd.DataFrame(columns=COLUMNS), gr.CheckboxGroup(choices=[], value=[]), "pick a run first", {}
        queue = T.run_queue(ctx.store, run_id)
        names = list(queue.counts())
        value = [r for r in (chosen or []) if r in names] if keep_filter else names
        return (queue, table(queue, value, show), gr.CheckboxGroup(choices=reason_choices(queue), value=value), queue.summary(),
                flags(queue))

    loaded = [queue_state, grid, reasons, summary, flagged]
    build_btn.click(lambda rid, show: load(rid, None, show, False), [run_box, show_reviewed], loaded, api_name="triage_queue")
    for control in (reasons, show_reviewed):
        control.input(lambda q, chosen, show: table(q, chosen, show), [queue_state, reasons, show_reviewed], grid, api_visibility="private")

    def pick(queue, evt: gr.SelectData):
        key = evt.row_value[-1] if evt.row_value else None
        item = queue.find(key) if queue is not None and key else None
        if item is None:
            return gr.skip(), gr.skip(), gr.skip()
        return key, item_detail(item, queue), str(item.open_id) if item.open_id is not None else gr.skip()

    grid.select(pick, queue_state, [picked, detail, open_id], api_visibility="private").then(
        None, open_id, None, js=SCROLL_JS, api_visibility="private")

    for button, action in buttons:
        def decide(rid, key, chosen, show, request: gr.Request, action=action):
            """One decision on the selected item, then the queue read again with the person's filter."""
            queue = T.run_queue(ctx.store, int(rid)) if key and rid not in (None, "") else None
            item = queue.find(key) if queue is not None else None
            if item is None:
                message = "pick an item in the queue first"
            elif action == "reviewed":
                ctx.store.mark_reviewed(int(rid), [item.key], ctx.author(request))
                message = f"reviewed: {item.reason}, iteration {item.iteration}"
            else:
                try:
                    message = T.confirm(ctx.store, int(rid), item, action, ctx.author(request))
                except ValueError as err:
                    message = str(err)
            fresh = load(rid, chosen, show, True)
            after = item_detail(fresh[0].find(key), fresh[0]) if item is not None else gr.skip()
            return (*fresh, literal_md(message), after)

        button.click(decide, [run_box, picked, reasons, show_reviewed], [*loaded, said, detail], trigger_mode="once",
                     api_name=f"triage_{'done' if action == 'reviewed' else action}")  # no "view" in an API name: those are the views bar's
    return {"build": build_btn, "grid": grid, "reasons": reasons, "show_reviewed": show_reviewed, "summary": summary}


def flag_note(flagged: dict | None, trajectory_id: int) -> str:
    """The line a flagged card shows (escaped), or '' for a sample the queue says nothing of."""
    notes = (flagged or {}).get(int(trajectory_id))
    return f'<div class="k15-flag">flagged: {html.escape("; ".join(notes))}</div>' if notes else ""

