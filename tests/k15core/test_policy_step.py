"""The policy update (k15core.policy_step): loss masks of partial rollouts, length-sorted micro-batches, and the
invariants of the optimiser step (any split gives the whole batch's gradient; π_θi's log-probs are the policy's own)."""
from __future__ import annotations

import pytest
import torch

from k15core.models import load_model
from k15core.policy_step import policy_inputs
from k15core.types import Trajectory
from k15core.tasks.recurrence import RecurrenceTask


def test_old_segments_are_out_of_the_loss(tiny_model_dir):
    model, tok = load_model(tiny_model_dir)
    p = RecurrenceTask(eval_per_level=1).eval_problems()[0]
    ids = tok(p.prompt, add_special_tokens=False)["input_ids"]
    t = Trajectory(p, 0, 0, list(ids))
    t.add_segment(0, [10, 11, 12], [0.0] * 3)
    t.add_segment(1, [13, 14], [0.0] * 2)
    inputs = policy_inputs([t], tok.pad_token_id, mask_old=True)
    loss_mask, response_mask = inputs.loss_mask, inputs.response_mask
    P = len(ids)
    assert response_mask[0].nonzero().flatten().tolist() == list(range(P - 1, P + 4))
    assert loss_mask[0].nonzero().flatten().tolist() == [P + 2, P + 3]  # only the iteration-1 tokens
    keep_all = policy_inputs([t], tok.pad_token_id, mask_old=False).loss_mask
    assert keep_all.sum() == 5


def _long_and_short_group(prompt_len: int = 4):
    """One group as partial rollouts with a 3-token budget leave it at iteration 2: a long member written in
    iterations 0, 1, 2 and three short ones that ended earlier. Each response has its own token ids."""
    from k15core.tasks.problem import Problem

    segments = {  # member -> [(iteration, tokens made in it)]
        "long": [(0, 3), (1, 3), (2, 2)],
        "a": [(0, 2)],  # EOS in iteration 0
        "b": [(0, 3), (1, 1)],  # EOS in iteration 1
        "c": [(0, 3)],  # EOS in iteration 0, on the budget's last token
    }
    trajs, next_id = [], 3
    for j, parts in enumerate(segments.values()):
        t = Trajectory(Problem(id="p", prompt="", reference="0"), 0, j, list(range(3 + j * prompt_len, 3 + (j + 1) * prompt_len)))
        for iteration, n in parts:
            t.add_segment(iteration, list(range(40 + next_id, 40 + next_id + n)), [0.0] * n)
            next_id += n
        trajs.append(t)
    return trajs


def test_every_member_of_a_group_trains_its_own_last_segment():
    """A short member that ended before the group's long one keeps its whole last segment in the loss; the long
    one trains on its iteration-2 tokens only. Tokens at prompt + j are predicted at next-token position P + j - 1."""
    trajs = _long_and_short_group(prompt_len=4)
    P = 4
    inputs = policy_inputs(trajs, pad_id=0, mask_old=True)
    trained = [row.nonzero().flatten().tolist() for row in inputs.loss_mask]
    assert trained == [
        [P + 5, P + 6],  # long: tokens 6, 7 (iteration 2); tokens 0-5 (iterations 0, 1) are context
        [P - 1, P],  # a: both its tokens (iteration 0, its last)
        [P + 2],  # b: token 3 (iteration 1, its last); tokens 0-2 are context
        [P - 1, P, P + 1],  # c: all three (iteration 0, its last)
    ]
    assert inputs.response_mask.sum(1).tolist() == [8, 2, 4, 3]
    assert inputs.loss_mask.sum() == 8 == 17 - 9  # 9 context-only tokens: rollout.partial.masked_token_share


