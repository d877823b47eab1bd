"""The Prompts grid's reload and the history of a prompt, as plain functions over a real store (the browser side is in
test_prompts_refresh_browser.py)."""
from __future__ import annotations

from studio import prompts_refresh, prompts_tab


def test_an_undo_in_the_history_says_what_it_took_back(ctx, studio_data):
    pid = studio_data.prompt_ids[0]
    prompts_tab.decide(ctx.store, pid, "exclude", "ann")
    prompts_tab.decide(ctx.store, pid, "d4", "ann")
    prompts_tab.undo_last(ctx.store, "ann")  # takes back difficulty 4
    prompts_tab.undo_last(ctx.store, "ann")  # takes back the exclusion
    history = prompts_tab.focus_view(ctx.store, pid)["history"]  # newest first
    assert history["kind"].tolist() == ["undo", "undo", "", ""]
    assert history["value"].tolist() == ['undid status = "excluded" (now not set)', "undid difficulty = 4 (now not set)", "4", '"excluded"']
    assert not history["value"].str.contains("null").any()


def test_the_grid_reloads_its_own_rows_with_their_current_labels(ctx, studio_data):
    ids = [studio_data.prompt_ids[3], studio_data.prompt_ids[1]]  # the rows a filter matched, in the grid's order
    watch = prompts_refresh.LabelWatch()
    assert not watch.moved(ctx.store)  # no label yet: the timer leaves the grid alone
    ctx.store.set_label(ids[1], "status", "flagged", author="bob", source="studio")
    assert watch.moved(ctx.store) and not watch.moved(ctx.store)  # seen once
    frame = prompts_refresh.shown_rows(ctx.store, ids + ["gone"])  # an id no longer in the store is left out
    assert frame["id"].tolist() == ids and frame["status"].tolist() == ["not reviewed", "flagged"]
    assert list(frame.columns) == prompts_tab.GRID_COLUMNS
    assert list(prompts_refresh.shown_rows(ctx.store, []).columns) == prompts_tab.GRID_COLUMNS
