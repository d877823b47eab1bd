"""The compare view's handlers (studio/compare.py) on the studio test workspace: defaults, the two sides, the diff, errors.

In that workspace every iteration repeats the same responses per sample index: samples 0-1 are the long solution, 2-3
the short one (tests/studio/studio_fixtures.py)."""
from __future__ import annotations

import re

import pytest

from studio import compare as C
from studio.rollouts_tab import token_pieces
from studio.token_diff import diff_counts, token_diff

MARKED = re.compile(r'class="k15-tok (k15-diff-\w+)"')


def test_defaults_are_the_same_run_first_and_last_iteration_sample_0(ctx, studio_data):
    pid = studio_data.prompt_ids[0]
    d = C.default_sides(ctx.store, pid)
    assert d == C.Defaults(pid, C.Side(studio_data.run_id, 0, 0), C.Side(studio_data.run_id, 2, 0), [0, 1, 2])
    assert C.default_sides(ctx.store, pid, studio_data.run_id) == d
    assert C.default_sides(ctx.store, "never-sampled") is None
    assert C.default_sides(ctx.store, studio_data.injection_id) is None  # in the prompt set, never sampled


def test_the_same_response_at_two_iterations_has_no_marked_token(ctx, studio_data):
    pid, run = studio_data.prompt_ids[0], studio_data.run_id
    page = C.compare_html(ctx, pid, C.Side(run, 0, 0), C.Side(run, 2, 0), token_pieces)
    assert "A: run #%d, iteration 0, sample 0" % run in page and "B: run #%d, iteration 2, sample 0" % run in page
    assert MARKED.findall(page) == [] and "0 only in A" in page and "0 only in B" in page


def test_two_different_samples_are_marked_where_their_tokens_differ(ctx, studio_data):
    pid, run = studio_data.prompt_ids[0], studio_data.run_id
    page = C.compare_html(ctx, pid, C.Side(run, 0, 0), C.Side(run, 2, 2), token_pieces)
    a, b = (C._pick(ctx.store, pid, side, n) for side, n in ((C.Side(run, 0, 0), "A"), (C.Side(run, 2, 2), "B")))
    assert a["response"] != b["response"] and a["iteration"] == 0 and b["iteration"] == 2 and b["sample_index"] == 2
    tok = ctx.tokenizer_for_run(ctx.store.run(run))
    pa, pb = token_pieces(tok, a["token_ids"]), token_pieces(tok, b["token_ids"])
    n = diff_counts(token_diff(pa, pb))
    marked = MARKED.findall(page)
    assert len(marked) == n.deleted + n.inserted + n.replaced_a + n.replaced_b > 0
    assert marked.count("k15-diff-del") == n.deleted and marked.count("k15-diff-ins") == n.inserted
    side_a, side_b = page.split('data-side="b"')
    token = re.compile(r'class="k15-tok[ "]')
    assert len(token.findall(side_a)) == len(pa) and len(token.findall(side_b)) == len(pb)  # every token drawn, once


def test_two_runs_can_be_compared(ctx, studio_data):
    """A second run that sampled the same prompt: side B in it."""
    from k15core.types import TrajectoryRecord

    pid = studio_data.prompt_ids[0]
    one = ctx.store.trajectory_group(C.side_group(ctx.store, pid, C.Side(studio_data.run_id, 1))[0]["id"])[0]
    other = ctx.store.create_run("rl:other", "rl", ctx.store.run(studio_data.run_id)["config"])
    ids = one["token_ids"][:-3]
    ctx.store.record_iteration(other, 5, {}, [TrajectoryRecord(
        prompt_id=pid, sample_index=0, prompt=one["prompt"], response="x", token_ids=ids, logprobs=[0.0] * len(ids), reward=0.0, correct=0.0,
        length=len(ids), reward_parts={}, difficulty=1, tag="group:0", group=0)])
    assert C.default_sides(ctx.store, pid).a.run_id == other  # the newest run that sampled it
    page = C.compare_html(ctx, pid, C.Side(studio_data.run_id, 1, 0), C.Side(other, 5, 0), token_pieces)
    assert f"B: run #{other}, iteration 5" in page and set(MARKED.findall(page)) == {"k15-diff-del"}  # B lacks A's last 3 tokens


@pytest.mark.parametrize("side, said", [(C.Side(1, 7, 0), "no samples at iteration 7 of run #1; it was sampled at iterations 0, 1, 2"),
                                        (C.Side(1, 1, 9), "no sample 9 at iteration 1; its samples are 0, 1, 2, 3"),
                                        (C.Side(99, 1, 0), "it was never sampled in that run")])
def test_a_side_that_does_not_exist_is_said(ctx, studio_data, side, said):
    assert studio_data.run_id == 1
    with pytest.raises(ValueError, match=re.escape(said)):
        C.compare_html(ctx, studio_data.prompt_ids[0], C.Side(1, 0, 0), side, token_pieces)


def test_side_fields_are_read_as_whole_numbers():
    assert C._int(2.0, "x") == 2 and C._int(" 3 ", "x") == 3 and C._int(4, "x") == 4
    for bad in (2.5, "two", None):
        with pytest.raises(ValueError, match="x must be a whole number"):
            C._int(bad, "x")
