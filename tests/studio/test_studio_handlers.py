"""Studio handlers as plain functions over a real store (no browser, no server)."""
from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from k15core.store.db import TrajectoryFilter
from studio import prompts_tab, rollouts_tab, runs_tab
from studio import triage as triage_panel
from studio_fixtures import INJECTION


# -- Runs ------------------------------------------------------------------------------------------

def test_refresh_reads_only_new_rows_and_reports_change(ctx, studio_data):
    cache, changed = runs_tab.refresh(ctx.store, [studio_data.run_id], None)
    assert changed and cache.last[studio_data.run_id] == 2 and len(cache.rows[studio_data.run_id]) == 15
    cache, changed = runs_tab.refresh(ctx.store, [studio_data.run_id], cache)
    assert not changed  # nothing new: the plots are skipped
    ctx.store.record_iteration(studio_data.run_id, 3, {"rl/reward": 0.9})
    cache, changed = runs_tab.refresh(ctx.store, [studio_data.run_id], cache)
    assert changed and cache.last[studio_data.run_id] == 3 and len(cache.rows[studio_data.run_id]) == 16
    frame = runs_tab.panel_frame(cache, runs_tab.PANELS[0], {})
    assert frame["iteration"].tolist() == [0, 1, 2, 3] and frame["value"].iloc[-1] == pytest.approx(0.9)
    acc = runs_tab.panel_frame(cache, runs_tab.PANELS[1], {})
    assert set(acc["series"]) == {"accuracy, all levels", "accuracy, level 1"}  # the '/d*' pattern picks up every level, named readably
    assert acc["value"].max() == pytest.approx(70.0)  # a share is drawn as a percentage


def test_several_runs_are_overlaid_with_run_labels(ctx, studio_data):
    other = ctx.store.create_run("rl:other", "rl", {"rl": {"iterations": 2}})
    ctx.store.record_iteration(other, 0, {"rl/reward": 0.1})
    cache, _ = runs_tab.refresh(ctx.store, [studio_data.run_id, other], None)
    frame = runs_tab.panel_frame(cache, runs_tab.PANELS[0], {studio_data.run_id: "#A", other: "#B"})
    assert set(frame["series"]) == {"#A · reward", "#B · reward"}
    cache, changed = runs_tab.refresh(ctx.store, [other], cache)  # one run taken off
    assert changed and list(cache.rows) == [other]
    rows = runs_tab.rl_runs(ctx.store)
    assert rows[0]["id"] == other and rows[1]["iterations"] == 3 and rows[1]["planned"] == 10


def test_the_doctors_alarms_are_listed_fatal_first_with_their_span_and_fix(ctx, studio_data):
    run_id = studio_data.run_id
    ctx.store.record_iteration(run_id, 1, {"doctor/kl_exploding": 0.5})
    ctx.store.record_iteration(run_id, 2, {"doctor/kl_exploding": 0.7, "doctor/no_signal": 2.0, "doctor/not_a_check": 1.0})
    cache, _ = runs_tab.refresh(ctx.store, [run_id], None)
    lines = runs_tab.run_alarms(ctx.store, cache)
    assert [(x.latest.check, x.first, x.latest.iteration, x.times) for x in lines] == [("no_signal", 2, 2, 1), ("kl_exploding", 1, 2, 2)]
    said = runs_tab.alarms_markdown(lines, several=False)
    assert said.index("no\\_signal") < said.index("kl\\_exploding") and "iteration 1 to iteration 2 (2 times)" in said
    assert "0.7 nats per token" in said and "*Fix:* lower rl.lr" in said and "not\\_a\\_check" not in said
    assert runs_tab.alarms_markdown([], several=False) == "**Doctor:** no alarms."
    # an alarm before the run is read on the first refresh (iteration -1), and markup in a message stays text
    other = ctx.store.create_run("rl:chat", "rl", {"rl": {"max_response_tokens": "<img src=x onerror=alert(1)>"}})
    ctx.store.record_iteration(other, -1, {"doctor/chat_template": 1.0})
    ctx.store.record_iteration(other, 0, {"doctor/truncated": 1.0})
    cache, _ = runs_tab.refresh(ctx.store, [other], None)
    said = runs_tab.alarms_markdown(runs_tab.run_alarms(ctx.store, cache), several=True)
    assert "before the run" in said and f"run #{other}" in said and "rl.max\\_response\\_tokens=96" in said and "<img" not in said
    assert runs_tab._md("[x](javascript:y) <b>") == "\\[x\\](javascript:y) &lt;b&gt;"


def test_panel_captions_come_from_the_metric_docs():
    assert "share of the iteration's finished responses" in runs_tab.PANELS[1].caption()
    assert runs_tab.brushed_iterations([1.2, 3.7]) == (2, 3) and runs_tab.brushed_iterations(None) is None


# -- Rollouts --------------------------------------------------------------------------------------

