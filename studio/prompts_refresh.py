"""Keeps the Prompts tab's grid current without "Apply filter": at once after a label lands from this page, and on a
timer for labels written elsewhere (another person's studio, `k15 curate`, a notebook).

The grid is reloaded in place: the prompts it shows (the ids the filter matched when it was last applied) with their
labels as they are now. Only applying a filter changes which rows are shown, so a labelled prompt does not vanish
from under the person labelling it and next / previous keep their order. The timer reads only label events newer
than the last one it saw, and reloads the grid only when there are some.
"""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
import pandas as pd

from k15core.store import Store
from studio.prompts_tab import GRID_COLUMNS, prompt_table

REFRESH_S = 2.0  # as the Runs tab's live curves


def shown_rows(store: Store, ids: list[str]) -> pd.DataFrame:
    """The grid's rows for these prompt ids, in this order, with their current labels."""
    if not ids:  # the tab was never opened, or the filter matches nothing: no need to read every prompt
        return pd.DataFrame(columns=GRID_COLUMNS)
    frame = prompt_table(store)
    return frame.set_index("id", drop=False).reindex([i for i in ids if i in set(frame["id"])]).reset_index(drop=True)


@dataclass
class LabelWatch:
    seq: int = 0
    """The newest label event the grid shows."""

    def moved(self, store: Store) -> bool:
        """Whether label events were written since the last call (and remember the newest)."""
        newer = store.label_events(since_seq=self.seq)
        if not newer:
            return False
        self.seq = max(e["seq"] for e in newer)
        return True


def wire(ctx, grid: gr.Dataframe, queue: gr.State, message: gr.Markdown) -> None:
    """Reload `grid` (the prompts listed in `queue`) when `message` reports an action, and on a timer when labels changed."""
    watch = gr.State(None)
    timer = gr.Timer(REFRESH_S)

    def after_action(ids, w):
        w = w or LabelWatch()
        w.moved(ctx.store)  # what this reload shows, so the timer does not reload it again
        return shown_rows(ctx.store, ids or []), w

    def on_tick(ids, w):
        w = w or LabelWatch()
        if not w.moved(ctx.store):
            return gr.skip(), w
        return shown_rows(ctx.store, ids or []), w

    # every decision, undo and save reports in `message`; a bulk action or an import reloads the grid itself
    message.change(after_action, [queue, watch], [grid, watch], api_visibility="private", show_progress="hidden")
    timer.tick(on_tick, [queue, watch], [grid, watch], api_visibility="private", show_progress="hidden")
