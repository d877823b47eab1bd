"""The page's half of views (studio/view_links.py) as plain functions over a real store: the view the components show,
and what a view sets on them. The browser side is test_view_links_browser.py."""
from __future__ import annotations

import gradio as gr

from studio import view_links
from studio.app import build_app
from studio.view_state import ViewState, decode, encode

# The components' values as the page sends them: numbers as floats, blank boxes, a run typed into the Rollouts box.
PAGE = dict(runs=[2, 1], follow=False, smoothing=0.3, runs_from=2.0, runs_to=5.0, run="1", samples="free", it_min=" 3 ", it_max="", text="Answer",
            regex=False, verdict="wrong", len_min="abc", len_max="40", diff_min=" 2", diff_max="", truncated="any", repeated="no", group="17", colour="none", cmp="evil", cmp_a_run=1,
            cmp_a_it="2", cmp_a_sample=0.0, cmp_b_run=1, cmp_b_it=" x", cmp_b_sample=1.0, compared=True, prompt="evil",
            prompts_text="", prompts_status="kept", prompts_level=2.0)


def test_the_view_the_components_show():
    view = view_links.view_of("rollouts", *PAGE.values())
    assert view == ViewState(tab="rollouts", runs=(2, 1), smoothing=0.3, runs_from=2, runs_to=5, run=1, samples="free", it_min=3, text="Answer",
                             verdict="wrong", len_max=40, diff_min=2, repeated="no", group=17, colour="none", cmp="evil", cmp_a_run=1,
                             cmp_a_it=2, cmp_a_sample=0, cmp_b_run=1, cmp_b_sample=1, prompt="evil", prompts_status="kept",
                             prompts_level=2)  # "abc" typed as a length: left out
    assert view_links.view_of("runs", *{**PAGE, "compared": False}.values()).cmp_a_run is None  # filled in, not compared: no part of the view
    assert view_links.view_of("runs", *{**PAGE, "follow": True}.values()).runs == ()  # following: the picker's run is not a pick
    assert decode(encode(view)) == view
    assert tuple(PAGE) == view_links.PARTS


def test_a_view_sets_the_components_and_leaves_out_runs_the_store_lacks(ctx, studio_data):
    out = view_links.settings(ctx, ViewState(tab="prompts", runs=(99, studio_data.run_id), run=studio_data.run_id, it_min=0, group=5, prompt="evil"))
    assert len(out) == 1 + len(view_links.PARTS)
    values = dict(zip(view_links.PARTS, out[1:]))
    assert out[0].selected == "prompts"
    assert values["runs"].value == [studio_data.run_id] and values["follow"] is False  # run 99 is no run of this store
    assert values["run"].value == studio_data.run_id and values["it_min"] == "0" and values["it_max"] == "" and values["group"] == "5"
    assert values["prompt"] == "evil" and values["prompts_level"] == 0
    assert values["compared"] is False and values["cmp"] == "" and values["cmp_a_run"] is None  # no comparison in the view: none set
    sides = ViewState(cmp="p1", cmp_a_run=studio_data.run_id, cmp_a_it=0, cmp_a_sample=1, cmp_b_run=studio_data.run_id, cmp_b_it=2, cmp_b_sample=0)
    values = dict(zip(view_links.PARTS, view_links.settings(ctx, sides)[1:]))
    assert [values[k] for k in view_links.CMP] == ["p1", studio_data.run_id, 0, 1, studio_data.run_id, 2, 0] and values["compared"] is True
    assert view_links.view_of("rollouts", *[values.get(k, v) for k, v in PAGE.items()]).cmp_b_it == 2  # and reads back
    following = dict(zip(view_links.PARTS, view_links.settings(ctx, ViewState(runs=(99,)))[1:]))
    assert isinstance(following["runs"], type(gr.skip())) and following["follow"] is True  # no run left: follow the newest


def test_the_studio_builds_with_views_and_keeps_its_api(studio_data):
    app = build_app(studio_data.root)
    try:
        named = {d.api_name for d in app.fns.values() if d.api_visibility == "public"}
        assert "search_rollouts" in named and not any("view" in (n or "") for n in named)  # the views' events are private
        assert {"views-saved", "views-name", "views-save", "views-delete"} <= {b.elem_id for b in app.blocks.values()}
    finally:
        app.k15_context.store.close()


def test_a_loading_page_gets_only_what_differs_from_the_default(ctx, studio_data):
    """On load the page shows the defaults already, and a person may have opened a tab before the load answered: only
    the link's own values are set (the tab included), so a click made meanwhile stays."""
    skip = type(gr.skip())
    assert all(isinstance(out, skip) for out in view_links.settings(ctx, ViewState(), changes_only=True))
    out = view_links.settings(ctx, ViewState(group=5, runs=(studio_data.run_id,)), changes_only=True)
    values = dict(zip(view_links.PARTS, out[1:]))
    assert isinstance(out[0], skip) and values["group"] == "5" and values["runs"].value == [studio_data.run_id] and values["follow"] is False
    assert [k for k, v in values.items() if not isinstance(v, skip)] == ["runs", "follow", "group"]
    assert not any(isinstance(v, skip) for v in view_links.settings(ctx, ViewState(runs=(studio_data.run_id,)))[2:])  # a saved view sets all