def test_context_only_tokens_get_exactly_zero_gradient(tiny_model_dir, monkeypatch):
    """A real backward through `optimise` on the group above: the gradient of the loss with respect to the
    logits is exactly 0 at every next-token position out of the loss mask (earlier segments, prompt, padding)
    and not 0 on each member's trained positions. lr = 0: the step computes gradients and moves nothing."""
    from types import SimpleNamespace

    from k15core import policy_step
    from k15core.config import RLConfig
    from k15core.types import ScoredBatch

    model, tok = load_model(tiny_model_dir)
    trajs = _long_and_short_group()
    rewards = torch.tensor([1.0, 0.0, 1.0, 0.0])  # r̄ = 0.5: every member has an advantage of ±0.5
    batch = ScoredBatch(trajs, torch.zeros(4, dtype=torch.long), correct=rewards, length=torch.zeros(4), repeat=torch.zeros(4), total=rewards)
    seen = []  # (ids, keep_from, logits) of each forward with a gradient

    def spy(model_, ids, attention, keep_from=0):
        logp, logits = token_logprobs(model_, ids, attention, keep_from)
        if logits.requires_grad:
            logits.retain_grad()
            seen.append((ids, keep_from, logits))
        return logp, logits

    token_logprobs = policy_step.token_logprobs
    monkeypatch.setattr(policy_step, "token_logprobs", spy)
    run = SimpleNamespace(cfg=RLConfig(minibatches=1, lr=0.0, grad_clip=0.0, microbatch_overhead=0), model=model, tokenizer=tok,
                          device=torch.device("cpu"), bf16=False, optimizer=None)
    policy_step.optimise(run, batch, it=2)
    inputs = policy_inputs(trajs, tok.pad_token_id, mask_old=True)
    trained_rows = []
    for ids, keep, logits in seen:
        for b in range(len(ids)):
            [r] = [r for r in range(len(trajs)) if torch.equal(inputs.ids[r, : ids.shape[1]], ids[b])]
            mask = inputs.loss_mask[r, keep: ids.shape[1] - 1]  # (T-1-keep,) the positions these logits predict from
            grad = logits.grad[b].abs().sum(-1)  # (T-1-keep,)
            assert torch.count_nonzero(grad[mask == 0]) == 0, r
            assert mask.sum() > 0 and bool((grad[mask == 1] > 0).all()), r  # every member gets a gradient
            trained_rows.append(r)
    assert sorted(trained_rows) == [0, 1, 2, 3]  # every member was in a forward with its trained positions


def test_length_microbatches_minimise_padding_plus_overhead():
    from k15core.policy_step import length_microbatches

    lengths = [10, 50, 12, 48, 11, 49]
    assert length_microbatches([], lengths) == []
    # no overhead: every cut that lowers padding is made (rows of equal length need no cut)
    assert length_microbatches(range(6), lengths) == [[1], [5], [3], [2], [4], [0]]
    # overhead 20: the long rows 50/49/48 share one micro-batch (150 padded, 3 tokens of padding < 20 per cut)
    # and the short ones another: 150 + 36 + 2 x 20 = 226, less than one batch (300 + 20) or any other split
    assert length_microbatches(range(6), lengths, overhead=20) == [[1, 5, 3], [2, 4, 0]]
    # a huge overhead keeps one micro-batch, longest first
    assert length_microbatches(range(6), lengths, overhead=10**9) == [[1, 5, 3, 2, 4, 0]]
    # a budget of 100 padded tokens: at most two long rows together; a row over the budget goes alone
    batches = length_microbatches(range(6), lengths, budget=100, overhead=10**9)
    assert all(len(b) * max(lengths[r] for r in b) <= 100 for b in batches) and sorted(r for b in batches for r in b) == list(range(6))
    assert length_microbatches([0, 1], [10, 500], budget=100, overhead=10**9) == [[1], [0]]


def test_length_microbatches_is_optimal_on_random_cases():
    """The dynamic programme against brute force over every way of cutting the sorted rows."""
    import itertools
    import random

    from k15core.policy_step import length_microbatches

    rng = random.Random(0)
    for _ in range(40):
        lengths = [rng.randint(1, 60) for _ in range(rng.randint(1, 8))]
        overhead, budget = rng.choice([0, 5, 40]), rng.choice([0, 120])
        order = sorted(range(len(lengths)), key=lambda r: (-lengths[r], r))

        def cost(batches):
            if budget and any(len(b) > 1 and len(b) * max(lengths[r] for r in b) > budget for b in batches):
                return float("inf")
            return sum(len(b) * max(lengths[r] for r in b) + overhead for b in batches)

        brute = min(cost([order[i:j] for i, j in zip((0, *cuts), (*cuts, len(order)))])
                    for n in range(len(order)) for cuts in itertools.combinations(range(1, len(order)), n))
        assert cost(length_microbatches(range(len(lengths)), lengths, budget, overhead)) == brute


