"""Rollouts on image prompts: the compact sampler prefills with pixel values and reports the log-probs a full
forward gives; partial rollouts carry each member's picture; one k1.5 policy step trains on image prompts."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from k15core.config import RLConfig
from k15core.rollout.compact import compact_continue
from k15core.rollout.engine import HFEngine
from k15core.rollout.partial import rollout_step
from k15core.tasks.visual_recurrence import VisualRecurrenceTask
from k15core.tokens import right_pad, token_logprobs
from k15core.types import Group, ScoredBatch, Trajectory
from k15core.vlm.inputs import encode_prompt, pixel_inputs
from k15core.vlm.model import load_vlm

TASK = VisualRecurrenceTask(levels=(1, 4), eval_per_level=3)


@pytest.fixture(scope="module")
def vlm(tiny_vlm_dir):
    model, processor = load_vlm(tiny_vlm_dir)
    return model.eval(), processor


def _encoded(processor, problems):
    return [encode_prompt(processor, p.prompt, TASK.images(p)) for p in problems]


def test_sampler_logprobs_equal_a_full_forward_on_the_same_image_prompt(vlm):
    model, processor = vlm
    tok = processor.tokenizer
    problems = TASK.eval_problems()[:3]
    prompts = _encoded(processor, problems)
    # contexts of different lengths (left padding in the prefill): the third carries a partial response already
    contexts = [prompts[0].ids, prompts[1].ids, prompts[2].ids + tok("x=1 y=", add_special_tokens=False)["input_ids"]]
    pixels = [p.pixel_values for p in prompts]
    torch.manual_seed(0)
    out = compact_continue(model, contexts, [10, 10, 10], eos=tok.eos_token_id, pad=tok.pad_token_id, pixel_values=pixels)
    assert all(len(c.token_ids) > 0 for c in out)
    full = [c + o.token_ids for c, o in zip(contexts, out)]
    ids, attention = right_pad(full, tok.pad_token_id)
    with torch.no_grad():
        logp, _ = token_logprobs(model, ids, attention, extra=pixel_inputs(pixels))
    for row, (c, o) in enumerate(zip(contexts, out)):
        forward = logp[row, len(c) - 1: len(c) - 1 + len(o.token_ids)]
        assert torch.allclose(forward, torch.tensor(o.logprobs), atol=1e-4), row
    # the picture is in the prefill: the same tokens after another picture have other log-probs
    other = compact_continue(model, [contexts[0]], [1], eos=tok.eos_token_id, pad=tok.pad_token_id, greedy=True, pixel_values=[pixels[1]])
    mine = compact_continue(model, [contexts[0]], [1], eos=tok.eos_token_id, pad=tok.pad_token_id, greedy=True, pixel_values=[pixels[0]])
    assert abs(other[0].logprobs[0] - mine[0].logprobs[0]) > 1e-5 or other[0].token_ids != mine[0].token_ids


def _groups(processor, k: int = 3) -> list[Group]:
    problems = TASK.eval_problems()[:2]
    groups = []
    for gid, (p, enc) in enumerate(zip(problems, _encoded(processor, problems))):
        groups.append(Group(gid, p, [Trajectory(p, gid, j, list(enc.ids), pixel_values=enc.pixel_values) for j in range(k)], started=0))
    return groups


def test_partial_rollouts_prefill_every_segment_with_its_picture(vlm):
    model, processor = vlm
    engine = HFEngine(model, processor.tokenizer)
    seen = []

    def spy(contexts, allowances, starts, **images):
        seen.append(images["pixel_values"])
        return engine.continue_ids(contexts, allowances, starts, **images)

    groups = _groups(processor)
    torch.manual_seed(1)
    members = [t for g in groups for t in g.members]
    rollout_step(groups, 0, spy, segment_tokens=4, max_response_tokens=40)
    going = [t for t in members if not t.done]
    assert going, "every response ended within 4 tokens: nothing left to continue"
    rollout_step(groups, 1, spy, segment_tokens=4, max_response_tokens=40)
    assert [len(s) for s in seen] == [6, len(going)]
    for pixels, t in zip(seen[0], members):
        assert torch.equal(pixels, t.pixel_values)
    for pixels, t in zip(seen[1], going):  # the continued ones: each prefilled with its own picture again
        assert torch.equal(pixels, t.pixel_values) and t.segments == 2


def test_one_k15_step_on_image_prompts_raises_the_rewarded_responses(vlm, tiny_vlm_dir, monkeypatch):
    from k15core import policy_step

    model, processor = load_vlm(tiny_vlm_dir)  # its own copy: this test trains it
    groups = _groups(processor)
    torch.manual_seed(2)
    rollout_step(groups, 0, HFEngine(model, processor.tokenizer).continue_ids, segment_tokens=12, max_response_tokens=12)
    trajs = [t for g in groups for t in g.members]
    group = torch.tensor([t.group for t in trajs])
    reward = torch.tensor([1.0 if t.sample_index == 0 else 0.0 for t in trajs])  # hand-set: member 0 of each group wins
    batch = ScoredBatch(trajs, group, correct=reward, length=torch.zeros(len(trajs)), repeat=torch.zeros(len(trajs)), total=reward)
    forwards = []
    real = policy_step.token_logprobs

    def spy(model_, ids, attention, keep_from=0, extra=None):
        forwards.append((ids.shape[0], extra))
        return real(model_, ids, attention, keep_from, extra)

    monkeypatch.setattr(policy_step, "token_logprobs", spy)
    inputs = policy_step.policy_inputs(trajs, processor.tokenizer.pad_token_id, mask_old=True)

    def sequence_logprobs() -> torch.Tensor:
        with torch.no_grad():
            logp, _ = real(model, inputs.ids, inputs.attention, extra=pixel_inputs(inputs.pixel_values))
        return (logp * inputs.loss_mask).sum(1)

    before = sequence_logprobs()
    run = SimpleNamespace(cfg=RLConfig(loss="k15", minibatches=1, lr=1e-3, microbatch_overhead=0), model=model,
                          tokenizer=processor.tokenizer, device=torch.device("cpu"), bf16=False, optimizer=None)
    stats = policy_step.optimise(run, batch, it=0)
    change = sequence_logprobs() - before
    # every training forward got one picture per row (one image per prompt here), and every row was in one
    assert forwards and all(extra is not None and extra["pixel_values"].shape[0] == rows for rows, extra in forwards)
    assert sum(rows for rows, _ in forwards) >= len(trajs)
    assert change[reward == 1].mean() > change[reward == 0].mean() + 0.1, change
    assert stats["loss"] == stats["loss"] and stats["kl"] >= 0


def test_text_rows_carry_no_pixels():
    from k15core.policy_step import policy_inputs
    from k15core.tasks.problem import Problem

    t = Trajectory(Problem("p", "Q", "1"), 0, 0, [5, 6])
    t.add_segment(0, [7], [0.0])
    assert policy_inputs([t], 0, mask_old=False).pixel_values == []


def test_the_image_placeholder_is_never_sampled(vlm):
    """With the placeholder made by far the likeliest token, greedy and sampled responses still never hold it,
    and the log-probs they report stay the model's own (the placeholder's mass is not renormalised away)."""
    model, processor = vlm
    tok = processor.tokenizer
    image_id = model.config.image_token_id
    prompt = _encoded(processor, TASK.eval_problems()[:1])[0]
    hook = model.lm_head.register_forward_hook(lambda module, args, out: out.index_add(-1, torch.tensor([image_id]), torch.full((*out.shape[:-1], 1), 50.0)))
    try:
        for greedy in (True, False):
            out = compact_continue(model, [prompt.ids] * 2, [6, 6], eos=tok.eos_token_id, pad=tok.pad_token_id, greedy=greedy,
                                   pixel_values=[prompt.pixel_values] * 2)
            assert all(image_id not in c.token_ids and c.token_ids for c in out)
            assert max(lp for c in out for lp in c.logprobs) < -20
    finally:
        hook.remove()
