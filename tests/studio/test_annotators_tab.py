"""The Prompts tab's many-annotator handlers without a browser: the queue over the real store, settings and guidelines
files in the workspace, claims that expire, and the agreement tables."""
from __future__ import annotations

from k15core.annotators import QueueSettings
from studio import annotation_files as F
from studio import annotators, prompt_keys


def test_next_for_me_and_progress_follow_the_store(ctx, studio_data):
    ids = sorted(p["id"] for p in ctx.store.prompts())  # the store's order: by id
    view = annotators.queue_view(ctx.store, QueueSettings(), "ann")
    assert view.next_id == ids[0] and (view.progress.mine, view.progress.total) == (0, len(ids))
    prompt_keys.decide(ctx.store, ids[0], "keep", "ann")
    prompt_keys.decide(ctx.store, ids[1], "d3", "ann")  # a difficulty alone is not a review
    assert annotators.queue_view(ctx.store, QueueSettings(), "ann").next_id == ids[1]
    assert annotators.queue_view(ctx.store, QueueSettings(), "bob").next_id == ids[1]  # overlap 1: ann's p0 is done
    assert annotators.queue_view(ctx.store, QueueSettings(overlap=2), "bob").next_id == ids[0]
    prompt_keys.decide(ctx.store, ids[0], "keep", "bob")  # bob agrees: written (his review), though the state is already kept
    both = annotators.queue_view(ctx.store, QueueSettings(overlap=2), "bob").progress
    assert (both.mine, both.anyone, both.complete) == (1, 1, 1)
    prompt_keys.undo_last(ctx.store, "bob")
    assert annotators.queue_view(ctx.store, QueueSettings(overlap=2), "bob").next_id == ids[0]  # his review taken back


def test_settings_and_guidelines_live_in_the_workspace(tmp_path):
    assert F.read_settings(tmp_path) == QueueSettings()  # none yet
    settings, said = annotators.save_settings(tmp_path, 2, "# who does what\np1: ann, bob, ann\n\np2 : cy\n")
    assert said.startswith("saved") and settings == QueueSettings(2, {"p1": ("ann", "bob"), "p2": ("cy",)})
    assert F.read_settings(tmp_path) == settings
    assert F.assignments_text(settings) == "p1: ann, bob\np2: cy\n"
    for bad in [(0, ""), ("two", ""), (1, "p3 ann")]:
        kept, said = annotators.save_settings(tmp_path, *bad)
        assert said.startswith("not saved") and kept == settings and F.read_settings(tmp_path) == settings
    (tmp_path / F.SETTINGS_FILE).write_text("{broken", encoding="utf-8")
    assert F.read_settings(tmp_path) == QueueSettings()  # a hand-broken file: the defaults, not a crash
    assert F.read_guidelines(tmp_path) == ""
    assert F.write_guidelines(tmp_path, "# Keep\nwhen the answer is checkable") == F.read_guidelines(tmp_path)
    assert len(F.write_guidelines(tmp_path, "x" * (F.MAX_GUIDELINES + 5))) == F.MAX_GUIDELINES


def test_a_claim_expires_and_a_new_one_replaces_the_old():
    now = [0.0]
    claims = F.Claims(ttl_s=10, clock=lambda: now[0])
    claims.claim("ann", "p0")
    claims.claim("bob", "p1")
    claims.claim("ann", "p2")
    assert claims.current() == {"ann": "p2", "bob": "p1"}
    now[0] = 11
    assert claims.current() == {}
    claims.claim("ann", None)
    assert claims.current() == {}


def test_agreement_frames_show_kappa_and_conflicts(ctx, studio_data):
    a, b, c = studio_data.prompt_ids[:3]
    for pid, ann, bob in ((a, "keep", "keep"), (b, "exclude", "keep"), (c, "exclude", "exclude")):
        prompt_keys.decide(ctx.store, pid, ann, "ann")
        prompt_keys.decide(ctx.store, pid, bob, "bob")
    table, clashes = annotators.agreement_frames(ctx.store)
    assert table.values.tolist() == [["status", "ann", "bob", 3, "0.67", "0.40"]]  # as in tests/k15core/test_annotators.py
    assert clashes.values.tolist() == [[b, "status", "ann: excluded; bob: kept"]]