def _random_batch(tok, groups: int, k: int, seed: int, prompt_len: int, max_len: int):
    """A scored batch of random tokens: `groups` prompts x k answers of 3..max_len tokens, rewards alternating
    within each group (every group has a gradient)."""
    from k15core.types import Trajectory
    from k15core.tasks.problem import Problem
    from k15core.types import ScoredBatch

    g = torch.Generator().manual_seed(seed)
    trajs, rewards = [], []
    for gid in range(groups):
        prompt = torch.randint(3, len(tok), (prompt_len,), generator=g).tolist()
        for j in range(k):
            t = Trajectory(Problem(id=f"p{gid}", prompt="", reference="0"), gid, j, prompt)
            n = int(torch.randint(3, max_len, (1,), generator=g))
            t.add_segment(0, torch.randint(3, len(tok), (n,), generator=g).tolist(), [0.0] * n)
            trajs.append(t)
            rewards.append(float((j + gid) % 2))
    total = torch.tensor(rewards)
    return ScoredBatch(trajs, torch.tensor([t.group for t in trajs]), correct=total, length=torch.zeros_like(total), repeat=torch.zeros_like(total), total=total)


def test_token_budget_accumulation_gives_the_same_step(tiny_model_dir):
    """One optimise step with the whole batch at once vs micro-batches of at most 40 padded tokens (plain and
    with gradient checkpointing) and vs rows cut by length: the same gradient and the same weights after the step."""
    import copy
    from types import SimpleNamespace

    from k15core.models import load_model
    from k15core.config import RLConfig
    from k15core.policy_step import optimise

    base, tok = load_model(tiny_model_dir)
    batch = _random_batch(tok, groups=4, k=3, seed=3, prompt_len=6, max_len=15)
    trajs = batch.trajectories
    results = {}
    # whole: one micro-batch; micro: a 40-token budget; by-length: a cut wherever padding drops (groups cut across)
    for name, budget, overhead, checkpointing in (("whole", 0, 10**9, False), ("micro", 40, 10**9, False), ("micro+ckpt", 40, 10**9, True),
                                                  ("by-length", 0, 0, False)):
        model = copy.deepcopy(base)
        if checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        run = SimpleNamespace(cfg=RLConfig(minibatches=1, lr=1e-3, grad_clip=0.0, microbatch_tokens=budget, microbatch_overhead=overhead), model=model, tokenizer=tok,
                              device=torch.device("cpu"), bf16=False, optimizer=None, engine=SimpleNamespace(load_weights=lambda m: None))
        stats = optimise(run, batch, it=0)
        results[name] = (stats, {k: p.grad.clone() for k, p in model.named_parameters()}, {k: v.clone() for k, v in model.state_dict().items()})
    from k15core.policy_step import length_microbatches

    lengths = [len(t.prompt_ids) + len(t.token_ids) for t in trajs]
    assert len(length_microbatches(range(len(trajs)), lengths, 40, 10**9)) >= 3  # really split, groups cut across
    whole_stats, whole_grads, whole_weights = results["whole"]
    for name in ("micro", "micro+ckpt", "by-length"):
        stats, grads, weights = results[name]
        assert stats["loss"] == pytest.approx(whole_stats["loss"], rel=1e-4, abs=1e-6)
        assert stats["kl"] == pytest.approx(whole_stats["kl"], abs=1e-6)
        for k, v in whole_grads.items():
            assert torch.allclose(grads[k], v, atol=1e-7, rtol=1e-4), (name, k)
        off = sum(int((~torch.isclose(weights[k], v, atol=1e-6, rtol=1e-5)).sum()) for k, v in whole_weights.items())
        assert off / sum(v.numel() for v in whole_weights.values()) < 1e-4
    assert any(v.abs().sum() > 0 for v in whole_grads.values())


