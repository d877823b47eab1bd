"""The history of a prompt, as a plain function over a real store."""
from __future__ import annotations

from studio import prompts_tab


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
