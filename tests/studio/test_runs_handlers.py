"""The Runs tab's choice of the run it follows and of the plots' colours, as plain functions (the browser side is in
test_runs_browser.py)."""
from __future__ import annotations

import pandas as pd
import pytest

from k15core.runlock import RUNNING_OWNER_GONE
from studio import runs_tab
from studio.runs_plots import RAW, faint


def _row(run_id: int, status: str) -> dict:
    return {"id": run_id, "name": f"rl:{run_id}", "status": status}


def test_the_newest_running_run_is_followed_else_the_newest():
    rows = [_row(4, "finished"), _row(3, RUNNING_OWNER_GONE), _row(2, "running"), _row(1, "running")]  # newest first
    assert runs_tab.followed_run(rows)["id"] == 2  # a newer finished run, or one whose trainer died, is not followed
    assert runs_tab.followed_run([_row(4, "finished"), _row(3, "stopped")])["id"] == 4
    assert runs_tab.followed_run([]) is None


def test_the_page_says_what_it_shows():
    said = runs_tab.following_markdown(_row(2, "running"), follow=True)
    assert "Following run **#2 rl:2** (the newest running run)" in said
    assert "none is running" in runs_tab.following_markdown(_row(4, "finished"), follow=True)
    assert "runs you picked" in runs_tab.following_markdown(_row(2, "running"), follow=False)
    evil = {"id": 5, "name": "<img src=x onerror=alert(1)>*b*", "status": "running"}
    assert "<img" not in runs_tab.following_markdown(evil, follow=True)  # a run's name is text, never markup


def _frame(*series: str) -> pd.DataFrame:
    return pd.DataFrame([{"iteration": i, "value": 0.1 * i, "series": s} for s in series for i in range(2)], columns=["iteration", "value", "series"])


def test_colours_are_resent_only_when_a_panels_series_change():
    n = len(runs_tab.PANELS)
    cache = runs_tab.MetricCache.empty()
    runs_tab.note_colors(cache, [_frame("reward")] + [_frame()] * (n - 1))
    due = runs_tab.take_recolor(cache)
    assert due[0] == {"reward": runs_tab.PALETTE[0]} and due[1] == {}
    assert runs_tab.take_recolor(cache) == [None] * n  # taken once, sent once
    runs_tab.note_colors(cache, [_frame("reward")] + [_frame()] * (n - 1))  # new points, same series: nothing to send
    assert runs_tab.take_recolor(cache) == [None] * n
    runs_tab.note_colors(cache, [_frame("#2 b · reward", "#1 a · reward")] + [_frame()] * (n - 1))  # a second run overlaid
    due = runs_tab.take_recolor(cache)
    assert due[0] == {"#2 b · reward": runs_tab.PALETTE[0], "#1 a · reward": runs_tab.PALETTE[1]}
    assert due[1:] == [None] * (n - 1)


def test_a_timer_draw_between_a_draw_and_its_recolor_does_not_cancel_it():
    """The failure CI met: smoothing drew the faint raw lines, the timer's draw (nothing new) ran before the smoothing's
    recolor, and the recolor found nothing due, so the raw line stayed outside the colour scale, unstroked."""
    n = len(runs_tab.PANELS)
    cache = runs_tab.MetricCache.empty()
    runs_tab.note_colors(cache, [_frame("reward")] + [_frame()] * (n - 1))
    runs_tab.take_recolor(cache)
    runs_tab.note_colors(cache, [_frame("reward", "reward" + RAW)] + [_frame()] * (n - 1))  # smoothing on
    runs_tab.note_colors(cache, None)  # the timer: nothing changed
    runs_tab.note_colors(cache, [_frame("reward", "reward" + RAW)] + [_frame()] * (n - 1))  # or redrawn, same series
    due = runs_tab.take_recolor(cache)
    assert due[0] == {"reward": runs_tab.PALETTE[0], "reward" + RAW: faint(runs_tab.PALETTE[0])}
    assert due[1:] == [None] * (n - 1)


def test_a_run_shown_before_its_first_metric_can_leave_the_plots(tmp_path):
    """The Runs tab follows a run the Launch tab just started (no metric yet), then the older one again when the new
    run dies: taking the new run off the plots must not fail for want of a last-read iteration."""
    from k15core.store import Store

    store = Store(tmp_path / "k15.db")
    old, new = store.create_run("rl:old", "rl", {}), store.create_run("rl:new", "rl", {})
    store.record_iteration(old, 0, {"rl/reward": 0.5})
    cache, _ = runs_tab.refresh(store, [new], None)
    cache, changed = runs_tab.refresh(store, [old], cache)
    assert changed and list(cache.rows) == [old] and cache.last == {old: 0}
    store.close()


@pytest.mark.filterwarnings("ignore:The value passed into gr.Dropdown")
def test_a_timer_tick_between_a_pick_and_its_answer_leaves_the_pick_alone(ctx, studio_data):
    """A timer tick reading the page after the person added a run but before `pick`'s answer (follow off) reached it
    drew the followed run and put the picker back over the choice, leaving the page following nothing (seen in
    Chromium, tests/studio/test_view_links_browser.py). The timer now draws only while the page holds what the last
    draw left; a person's own events (the pick, the follow box) always draw."""
    import gradio as gr

    other = ctx.store.create_run("rl:other", "rl", {"rl": {"iterations": 2}})  # the newest: followed
    with gr.Blocks() as app:
        built = runs_tab.build(ctx)
    draw, tick = built["load"]["fn"], built["tick"]
    pick = next(f.fn for f in app.fns.values() if getattr(f.fn, "__name__", "") == "pick")
    skipped = type(gr.skip())
    picker, _, _, cache, *_ = draw([], True, None, 0.0)  # the page's first draw
    assert picker.value == [other] and (cache.selected, cache.follow) == ([other], True)
    assert not isinstance(tick([other], True, cache, 0.0)[3], skipped)  # the page as drawn: the timer draws
    both = [other, studio_data.run_id]
    assert all(isinstance(out, skipped) for out in tick(both, True, cache, 0.0))  # picked; the pick not yet drawn
    follow, picker, _, _, cache, *_ = pick(both, cache, 0.0)
    assert follow is False and picker.value == both and (cache.selected, cache.follow) == (both, False)
    assert all(isinstance(out, skipped) for out in tick(both, True, cache, 0.0))  # drawn, "follow off" not yet on the page
    out = tick(both, False, cache, 0.0)
    assert isinstance(out[0], skipped) and out[3].selected == both  # the page caught up: drawn, the picker left alone
    picker, _, _, cache, *_ = draw(both, True, cache, 0.0)  # the person ticks "follow" again: the followed run alone
    assert picker.value == [other] and (cache.selected, cache.follow) == ([other], True)
    _, _, _, _, cache, *_ = pick(both, cache, 0.0)
    follow, picker, _, _, cache, *_ = pick([], cache, 0.0)  # or clears the picker: following again, drawn at once
    assert follow is True and picker.value == [other] and (cache.selected, cache.follow) == ([other], True)
