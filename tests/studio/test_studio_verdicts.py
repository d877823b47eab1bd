"""Verdicts in the Rollouts tab's group view (studio/verdicts.py): who decided, the judge's reasoning as inert text, and a
person's verdict over it, written as one label event with its author and time."""
from __future__ import annotations

from studio_fixtures import INJECTION

from k15core.labels import HumanVerdict
from k15core.store.db import TrajectoryFilter
from k15core.types import Verdict
from studio import rollouts_tab, verdicts


def _group3(ctx, studio_data) -> list[dict]:
    """Group 3 of the last iteration: the judged one (studio_fixtures), samples 0-3."""
    newest = ctx.store.find_trajectories(TrajectoryFilter(run_id=studio_data.run_id), limit=1)[0]
    group = ctx.store.trajectory_group(newest["id"])
    assert [t["verdict"].by for t in group] == ["judge", "rule", "judge", "rule"]
    return group


def test_the_group_view_shows_who_decided_and_the_judge_s_reasoning_escaped(ctx, studio_data):
    group = _group3(ctx, studio_data)
    page, _, _ = rollouts_tab.open_group(ctx, group[0]["id"], "none")
    assert page.count('class="k15-verdict"') == 4
    assert "the CoT judge: correct" in page and "the task&#x27;s rule: correct" in page and "the task&#x27;s rule: wrong" in page
    assert "the CoT judge: <b>no readable verdict</b> (scored 0)" in page
    assert page.count("<details class=\"k15-reasoning\">") == 2 and "the judge's whole output" in page
    assert INJECTION not in page and "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in page  # model text, inert
    assert "{&quot;correct&quot;: maybe}" in page


def test_a_person_s_verdict_is_one_label_event_with_author_and_shows_over_the_machine_s(ctx, studio_data):
    group = _group3(ctx, studio_data)
    tid = int(group[0]["id"])  # the judge said correct
    before = len(ctx.store.label_events())
    said = verdicts.overrule(ctx.store, tid, False, "ann")
    assert said == f"sample {tid}: person's verdict wrong"
    assert verdicts.overrule(ctx.store, tid, False, "ann").endswith("(already so; nothing written)")  # a double-fired click
    events = ctx.store.label_events()[before:]
    assert [(e["prompt_id"], e["field"], e["value"], e["author"], e["source"]) for e in events] == [
        (group[0]["prompt_id"], "verdict", {"trajectory": tid, "correct": False}, "ann", "studio")]
    page, _, _ = rollouts_tab.open_group(ctx, tid, "none")
    assert "<b>person: wrong</b> (overrules), ann," in page and page.count("k15-human") == 1
    verdicts.overrule(ctx.store, int(group[1]["id"]), True, "bob")  # the rule said correct: bob agrees
    page, _, _ = rollouts_tab.open_group(ctx, tid, "none")
    assert "<b>person: correct</b> (agrees), bob," in page
    assert verdicts.overrule(ctx.store, tid, None, "ann") == f"sample {tid}: person's verdict taken back"
    page, _, _ = rollouts_tab.open_group(ctx, tid, "none")
    assert "(overrules)" not in page and page.count("k15-human") == 1
    assert ctx.store.undo("ann").events == 1  # the take-back taken back: ann's verdict is there again
    assert "<b>person: wrong</b> (overrules), ann," in rollouts_tab.open_group(ctx, tid, "none")[0]


def test_overrule_refuses_what_it_cannot_find():
    class Empty:
        def responses(self, ids):
            return {}

    assert verdicts.overrule(Empty(), None, True, "ann") == "open a group and pick a sample first"
    assert verdicts.overrule(Empty(), "12", True, "ann") == "no sample with id 12"


def test_verdict_html_by_hand():
    assert verdicts.verdict_html(None, None) == ""  # an evaluation sample, an older row: no line at all
    assert verdicts.verdict_html(None, HumanVerdict(1, False, "ann", 0.0)).startswith('<div class="k15-verdict">verdict: not kept with this sample · ')
    cut = verdicts.verdict_html(Verdict(False, "unfinished"), HumanVerdict(1, True, "a<b>", 0.0))
    assert "not verified" in cut and "person: correct</b>, a&lt;b&gt;," in cut and "agrees" not in cut and "overrules" not in cut
    rule = verdicts.verdict_html(Verdict(True, "rule"), None)
    assert rule == '<div class="k15-verdict">the task&#x27;s rule: correct</div>'  # no reasoning to fold for the rule


def test_the_sample_dropdown_lists_the_group():
    assert verdicts.sample_choices([{"sample_index": 0, "id": 7}, {"sample_index": 1, "id": 8}]) == [("sample 0 · id 7", 7), ("sample 1 · id 8", 8)]