@pytest.mark.parametrize("minibatches, epochs", [(1, 1), (3, 1), (1, 3), (3, 2)])
def test_log_probs_of_the_old_policy_are_the_policys_own(tiny_model_dir, minibatches, epochs):
    """π_θi's log-probs come from the first step's own forward for its rows and from a no-gradient forward for
    the rest. With lr = 0 the policy never moves, so every mini-batch of every pass must see π_θ = π_θi: KL and
    the log-ratio exactly 0, and the k1.5 loss reduces to REINFORCE with the group-mean baseline."""
    from types import SimpleNamespace

    from k15core.losses import reinforce_loss
    from k15core.models import load_model
    from k15core.config import RLConfig
    from k15core.policy_step import optimise, policy_inputs
    from k15core.tokens import token_logprobs

    model, tok = load_model(tiny_model_dir)
    batch = _random_batch(tok, groups=6, k=2, seed=5, prompt_len=5, max_len=12)
    trajs = batch.trajectories
    run = SimpleNamespace(cfg=RLConfig(minibatches=minibatches, epochs=epochs, lr=0.0, grad_clip=0.0), model=model, tokenizer=tok,
                          device=torch.device("cpu"), bf16=False, optimizer=None, engine=SimpleNamespace(load_weights=lambda m: None))
    stats = optimise(run, batch, it=0)
    assert stats["kl"] == pytest.approx(0.0, abs=1e-9)
    assert stats["logratio_abs"] == pytest.approx(0.0, abs=1e-6) and stats["tau_share"] == pytest.approx(0.0, abs=1e-6)
    inputs = policy_inputs(trajs, tok.pad_token_id, True)
    ids, attention, loss_mask = inputs.ids, inputs.attention, inputs.loss_mask
    with torch.no_grad():
        logp, _ = token_logprobs(model, ids, attention)
    whole = float(reinforce_loss((logp * loss_mask).sum(1), batch.total, batch.group))
    if minibatches == epochs == 1:  # one step: its loss is the whole batch's
        assert stats["loss"] == pytest.approx(whole, rel=1e-4, abs=1e-6)


def test_step_plan_passes_cover_every_group_once_and_the_first_is_the_single_pass():
    import random

    import numpy as np

    from k15core.policy_step import step_plan

    groups = [3, 8, 11, 20, 21]
    steps = step_plan(groups, minibatches=2, epochs=3, rng=random.Random(7))
    assert len(steps) == 6 and [len(s) for s in steps] == [3, 2] * 3  # 5 groups in 2 mini-batches (array_split: 3 + 2)
    for p in range(3):  # each pass: every group in exactly one of its steps
        assert steps[2 * p] | steps[2 * p + 1] == set(groups) and not steps[2 * p] & steps[2 * p + 1]
    assert len({tuple(sorted(steps[2 * p])) for p in range(3)}) > 1  # the passes are shuffled anew
    ids = list(groups)  # the first pass is exactly what the trainer drew before it had passes
    random.Random(7).shuffle(ids)
    assert steps[:2] == [set(c.tolist()) for c in np.array_split(np.array(ids), 2)]
    few = step_plan(groups, minibatches=9, epochs=2, rng=random.Random(0))  # fewer groups than mini-batches: one group a step
    assert [len(s) for s in few] == [1] * 10 and set().union(*few[:5]) == set().union(*few[5:]) == set(groups)


def test_passes_measure_the_distance_to_the_policy_the_iteration_started_from(tiny_model_dir):
    """One step at θ_i: log-ratio and τ share exactly 0 (the k1.5 loss is REINFORCE there). Two passes of one step
    each: the second step's forward is at θ_1 (the first run's weights) and its log-ratio is to π_θi, not to π_θ1
    (log π_θi is not recomputed for a later pass): logratio_abs = mean_j |Σ_t (log π_θ1 − log π_θi)| and tau_share
    = tau_share(A, ρ, τ), both checked against forwards of the two models made here."""
    import copy
    from types import SimpleNamespace

    from k15core.config import RLConfig
    from k15core.losses import k15_advantage, tau_share
    from k15core.policy_step import optimise, policy_inputs
    from k15core.tokens import token_logprobs

    base, tok = load_model(tiny_model_dir)
    batch = _random_batch(tok, groups=3, k=2, seed=2, prompt_len=5, max_len=10)
    tau = 1.0
    models, stats = {}, {}
    for epochs in (1, 2):
        models[epochs] = copy.deepcopy(base)
        run = SimpleNamespace(cfg=RLConfig(minibatches=1, epochs=epochs, lr=1e-3, grad_clip=0.0, tau=tau), model=models[epochs], tokenizer=tok,
                              device=torch.device("cpu"), bf16=False, optimizer=None, engine=SimpleNamespace(load_weights=lambda m: None))
        stats[epochs] = optimise(run, batch, it=0)
    assert stats[1]["logratio_abs"] == 0.0 and stats[1]["tau_share"] == 0.0
    inputs = policy_inputs(batch.trajectories, tok.pad_token_id, True)
    with torch.no_grad():
        logp_i, _ = token_logprobs(base, inputs.ids, inputs.attention)
        logp_1, _ = token_logprobs(models[1], inputs.ids, inputs.attention)  # θ_1: where the second pass starts
    rho = ((logp_1 - logp_i) * inputs.loss_mask).sum(1)  # (N,)
    share = tau_share(k15_advantage(batch.total, batch.group, tau), rho, tau)
    assert stats[2]["logratio_abs"] == pytest.approx(float(rho.abs().mean()), rel=1e-3)
    assert stats[2]["tau_share"] == pytest.approx(share, rel=1e-3)
    assert stats[2]["logratio_abs"] > 0.01 and stats[2]["tau_share"] > 0.01  # the policy moved and the τ term pulls back