def test_search_filters(ctx, studio_data):
    def n(**kw):
        return ctx.store.count_matching(TrajectoryFilter(run_id=studio_data.run_id, **kw))

    assert n() == 48
    assert n(iteration_min=1, iteration_max=1) == 16
    assert n(correct=False) == 3 * 6 and n(correct=True) == 3 * 10
    assert n(truncated=True) == 3
    assert n(text="Answer:") == 48 and n(text="x=", regex=False) == 3 * 6
    assert n(text=r"^Answer: \d$", regex=True) == 3 * 10  # the short-style responses only
    assert n(text="100%_") == 0  # LIKE wildcards are escaped: a literal search
    frame, said = rollouts_tab.search(ctx.store, rollouts_tab.make_filter(studio_data.run_id, "", "", "(", True, "any", "", "", "any", "any"))
    assert frame.empty and "not a valid regular expression" in said
    with pytest.raises(ValueError):
        rollouts_tab.make_filter(studio_data.run_id, "one", "", "", False, "any", "", "", "any", "any")
    frame, said = rollouts_tab.search(ctx.store, rollouts_tab.make_filter(studio_data.run_id, "2", "2", "", False, "wrong", "", "", "any", "any"))
    assert len(frame) == 6 and set(frame["iteration"]) == {2} and not frame["correct"].any() and "6 samples match" in said


def test_group_view_shows_k_samples_escaped_with_token_values(ctx, studio_data):
    first = ctx.store.find_trajectories(TrajectoryFilter(run_id=studio_data.run_id, iteration_min=0, iteration_max=0), limit=100)[-1]
    page, history, pid = rollouts_tab.open_group(ctx, first["id"], "log-prob")
    assert pid == studio_data.prompt_ids[0] and page.count("data-trajectory=") == 4
    assert 'title="#0 token' in page and "log-prob -0.100" in page  # one span per token, its values on hover
    tok = ctx.tokenizer_for_run(ctx.store.run(studio_data.run_id))
    for t in ctx.store.trajectory_group(first["id"]):  # the pieces join back into the response text
        assert "".join(rollouts_tab.token_pieces(tok, t["token_ids"])) == t["response"]
    assert history["iteration"].tolist() == [0, 1, 2] and history["samples"].tolist() == [4, 4, 4]
    group = ctx.store.trajectory_group(first["id"])
    group[0]["response"] = INJECTION
    group[0]["prompt"] = INJECTION
    html = rollouts_tab.group_html(group, None, "advantage")
    assert "<script>" not in html and "<img" not in html and "&lt;script&gt;" in html


def test_triage_queue_finds_identical_same_reward_and_odd_length(ctx, studio_data):
    from k15core.triage import run_queue

    queue = triage_panel.table(run_queue(ctx.store, studio_data.run_id), None, show_reviewed=False)
    reasons = set(queue["reason"])
    assert {"identical samples", "same reward"} <= reasons
    identical = queue[queue["reason"] == "identical samples"]
    assert set(identical["prompt_id"]) == {studio_data.prompt_ids[1]}  # group 1 answered 'short' four times
    assert ctx.store.trajectory_group(int(identical["open id"].iloc[0]))  # each item opens its group
    odd = queue[queue["reason"] == "odd length, high reward"]
    assert set(odd["prompt_id"]) <= set(studio_data.prompt_ids[:4]) and all("vs median" in d for d in odd["detail"])


# -- Prompts ---------------------------------------------------------------------------------------

def test_prompt_table_filters_and_pass_rates(ctx, studio_data):
    table = prompts_tab.prompt_table(ctx.store)
    assert len(table) == 13 and set(table["status"]) == {"not reviewed"}
    first = table[table["id"] == studio_data.prompt_ids[0]].iloc[0]
    assert first["training success"] == 0.5 and first["samples"] == 12  # 2 of 4 samples correct, 3 iterations
    assert first["pass rate"] is None or first["pass rate"] != first["pass rate"]  # no curation yet (None or NaN)
    ctx.store.set_label(studio_data.prompt_ids[0], "pass_rate", 0.3, author="k15 curate", source="auto")
    table = prompts_tab.prompt_table(ctx.store)
    assert table[table["id"] == studio_data.prompt_ids[0]].iloc[0]["pass rate"] == 0.3
    assert prompts_tab.prompt_table(ctx.store, text="evil").shape[0] == 1
    level = int(table.iloc[0]["level"])
    assert set(prompts_tab.prompt_table(ctx.store, level=level)["level"]) == {level}


def test_decisions_are_idempotent_and_undo_restores(ctx, studio_data):
    pid = studio_data.prompt_ids[0]
    action, said = prompts_tab.decide(ctx.store, pid, "exclude", "ann")
    assert action and "status = excluded" in said
    again, said = prompts_tab.decide(ctx.store, pid, "exclude", "ann")
    assert again is None and "nothing written" in said
    prompts_tab.decide(ctx.store, pid, "d4", "ann")
    assert ctx.store.prompt_labels([pid])[pid].difficulty == 4
    view = prompts_tab.focus_view(ctx.store, pid)
    assert view["history"]["who"].tolist() == ["ann", "ann"] and "excluded" in view["card"]
    _, said = prompts_tab.undo_last(ctx.store, "ann")
    assert "undone" in said and ctx.store.prompt_labels([pid])[pid].difficulty is None
    assert ctx.store.prompt_labels([pid])[pid].excluded  # only the last action was taken back


