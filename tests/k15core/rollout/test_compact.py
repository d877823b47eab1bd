"""The compacting sampler: `generate`'s tokens when greedy, its distribution when sampling."""
from __future__ import annotations

import pytest
import torch

from k15core.models import load_model
from k15core.rollout.compact import compact_continue, next_tokens, nucleus
from k15core.rollout.hf import continue_ids
from k15core.rollout.repeat import RepeatRule


def _contexts(tok, n=10):
    ctx = [tok(f"Seq {7 * i:03d}, steps: {i % 6 + 1}\n", add_special_tokens=False)["input_ids"] for i in range(n)]
    ctx[3] = ctx[3][:5]  # a shorter context: left padding differs by row
    return ctx


@pytest.mark.parametrize("rule", [None, RepeatRule()])
def test_greedy_gives_generates_tokens_and_logprobs(tiny_model_dir, rule):
    model, tok = load_model(tiny_model_dir)
    ctx = _contexts(tok)
    allow = [30, 30, 5, 40, 30, 1, 0, 30, 17, 30]  # different allowances in one batch, one of them 0
    ref = continue_ids(model, tok, ctx, max_new_tokens=allow, greedy=True, repeat_rule=rule, response_starts=[len(c) for c in ctx])
    new = compact_continue(model, ctx, allow, eos=tok.eos_token_id, pad=tok.pad_token_id, greedy=True, repeat_rule=rule)
    for a, b, n in zip(ref, new, allow):
        assert b.token_ids == a.token_ids and (b.eos, b.repeated) == (a.eos, a.repeated)
        assert len(b.token_ids) <= n
        assert b.logprobs == pytest.approx(a.logprobs, abs=1e-4) and b.entropies == pytest.approx(a.entropies, abs=1e-4)
    assert sum(len(b.token_ids) for b in new) > (100 if rule is None else 50)  # the repeat rule stops greedy loops early


def test_sampled_logprobs_are_the_models(tiny_model_dir):
    """Each sampled token's log-prob is what the model gives that token in context (rows ending at
    different steps, so the batch shrinks while others go on)."""
    from k15core.tokens import token_logprobs

    model, tok = load_model(tiny_model_dir)
    ctx = _contexts(tok, 6)
    torch.manual_seed(0)
    out = compact_continue(model, ctx, [3, 25, 8, 25, 12, 25], eos=tok.eos_token_id, pad=tok.pad_token_id)
    assert [len(o.token_ids) for o in out][:3] == [3, 25, 8] or all(o.eos for o in out if len(o.token_ids) < 25)
    for c, o in zip(ctx, out):
        ids = torch.tensor([c + o.token_ids])
        logp, _ = token_logprobs(model, ids, torch.ones_like(ids))
        assert torch.allclose(torch.tensor(o.logprobs), logp[0, len(c) - 1:], atol=1e-4)


def test_nucleus_keeps_the_smallest_set_reaching_top_p():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05], [0.05, 0.9, 0.03, 0.02]]))
    kept = torch.isfinite(nucleus(logits, 0.75))
    assert kept.tolist() == [[True, True, False, False], [False, True, False, False]]  # 0.5 + 0.3 reach 0.75; 0.9 alone does
    assert torch.isfinite(nucleus(logits, 0.8)).tolist()[0] == [True, True, False, False]  # exactly reaching top_p is enough
    assert torch.equal(nucleus(logits, 1.0), logits)


def test_sampling_frequencies_follow_the_tempered_distribution():
    torch.manual_seed(0)
    logits = torch.log(torch.tensor([0.6, 0.3, 0.1])).repeat(20000, 1)
    for temperature in (1.0, 0.5):
        draws = next_tokens(logits, greedy=False, temperature=temperature, top_p=1.0)
        expected = torch.softmax(logits[0] / temperature, -1)
        observed = torch.bincount(draws, minlength=3).float() / len(draws)
        assert torch.allclose(observed, expected, atol=0.015), (temperature, observed, expected)
    draws = next_tokens(logits, greedy=False, temperature=1.0, top_p=0.85)  # nucleus {0.6, 0.3}, renormalised
    observed = torch.bincount(draws, minlength=3).float() / len(draws)
    assert observed[2] == 0 and abs(observed[0] - 2 / 3) < 0.015