def test_chosen_logprobs_and_entropy_equal_the_full_log_softmax():
    from k15core.tokens import chosen_logprobs, entropy

    g = torch.Generator().manual_seed(3)
    logits = torch.randn(3, 5, 11, generator=g) * 4
    tokens = torch.randint(0, 11, (3, 5), generator=g)
    full = torch.log_softmax(logits, -1)
    assert torch.allclose(chosen_logprobs(logits, tokens), full.gather(-1, tokens[..., None]).squeeze(-1), atol=1e-5)
    assert torch.allclose(entropy(logits), -(full.exp() * full).sum(-1), atol=1e-5)
    uniform = torch.zeros(1, 2, 8)  # hand-derived: log(1/8) for any token, entropy log 8
    assert torch.allclose(chosen_logprobs(uniform, torch.tensor([[0, 7]])), torch.full((1, 2), -torch.log(torch.tensor(8.0))))
    assert torch.allclose(entropy(uniform), torch.full((1, 2), torch.log(torch.tensor(8.0))))
    leaf = logits.clone().requires_grad_(True)  # the gradient is the softmax's: onehot - p
    chosen_logprobs(leaf, tokens).sum().backward()
    expected = torch.nn.functional.one_hot(tokens, 11).float() - full.exp()
    assert torch.allclose(leaf.grad, expected, atol=1e-5)


def test_row_chunks_bound_the_temporaries_and_keep_every_row(monkeypatch):
    from k15core import tokens

    monkeypatch.setattr(tokens, "TEMPORARY_ELEMENTS", 100)
    x = torch.randn(7, 4, 11)  # 44 elements a row: two rows a chunk
    chunks = tokens._row_chunks(x)
    assert [len(c) for c in chunks] == [2, 2, 2, 1] and torch.equal(torch.cat(chunks), x)
    assert [len(c) for c in tokens._row_chunks(torch.randn(3, 50, 11))] == [1, 1, 1]  # a row over the budget goes alone
    full = torch.log_softmax(x, -1)
    assert torch.allclose(tokens.entropy(x), -(full.exp() * full).sum(-1), atol=1e-5)


def test_token_logprobs_with_the_head_on_responses_only_equals_the_full_pass_there(tiny_model_dir):
    """keep_from = 3: the head runs at next-token positions 3.. only; those log-probs equal the full pass's, the
    ones before are 0, and the logits handed back cover the kept positions (for the entropy)."""
    from k15core.models import load_model
    from k15core.tokens import token_logprobs

    model, _ = load_model(tiny_model_dir)
    ids = torch.randint(3, 20, (2, 9), generator=torch.Generator().manual_seed(1))
    attention = torch.ones_like(ids)
    attention[1, 7:] = 0
    with torch.no_grad():
        full, full_logits = token_logprobs(model, ids, attention)
        kept, kept_logits = token_logprobs(model, ids, attention, keep_from=3)
    assert kept.shape == full.shape == (2, 8) and kept_logits.shape[1] == 5
    assert torch.allclose(kept[:, 3:], full[:, 3:], atol=1e-5) and torch.all(kept[:, :3] == 0)
    assert torch.allclose(kept_logits, full_logits[:, 3:], atol=1e-5)