def test_reference_edit_is_checked_by_the_verifier(ctx, studio_data):
    pid = studio_data.prompt_ids[0]
    action, said = prompts_tab.save_reference(ctx.store, pid, "12", "ann")
    assert action is None and "not saved" in said and not ctx.store.label_events()
    action, said = prompts_tab.save_reference(ctx.store, pid, " 7 ", "ann")
    assert action and ctx.store.prompt_labels([pid])[pid].reference == "7"
    original = ctx.store.prompt(pid)["reference"]
    prompts_tab.save_reference(ctx.store, pid, original, "ann")  # back to the task's answer: the label resets
    assert ctx.store.prompt_labels([pid])[pid].reference is None


def test_tags_note_and_bulk_action_is_one_undoable_action(ctx, studio_data):
    pid = studio_data.prompt_ids[2]
    _, said = prompts_tab.save_tags_and_note(ctx.store, pid, "tricky, carry , tricky", "check step c", "ann")
    assert "tags and note" in said
    state = ctx.store.prompt_labels([pid])[pid]
    assert state.tags == ("carry", "tricky") and state.note == "check step c"
    assert prompts_tab.prompt_table(ctx.store, text="carry")["id"].tolist() == [pid]  # a tag is searchable
    ids = prompts_tab.prompt_table(ctx.store, level=1)["id"].tolist()
    _, said = prompts_tab.bulk_apply(ctx.store, ids, "exclude", "bob")
    assert f"{len(ids)} of {len(ids)}" in said
    assert all(ctx.store.prompt_labels(ids)[i].excluded for i in ids)
    prompts_tab.undo_last(ctx.store, "bob")
    assert not any(s.excluded for s in ctx.store.prompt_labels(ids).values())


def test_malformed_import_changes_nothing_and_names_rows(ctx, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "Seq 111, steps: 2", "reference": "3"}\n{"prompt": "", "reference": "1"}\nnot json\n'
                   '{"prompt": "Seq 222, steps: 1", "reference": "42"}\n')
    before = len(ctx.store.prompts())
    good, errors, said, ok = prompts_tab.preview_import(str(bad), "recurrence")
    assert not ok and "3 row(s) are wrong" in said
    assert errors["where"].tolist()[:2] == ["line 2", "line 3"] and "verifier cannot match '42'" in errors["problem"].iloc[2]
    assert "wrong" in prompts_tab.commit_import(ctx.store, str(bad), "recurrence") and len(ctx.store.prompts()) == before
    fine = tmp_path / "fine.csv"
    fine.write_text("prompt,reference,difficulty\nSeq 111 steps: 2,3,2\nSeq 222 steps: 1,4,1\n")
    _, errors, _, ok = prompts_tab.preview_import(str(fine), "recurrence")
    assert ok and errors.empty
    assert "2 new prompts" in prompts_tab.commit_import(ctx.store, str(fine), "recurrence")
    assert len(ctx.store.prompts()) == before + 2


def test_export_includes_the_labels(ctx, studio_data, tmp_path):
    pid = studio_data.prompt_ids[0]
    prompts_tab.decide(ctx.store, pid, "flag", "ann")
    prompts_tab.save_reference(ctx.store, pid, "8", "ann")
    out = prompts_tab.export_curated(ctx.store, tmp_path / "exports", "jsonl")
    rows = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert rows[pid]["status"] == "flagged" and rows[pid]["reference"] == "8" and rows[pid]["label_events"] == 2
    assert rows[pid]["training_success"] == 0.5 and rows[pid]["pass_rate"] is None and len(rows) == 13
    table = pq.read_table(prompts_tab.export_curated(ctx.store, tmp_path / "exports", "parquet")).to_pylist()
    assert {r["id"]: r["status"] for r in table}[pid] == "flagged"
    # the export reads back as a prompt file
    from k15core.tasks.prompt_file import read_prompt_file

    assert not read_prompt_file(out, "recurrence").errors


def test_labels_wait_out_a_trainer_holding_the_write_lock(ctx, studio_data):
    """The studio keeps working while the trainer holds a write transaction: the write waits, then lands."""
    import sqlite3
    import threading
    import time

    locked = threading.Event()

    def trainer_holds_lock():
        con = sqlite3.connect(studio_data.root / "k15.db", isolation_level=None)
        con.execute("BEGIN IMMEDIATE")
        con.execute("INSERT INTO meta (key, value) VALUES ('busy', '1')")
        locked.set()
        time.sleep(1.5)
        con.execute("COMMIT")
        con.close()

    t = threading.Thread(target=trainer_holds_lock)
    t.start()
    locked.wait(10)
    t0 = time.perf_counter()
    action, said = prompts_tab.decide(ctx.store, studio_data.prompt_ids[0], "flag", "ann")
    waited = time.perf_counter() - t0
    t.join()
    assert action and "status = flagged" in said and waited > 0.5
    assert prompts_tab.prompt_table(ctx.store, status="flagged")["id"].tolist() == [studio_data.prompt_ids[0]]  # reads work too
