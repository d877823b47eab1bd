"""Shortest rejection sampling and DPO (report §2.4): learn from the long model's own shortest answers.

Both start the same way: sample `samples` responses per training prompt from the long model
(`sample_groups`). Rejection sampling fine-tunes on the shortest correct response of each prompt
(`k15core.sft.train_sft`); DPO trains on (shortest correct, longer) pairs (`selection.dpo_pairs`)
against the long model as the frozen reference, whose log-probabilities are computed once.

Choices the report leaves open (spec §13), defaults in `Long2ShortConfig`: how many prompts and
samples, β, the learning rates and epochs, and the model rejection sampling draws from (the long
model; `--long` may name any model, e.g. a merged one for "merge + rs").
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from k15core.config import Long2ShortConfig, SFTConfig
from k15core.errors import K15Error
from k15core.long2short.selection import Sample, dpo_pairs, shortest_correct
from k15core.losses import dpo_loss
from k15core.prompting import prompt_ids
from k15core.sft import SFTExample, train_sft
from k15core.tasks.base import Task
from k15core.tasks.problem import Problem
from k15core.tokens import next_token_mask, right_pad, token_logprobs
from k15core.vlm.inputs import pixel_inputs


def sample_groups(model, tokenizer, task: Task, problems: list[Problem], cfg: Long2ShortConfig, progress: bool = True,
                  encoded: list | None = None) -> list[list[Sample]]:
    """`cfg.samples` responses per problem from `model`, each verified; token ids kept for DPO. `encoded[i]`: problem
    i's prompt encoded with its pictures (`vlm.inputs.EncodedPrompt`, a VLM's image prompts), sampled with them."""
    from tqdm.auto import tqdm

    from k15core.prompting import render_prompt
    from k15core.rollout.hf import generate

    bar = tqdm(total=len(problems) * cfg.samples, desc="sampling the long model", unit="answer", disable=not progress)
    gens = generate(model, tokenizer, [render_prompt(tokenizer, p.prompt, task.instruction) for p in problems], k=cfg.samples, max_new_tokens=cfg.max_new_tokens,
                    temperature=cfg.temperature, seed=cfg.seed, progress=bar.update, encoded=encoded)
    bar.close()
    groups: list[list[Sample]] = [[] for _ in problems]
    for g in gens:
        p = problems[g.prompt_index]
        correct = task.verify(g.text, p.reference) >= 1.0 and g.finished  # a cut-off answer is never the one to copy
        groups[g.prompt_index].append(Sample(text=g.text, length=g.length, correct=correct, index=g.sample_index,
                                             token_ids=tuple(g.token_ids)))
    return groups


def rejection_examples(problems: list[Problem], groups: list[list[Sample]], instruction: str = "") -> list[SFTExample]:
    """One SFT example per prompt that has a correct sample: its shortest correct response (`instruction`: the
    task's, for a chat model's prompt)."""
    out = []
    for p, group in zip(problems, groups):
        best = shortest_correct(group)
        if best is not None:
            out.append(SFTExample(p.prompt, best.text, p.id, style="shortest-correct", difficulty=p.difficulty, instruction=instruction))
    return out


def rejection_sft_config(cfg: Long2ShortConfig) -> SFTConfig:
    """The fine-tune's settings, for a text model and a VLM alike."""
    return SFTConfig(lr=cfg.rs_lr, epochs=cfg.rs_epochs, batch_size=cfg.rs_batch_size, warmup_steps=5, seed=cfg.seed)


def train_rejection(model, tokenizer, problems, groups, cfg: Long2ShortConfig, out_dir: Path | None, progress: bool = True,
                    instruction: str = ""):
    examples = rejection_examples(problems, groups, instruction)
    if not examples:
        raise K15Error("no prompt had a correct sample, so there is nothing to fine-tune on",
                       "sample more (long2short.samples) or use a stronger long model")
    return train_sft(model, tokenizer, examples, rejection_sft_config(cfg), out_dir=out_dir, progress=progress), examples


def _pair_sequences(tokenizer, prompt: str, chosen: Sample, rejected: Sample, instruction: str = ""):
    ids = prompt_ids(tokenizer, prompt, instruction)
    return [(ids, list(chosen.token_ids)), (ids, list(rejected.token_ids))]


