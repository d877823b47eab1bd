"""Warm-up SFT: what the loss sees, the learning-rate schedule, and that training actually learns."""
from __future__ import annotations

import math

import pytest
import torch

from k15core.errors import K15Error
from k15core.models import load_model
from k15core.config import SFTConfig
from k15core.sft import SFTExample, accumulate_gradients, build_warmup_set, lr_at, make_batches, micro_batches, tokenize_examples, train_sft
from k15core.tasks.arithmetic import ArithmeticTask


def test_labels_cover_response_and_eos_only(tiny_model_dir):
    _, tok = load_model(tiny_model_dir)
    tokenized = tokenize_examples(tok, [SFTExample("Q: 1+2\n", "Answer: 3"), SFTExample("Q: 10+20\n", "Answer: 30")])
    assert tokenized[0][1] == len("Q: 1+2\n")
    ids, mask, labels = next(make_batches(tokenized, batch_size=2, seed=0, pad_id=tok.pad_token_id))
    for row in range(2):
        n = int(mask[row].sum())
        seq = ids[row, :n].tolist()
        text = tok.decode(seq)
        n_prompt = len(text.split("\n")[0]) + 1
        assert labels[row, :n_prompt].eq(-100).all()  # prompt: no loss
        assert labels[row, n_prompt:n].tolist() == seq[n_prompt:]  # response + EOS: loss
        assert seq[-1] == tok.eos_token_id
        assert labels[row, n:].eq(-100).all() and ids[row, n:].eq(tok.pad_token_id).all()  # padding: no loss


def test_batches_cover_every_example_once(tiny_model_dir):
    _, tok = load_model(tiny_model_dir)
    examples = [SFTExample(f"Q: {i}+1\n", f"Answer: {i + 1}") for i in range(103)]
    seen = []
    for ids, mask, _ in make_batches(tokenize_examples(tok, examples), batch_size=10, seed=3, pad_id=tok.pad_token_id):
        seen += [tok.decode(ids[r, : int(mask[r].sum()) - 1]) for r in range(ids.shape[0])]
    assert sorted(seen) == sorted(e.prompt + e.response for e in examples)


def test_response_token_loss_matches_transformers(tiny_model_dir):
    from k15core.sft import response_token_loss

    model, tok = load_model(tiny_model_dir)
    ids, mask, labels = next(make_batches(tokenize_examples(tok, [SFTExample("Q: 1+2\n", "Answer: 3"), SFTExample("Q: 12+30\n", "Answer: 42")]), 2, 0, tok.pad_token_id))
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, labels=labels)
    torch.testing.assert_close(response_token_loss(out.logits, labels), out.loss)
    n_tokens = int(labels[:, 1:].ne(-100).sum())
    torch.testing.assert_close(response_token_loss(out.logits, labels, reduction="sum"), out.loss * n_tokens)


def test_lr_schedule_hand_numbers():
    cfg = SFTConfig(lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    assert lr_at(0, 110, cfg) == pytest.approx(0.1)  # (0 + 1) / 10
    assert lr_at(9, 110, cfg) == pytest.approx(1.0)
    assert lr_at(60, 110, cfg) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))  # half-way: 0.55
    assert lr_at(110, 110, cfg) == pytest.approx(0.1)


def test_warmup_set_follows_the_style_mix():
    task = ArithmeticTask(eval_per_level=5)
    examples = build_warmup_set(task, SFTConfig(examples=2000, style_mix={"short": 3, "long": 1}, seed=1))
    share_short = sum(e.style == "short" for e in examples) / len(examples)
    assert abs(share_short - 0.75) < 0.04  # binomial sd is about 0.01
    assert all(task.verify(e.response, e.response.rsplit(" ", 1)[-1]) == 1.0 for e in examples[:50])
    with pytest.raises(K15Error, match="unknown style"):
        build_warmup_set(task, SFTConfig(examples=10, style_mix={"verbose": 1.0}))


