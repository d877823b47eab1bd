"""DPO marks in the Rollouts tab's group view (studio/pair_marks.py), as plain functions over a real store (no browser):
each mark is one `preference` label event on the sample the key carried, with its author; the group view shows the
marks and the pairs they make; the keys clash with no Prompts key."""
from __future__ import annotations

from k15core.long2short.stages import stored_human_pairs
from k15core.store.db import TrajectoryFilter
from studio import pair_marks, prompt_keys, rollouts_tab, shortcuts


def _group(ctx, studio_data, g: int = 0) -> list[dict]:
    """Group `g` of the last iteration (studio_fixtures: samples 0-1 long and correct, 2-3 short and wrong)."""
    rows = ctx.store.find_trajectories(TrajectoryFilter(run_id=studio_data.run_id, iteration_min=2), limit=100)
    first = min(r["id"] for r in rows if r["prompt_id"] == studio_data.prompt_ids[g])
    return ctx.store.trajectory_group(first)


def _keys(*triples) -> list[dict]:
    return [{"seq": seq, "id": str(tid), "action": action} for seq, tid, action in triples]


def test_a_mark_is_one_preference_event_on_its_own_sample_with_author_group_and_run(ctx, studio_data):
    group = _group(ctx, studio_data)
    ids = [int(t["id"]) for t in group]
    assert pair_marks.mark(ctx.store, ids[2], "chosen", "ann") == f"sample 2 (id {ids[2]}): chosen"
    assert pair_marks.mark(ctx.store, ids[2], "chosen", "ann").endswith("(already so; nothing written)")  # a double-fired key
    assert pair_marks.mark(ctx.store, ids[0], "rejected", "bob") == f"sample 0 (id {ids[0]}): rejected"
    events = ctx.store.label_events()
    assert [(e["prompt_id"], e["field"], e["value"], e["author"], e["source"]) for e in events] == [
        (group[0]["prompt_id"], "preference", {"trajectory": ids[2], "run": studio_data.run_id, "group": ids[0], "mark": "chosen"}, "ann", "studio"),
        (group[0]["prompt_id"], "preference", {"trajectory": ids[0], "run": studio_data.run_id, "group": ids[0], "mark": "rejected"}, "bob", "studio")]
    [p] = stored_human_pairs(ctx.store)
    assert (p.run, p.prompt, p.chosen, p.rejected, p.author) == (studio_data.run_id, group[0]["prompt_id"], ids[2], ids[0], "bob")
    assert pair_marks.mark(ctx.store, ids[0], None, "bob") == f"sample 0 (id {ids[0]}): mark cleared"
    assert stored_human_pairs(ctx.store) == []
    assert pair_marks.mark(ctx.store, ids[0], None, "bob") == f"sample 0 (id {ids[0]}) has no mark to clear"
    assert len(ctx.store.label_events()) == 3
    assert pair_marks.mark(ctx.store, None, "chosen", "ann") == "open a group and pick a sample first"
    assert pair_marks.mark(ctx.store, 99999, "chosen", "ann") == "no sample with id 99999"


def test_keys_land_on_the_ids_they_carry_in_order_and_undo_gives_the_sample_back(ctx, studio_data):
    a, b = (_group(ctx, studio_data, g) for g in (0, 2))
    batch = _keys((1, a[0]["id"], "chosen"), (2, a[1]["id"], "rejected"), (3, b[3]["id"], "rejected"), (4, a[3]["id"], "rejected"),
                  (5, b[0]["id"], "chosen"), (6, a[1]["id"], "clear"))
    results, applied = pair_marks.apply_keys(ctx.store, batch, "ann", 0)
    assert applied == 6 and [r["seq"] for r in results] == [1, 2, 3, 4, 5, 6]
    marks = {e["value"]["trajectory"]: e["value"]["mark"] for e in ctx.store.label_events()}
    assert marks == {a[0]["id"]: "chosen", a[1]["id"]: None, a[3]["id"]: "rejected", b[0]["id"]: "chosen", b[3]["id"]: "rejected"}
    assert [(p.chosen, p.rejected) for p in stored_human_pairs(ctx.store)] == [(a[0]["id"], a[3]["id"]), (b[0]["id"], b[3]["id"])]
    # sent again (the answer was lost) with one more key: only the new key is applied, and undo names the sample it gave back
    results, applied = pair_marks.apply_keys(ctx.store, [*batch, *_keys((7, b[1]["id"], "undo"))], "ann", 6)
    assert applied == 7 and results == [{"seq": 7, "id": str(b[1]["id"]), "said": f"undone: the mark on sample id {a[1]['id']}", "target": str(a[1]["id"])}]
    assert len(stored_human_pairs(ctx.store)) == 3  # a[1] is rejected again: a[0] x (a[1], a[3])
    # keys it cannot read are answered and passed over; a key missing holds the later ones
    bad = [{"seq": 8, "id": str(a[2]["id"]), "action": "delete"}, {"seq": 9, "id": "7; drop", "action": "chosen"}, {"seq": 10, "id": 5, "action": "chosen"}]
    results, applied = pair_marks.apply_keys(ctx.store, bad, "ann", 7)
    assert applied == 10 and all(r["said"] == "ignored a key the studio cannot read" for r in results)
    assert pair_marks.apply_keys(ctx.store, _keys((12, a[2]["id"], "chosen")), "ann", 10) == ([], 10)


def test_the_group_view_shows_each_mark_and_the_pairs_they_make(ctx, studio_data):
    group = _group(ctx, studio_data)
    ids = [int(t["id"]) for t in group]
    page, _, _ = rollouts_tab.open_group(ctx, ids[0], "none")
    assert "DPO marks: 0 chosen, 0 rejected: <b>0 pairs</b>" in page and "k15-mark-" not in page
    pair_marks.mark(ctx.store, ids[3], "chosen", "<b>eve</b>")
    for tid in ids[:2]:
        pair_marks.mark(ctx.store, tid, "rejected", "ann")
    page, _, _ = rollouts_tab.open_group(ctx, ids[1], "none")
    assert "DPO marks: 1 chosen, 2 rejected: <b>2 pairs</b>" in page
    assert page.count('data-mark="rejected"') == 2 and page.count('data-mark="chosen"') == 1
    card = page.split(f'data-trajectory="{ids[3]}"')[1]  # the last card
    assert "<b>chosen</b> for DPO · &lt;b&gt;eve&lt;/b&gt;," in card  # the author is user data: escaped
    other = rollouts_tab.open_group(ctx, int(_group(ctx, studio_data, 2)[0]["id"]), "none")[0]
    assert "<b>0 pairs</b>" in other  # marks belong to their own group


def test_the_group_keys_clash_with_no_prompts_key_and_the_help_names_each():
    group_keys = {key for key, _ in pair_marks.KEYS.values()}
    assert group_keys.isdisjoint(shortcuts.key_map()) and len(group_keys) == len(pair_marks.KEYS)
    assert {elem for _, elem in pair_marks.KEYS.values()}.isdisjoint(elem for _, elem in prompt_keys.KEYS.values())
    assert all(f"**{key}**" in pair_marks.HELP for key in group_keys)
    js = pair_marks.keys_js()
    assert '"c": "chosen"' in js and "__k15pairkeys" in js and "__VIEW__" not in js and "rollouts-group" in js