def sequence_logprobs(model, sequences: list[tuple[list[int], list[int]]], pad_id: int, device, pixels: list | None = None) -> torch.Tensor:
    """Sum of log π(response token | prefix) over each (prompt ids, response ids) pair -> (N,). `pixels[i]`: the pixel
    values of row i's pictures (a VLM's image prompt; its ids hold their image tokens), None for a text row."""
    ids, attention = right_pad([p + r for p, r in sequences], pad_id)
    mask = next_token_mask([(len(p), len(p) + len(r)) for p, r in sequences], ids.shape[1])
    extra = {k: v.to(device) for k, v in pixel_inputs(pixels).items()} if pixels is not None else None
    token_logp, _ = token_logprobs(model, ids.to(device), attention.to(device), extra=extra)
    return (token_logp * mask.to(device)).sum(1)


@dataclass
class DPOResult:
    pairs: int
    steps: int
    seconds: float
    final_loss: float
    final_accuracy: float
    """Share of pairs in the last epoch that the policy ranked right (margin > 0) before its step."""


def build_pairs(problems: list[Problem], groups: list[list[Sample]], cfg: Long2ShortConfig) -> list[tuple[str, Sample, Sample]]:
    pairs = []
    for p, group in zip(problems, groups):
        for chosen, rejected in dpo_pairs(group, cfg.ratio, cfg.inclusive, cfg.max_pairs or None):
            pairs.append((p.prompt, chosen, rejected))
    return pairs


def train_dpo(model, tokenizer, pairs: list[tuple[str, Sample, Sample]], cfg: Long2ShortConfig, out_dir: Path | None = None,
              progress: bool = True, on_step=None, instruction: str = "", encoded: list | None = None) -> DPOResult:
    """DPO on (prompt, chosen, rejected) triples; the reference is `model` as it is at the start. `instruction`:
    the task's, for a chat model's prompts (`k15core.prompting`). `encoded[i]`: pair i's prompt encoded with its
    pictures (`vlm.inputs.EncodedPrompt`, a VLM's image prompt): its ids replace the prompt text's, and both rows
    of the pair are scored with its pixel values."""
    from tqdm.auto import tqdm

    from k15core.models import save_model

    if not pairs:
        raise K15Error("there are no DPO pairs (no prompt had both a shortest correct answer and a longer one to reject)",
                       "sample more responses (long2short.samples) or lower long2short.ratio")
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id
    seqs = [_pair_sequences(tokenizer, prompt, c, r, instruction) for prompt, c, r in pairs] if encoded is None else \
        [[(e.ids, list(c.token_ids)), (e.ids, list(r.token_ids))] for e, (_, c, r) in zip(encoded, pairs, strict=True)]

    def logprobs(idx: list[int]) -> torch.Tensor:  # (len(idx), 2): chosen, rejected
        pixels = [encoded[j].pixel_values for j in idx for _ in (0, 1)] if encoded is not None else None
        return sequence_logprobs(model, [s for j in idx for s in seqs[j]], pad, device, pixels).view(-1, 2)

    bs = cfg.dpo_batch_size
    chosen_len = torch.tensor([max(1, len(c.token_ids)) for _, c, _ in pairs], dtype=torch.float32, device=device)
    model.eval()
    with torch.no_grad():  # the reference: computed once, before any step
        ref = torch.cat([logprobs(list(range(i, min(i + bs, len(seqs))))) for i in range(0, len(seqs), bs)])
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.dpo_lr, betas=(0.9, 0.95), weight_decay=0.0)
    rng = random.Random(cfg.seed)
    total = cfg.dpo_epochs * math.ceil(len(seqs) / bs)
    bar = tqdm(total=total, desc="DPO", unit="step", disable=not progress)
    model.train()
    step, t0, loss_value, right = 0, time.perf_counter(), float("nan"), []
    for epoch in range(cfg.dpo_epochs):
        order = list(range(len(seqs)))
        rng.shuffle(order)
        right = []
        for i in range(0, len(order), bs):
            idx = order[i: i + bs]
            logp = logprobs(idx)
            loss, margins = dpo_loss(logp[:, 0], logp[:, 1], ref[idx, 0], ref[idx, 1], cfg.beta)
            if cfg.dpo_nll:
                loss = loss + cfg.dpo_nll * (-logp[:, 0] / chosen_len[idx]).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            loss_value = float(loss.detach())
            right += (margins > 0).tolist()
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.3f}", ranked=f"{sum(right) / len(right):.2f}")
            if on_step is not None:
                on_step(step, {"dpo/loss": loss_value, "dpo/margin": float(margins.mean())})
    bar.close()
    if out_dir is not None:
        save_model(model, tokenizer, out_dir)
    return DPOResult(pairs=len(pairs), steps=step, seconds=time.perf_counter() - t0, final_loss=loss_value,
                     final_accuracy=sum(right) / max(1, len(right)))