def test_warmup_set_follows_the_style_mix_of_each_level():
    task = ArithmeticTask(eval_per_level=5)
    cfg = SFTConfig(examples=3000, style_mix={"short": 1, "long": 1}, style_mix_by_level={3: {"short": 0.9, "long": 0.1}}, seed=2)
    examples = build_warmup_set(task, cfg)
    for level, want in ((1, 0.5), (2, 0.5), (3, 0.9)):
        sel = [e for e in examples if e.difficulty == level]
        assert len(sel) > 500
        # binomial sd <= 0.5 / sqrt(500) ~ 0.022; 0.07 is over three sd
        assert abs(sum(e.style == "short" for e in sel) / len(sel) - want) < 0.07, level
    with pytest.raises(K15Error, match="style_mix_by_level.3"):
        build_warmup_set(task, SFTConfig(examples=10, style_mix_by_level={3: {"short": 0.0}}))


def _response_loss(model, tok, examples) -> float:
    ids, mask, labels = next(make_batches(tokenize_examples(tok, examples), len(examples), 0, tok.pad_token_id))
    with torch.no_grad():
        return float(model(input_ids=ids, attention_mask=mask, labels=labels).loss)


def test_training_reduces_loss_and_saves(tiny_model_dir, tmp_path):
    model, tok = load_model(tiny_model_dir)
    examples = [SFTExample(f"Q: {i}\n", f"Answer: {i}") for i in range(10, 26)]
    before = _response_loss(model, tok, examples)
    result = train_sft(model, tok, examples * 8, SFTConfig(batch_size=16, lr=3e-3, warmup_steps=2, epochs=2), out_dir=tmp_path / "out", progress=False)
    after = _response_loss(model, tok, examples)
    assert result.steps == 16 and result.tokens > 0 and not result.bf16
    assert after < 0.5 * before, (before, after)
    reloaded, _ = load_model(tmp_path / "out")
    assert _response_loss(reloaded, tok, examples) == pytest.approx(after, rel=1e-5)


def test_bf16_autocast_trains(tiny_model_dir):
    model, tok = load_model(tiny_model_dir)
    result = train_sft(model, tok, [SFTExample("Q: 1\n", "Answer: 1")] * 4, SFTConfig(batch_size=2, bf16="on"), progress=False)
    assert result.bf16 and math.isfinite(result.final_loss)
    with pytest.raises(K15Error, match="sft.bf16"):
        train_sft(model, tok, [SFTExample("a", "b")], SFTConfig(bf16="maybe"), progress=False)


def test_micro_batches_give_the_whole_batch_gradient(tiny_model_dir):
    """Slices of at most 40 tokens (several per batch, each cut to its own longest row) sum to the gradient of the
    batch taken whole; the summed loss is the same."""
    model, tok = load_model(tiny_model_dir)
    examples = [SFTExample(f"Q: {i}\n", "Answer: " + "x" * (i % 9)) for i in range(12)]
    batch = next(make_batches(tokenize_examples(tok, examples), batch_size=12, seed=0, pad_id=tok.pad_token_id))
    slices = list(micro_batches(*batch, max_tokens=40))
    assert len(slices) > 2 and all(ids.numel() <= 40 or ids.shape[0] == 1 for ids, _, _ in slices)
    assert sum(ids.shape[0] for ids, _, _ in slices) == 12 and sum(int(m.sum()) for _, m, _ in slices) == int(batch[1].sum())
    assert [ids.shape[1] for ids, _, _ in slices] != [batch[0].shape[1]] * len(slices)  # short slices dropped padding
    sums, grads = [], []
    for budget in (0, 40):
        model.zero_grad(set_to_none=True)
        sums.append(accumulate_gradients(model, batch, budget, scale=7.0, bf16=False))
        grads.append([p.grad.clone() for p in model.parameters()])
    assert sums[0] == pytest.approx(sums[1], rel=1e-5)
    for whole, sliced in zip(*grads):
        torch.testing.assert_close(sliced, whole, rtol=1e-4, atol=1e-7)
