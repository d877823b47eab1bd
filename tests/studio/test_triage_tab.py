"""The Rollouts tab's triage pieces (studio/triage.py) without a browser: the table and its filter, the reasons with
their counts, and the group view's outline on the flagged sample, its note escaped (stored text is untrusted)."""
from __future__ import annotations

import re

from k15core import triage as T
from k15core.store.reviews import Review
from studio import rollouts_tab, triage


def _queue() -> T.Queue:
    items = [T.QueueItem(T.ALARM, "no_signal", "fatal", 4, None, None, "no learning signal; fix: easier levels"),
             T.QueueItem(T.SUSPICION, "identical samples", T.SUSPICION, 2, "p<1>", 11, "all 4 responses identical"),
             T.QueueItem(T.SUSPICION, "same reward", T.SUSPICION, 2, "p<1>", 11, "all 4 got 1.00"),
             T.QueueItem(T.SUSPICION, "same reward", T.SUSPICION, 1, "q", 7, "all 4 got 0.00")]
    return T.Queue(items, {items[2].key: [Review(items[2].key, "ann", "flag", 1.0)]})


def test_the_table_filters_by_reason_and_hides_reviewed_items():
    q = _queue()
    assert triage.table(q, None, False)["reason"].tolist() == ["no_signal", "identical samples", "same reward"]
    shown = triage.table(q, ["same reward"], True)
    assert shown["iteration"].tolist() == [2, 1] and shown["reviewed by"].tolist() == ["ann", ""] and shown["key"].tolist() == [q.items[2].key, q.items[3].key]
    assert triage.table(q, None, False)["prompt_id"].tolist()[0] == "(the run)"
    assert triage.reason_choices(q) == [("no_signal (1 of 1 to review)", "no_signal"), ("identical samples (1 of 1 to review)", "identical samples"),
                                        ("same reward (1 of 2 to review)", "same reward")]
    assert "reviewed: ann (flag)" in triage.item_detail(q.items[2], q) and "p&lt;1&gt;" in triage.item_detail(q.items[2], q)
    alarm = triage.item_detail(q.items[0], q)  # an alarm: what the doctor says, about the whole run
    assert "**fatal · no\\_signal** · iteration 4 · the whole run" in alarm and "no learning signal; fix: easier levels" in alarm and "reviewed: not yet" in alarm


def test_the_flagged_sample_is_outlined_with_the_queues_words_escaped(ctx, studio_data):
    store = ctx.store
    group = store.trajectory_group(min(t["id"] for t in store.find_trajectories(rollouts_tab.make_filter(
        studio_data.run_id, 0, 0, "", False, "any", None, None, "any", "any"), limit=100)))
    flagged_id = int(group[2]["id"])
    flags = {flagged_id: ["same reward: <b>all</b> got 1.00", "identical samples: all 4"], 10**9: ["elsewhere"]}
    page = rollouts_tab.group_html(group, None, flagged=flags)
    cards = re.findall(r'<div class="k15-card ([^"]*)" data-trajectory="(\d+)">', page)
    assert [(int(tid), "k15-flagged" in cls) for cls, tid in cards] == [(int(t["id"]), int(t["id"]) == flagged_id) for t in group]
    assert "flagged: same reward: &lt;b&gt;all&lt;/b&gt; got 1.00; identical samples: all 4" in page and "<b>all</b>" not in page
    assert "k15-flagged" not in rollouts_tab.group_html(group, None)
    assert triage.flags(_queue()) == {11: ["identical samples: all 4 responses identical", "same reward: all 4 got 1.00"], 7: ["same reward: all 4 got 0.00"]}
