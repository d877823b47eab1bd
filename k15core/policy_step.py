"""The policy update of one RL iteration (report §2.3.2 and §2.6): π_θi's log-probs, then a few optimiser steps.

`optimise` is the trainer's "train" phase: a fresh optimiser (the report resets it every iteration), then
`rl.epochs` passes over the batch of `rl.minibatches` steps each (`step_plan`), every step on whole groups and
against the same π_θi: the report solves a regularised sub-problem per iteration, and with a single step θ = θ_i
throughout, so the k15 loss's τ term does nothing (`rl/tau_share` measures how much it does). Each step sums
weighted per-response terms of the chosen loss over micro-batches of rows sorted by length
(`length_microbatches`): the advantages are computed once on whole groups and each response weighs
1/(k · groups in the step), so any split gives the loss and gradient of the whole mini-batch, with less padding
(and, under `rl.microbatch_tokens`, less memory).

Under torchrun the mini-batches split the groups of all ranks (shuffled the same way everywhere), each rank
trains on its own members of each, and its loss is weighted by its share of the mini-batch's groups: the
gradient the ranks average is the one a single process would get on the whole mini-batch. Every rank runs
the same number of steps and micro-batches, empty ones included (a zero loss), because each forward and
backward of a wrapped model is a collective.

Choice the report leaves open: `log π_θi` is recomputed by the trainer (not taken from the rollout engine,
whose log-probs are stored for inspection). The very first step's rows get it from their own forward (θ = θi
until that step), so only the other rows need a forward of their own: none with one mini-batch, however many
passes (later passes read the stored values: by then θ has moved).
"""
from __future__ import annotations

import math
import random
import time
from typing import Iterator

import numpy as np
import torch

from k15core import dist
from k15core.losses import LOSSES, tau_share
from k15core.precision import autocast
from k15core.rollout.partial import context_only_tokens
from k15core.tasks.problem import Problem
from k15core.tokens import entropy, next_token_mask, right_pad, token_logprobs
from k15core.types import PolicyInputs, ScoredBatch, Trajectory
from k15core.vlm.inputs import pixel_inputs


def policy_inputs(trajs: list[Trajectory], pad_id: int, mask_old: bool) -> PolicyInputs:
    """Right-padded prompt + response ids and the masks over next-token predictions.

    `loss_mask` covers each response's own last segment when `mask_old` (its earlier segments stay in the
    context only), every response token otherwise. Report §2.6.2 says only that some segments may be left out
    of the loss; the last segment of each response, not "the tokens made this iteration", is what keeps a
    response that ended before the rest of its group in the loss (`rollout.partial.context_only_tokens`).
    """
    ids, attention = right_pad([t.prompt_ids + t.token_ids for t in trajs], pad_id)
    spans, trained = [], []
    for t in trajs:
        p, n = len(t.prompt_ids), len(t.token_ids)
        spans.append((p, p + n))
        trained.append((p + context_only_tokens(t.token_iteration, mask_old), p + n))
    width = ids.shape[1]
    pixels = [t.pixel_values for t in trajs] if any(t.pixel_values is not None for t in trajs) else []
    return PolicyInputs(ids, attention, next_token_mask(trained, width), next_token_mask(spans, width), pixels)


def new_optimizer(run) -> torch.optim.Optimizer:
    """AdamW over the policy's trainable parameters (the sharded ones under FSDP2: `dist.trainable_parameters`)."""
    return torch.optim.AdamW(dist.trainable_parameters(run.model), lr=run.cfg.lr, betas=(0.9, 0.95), weight_decay=0.0)


def length_microbatches(rows: list[int], lengths: list[int], budget: int = 0, overhead: float = 0) -> list[list[int]]:
    """Micro-batches of `rows`: sorted by length, longest first, and cut into the runs that minimise the
    padded tokens (each run: its rows x its longest row) plus `overhead` per run, with no run over `budget`
    padded tokens (0: no cap; a row longer than the budget goes alone). An exact dynamic programme over the
    cut points, O(rows²). No rows: no micro-batch."""
    order = sorted(rows, key=lambda r: (-lengths[r], r))
    best, cut = [0.0] + [math.inf] * len(order), [0] * (len(order) + 1)
    for end in range(1, len(order) + 1):
        for start in range(end - 1, -1, -1):  # the run order[start:end]; its first row is its longest
            padded = (end - start) * lengths[order[start]]
            if budget > 0 and padded > budget and end - start > 1:
                break  # earlier starts only grow the run
            if best[start] + padded + overhead < best[end]:
                best[end], cut[end] = best[start] + padded + overhead, start
    batches, end = [], len(order)
    while end > 0:
        batches.append(order[cut[end]:end])
        end = cut[end]
    return batches[::-1]


def step_plan(group_ids: list[int], minibatches: int, epochs: int, rng: random.Random) -> list[set[int]]:
    """The groups of each optimiser step of one iteration: `epochs` passes, each shuffling every group (in place,
    one after the other) and cutting them into min(minibatches, groups) mini-batches. The first pass is what a
    single pass always was, so epochs = 1 trains as before; every rank makes the same plan (same ids, same seed)."""
    ids, steps = list(group_ids), []
    for _ in range(epochs):
        rng.shuffle(ids)
        steps += [set(c.tolist()) for c in np.array_split(np.array(ids), max(1, min(minibatches, len(ids))))]
    return steps


class _Rows:
    """One rank's rows of a policy update on its device: the padded inputs and each row's group, advantage and length."""

    def __init__(self, run, batch: ScoredBatch):
        cfg, device = run.cfg, run.device
        self.empty = not batch.trajectories
        trajs = batch.trajectories or [_empty_trajectory(run.tokenizer)]  # a rank with nothing finished still joins in
        self.inputs = policy_inputs(trajs, run.tokenizer.pad_token_id, cfg.mask_old_segments).to(device)
        if self.empty:
            rewards, self.group = torch.zeros(1, device=device), torch.full((1,), -1, device=device)
        else:
            rewards, self.group = batch.total.to(device), batch.group.to(device)
        self.lengths = self.inputs.attention.sum(1).tolist()
        # each row's first next-token position that predicts a response token: the head runs from there on
        response = self.inputs.response_mask
        self.first_response = torch.where(response.any(1), response.argmax(1), response.shape[1]).tolist()
        self.advantage = LOSSES.get(cfg.loss).advantage(rewards, self.group, cfg)  # whole groups on each rank: the same for any split
        _, inverse, counts = torch.unique(self.group, return_inverse=True, return_counts=True)
        self.group_size = counts[inverse].to(rewards.dtype)  # (N,) k of each row's group
        self.count = len(trajs)
        self.cfg, self.device = cfg, device

    def pixels(self, index: torch.Tensor) -> dict:
        """{"extra": the rows' pixel values} for the forward of the rows `index` when they carry images (image
        prompts of a vision-language model), else {}: a text batch's forward call stays exactly as it was."""
        if not self.inputs.pixel_values:
            return {}
        found = pixel_inputs([self.inputs.pixel_values[r] for r in index.tolist()], self.device)
        return {"extra": found} if found else {}

    def of_groups(self, groups: set[int]) -> list[int]:
        return [r for r in range(self.count) if int(self.group[r]) in groups]

    def microbatches(self, rows: list[int]) -> Iterator[tuple[list[int], torch.Tensor, int, int]]:
        """(rows, row index tensor, width, keep_from) per micro-batch, padded with empty ones to the count every
        rank runs (each forward of a wrapped model is a collective); an empty one runs row 0 and adds nothing.
        `keep_from`: the micro-batch's first next-token position with a response token (`token_logprobs`)."""
        batches = length_microbatches(rows, self.lengths, self.cfg.microbatch_tokens, self.cfg.microbatch_overhead)
        batches += [[] for _ in range(max(dist.all_gather(len(batches))) - len(batches))]
        for mb in batches:
            rows_ = mb or [0]
            width = max(self.lengths[r] for r in rows_)
            yield mb, torch.as_tensor(rows_, device=self.device), width, min(min(self.first_response[r] for r in rows_), width - 2)


def optimise(run, batch: ScoredBatch, it: int) -> dict[str, float]:
    """π_θi's log-probs, a fresh optimiser, then `epochs` x `minibatches` steps on whole groups (see the module
    docstring). `run` needs cfg, model, tokenizer, device, bf16 and optimizer (an `RLRun`). Returns loss, kl,
    entropy, the training tokens/s, and the last step's logratio_abs and tau_share, over all ranks."""
    cfg, model = run.cfg, run.model
    group_ids = sorted(g for ids in dist.all_gather(sorted(set(batch.group.tolist()))) for g in ids)
    if not group_ids:
        return {}
    rows = _Rows(run, batch)
    model.train()
    steps = step_plan(group_ids, cfg.minibatches, cfg.epochs, random.Random(cfg.seed * 100003 + it))
    logp_old = torch.zeros_like(rows.inputs.loss_mask)  # (N, T-1) log π_θi, fixed for the whole iteration
    later = [r for r in range(rows.count) if int(rows.group[r]) >= 0 and int(rows.group[r]) not in steps[0]]
    entropy_sum = _fill_old_logprobs(run, rows, later, logp_old)
    if cfg.reset_optimizer or run.optimizer is None:
        run.optimizer = new_optimizer(run)
    totals = {"kl_sum": 0.0, "kl_tokens": 0.0, "trained_tokens": 0, "entropy_sum": entropy_sum}
    losses, t0 = [], time.perf_counter()
    for step, chunk in enumerate(steps):
        losses.append(_minibatch_step(run, rows, chunk, logp_old, first=step == 0, totals=totals))
    seconds = time.perf_counter() - t0
    # the last step's (A_j, ρ_j) of every rank: how far π_θ got from π_θi, and how hard the τ term pulls back
    advantage, logratio = torch.tensor([p for part in dist.all_gather(totals["last_step"]) for p in part]).reshape(-1, 2).T
    response_tokens = 0.0 if rows.empty else float(rows.inputs.response_mask.sum())
    return {
        "loss": float(np.mean(losses)),
        "kl": dist.all_reduce_sum(totals["kl_sum"]) / max(dist.all_reduce_sum(totals["kl_tokens"]), 1.0),
        "entropy": dist.all_reduce_sum(totals["entropy_sum"]) / max(dist.all_reduce_sum(response_tokens), 1.0),
        "train_tokens_per_s": dist.all_reduce_sum(totals["trained_tokens"] / max(seconds, 1e-9)),
        "logratio_abs": float(logratio.abs().mean()) if len(logratio) else 0.0,
        "tau_share": tau_share(advantage, logratio, LOSSES.get(cfg.loss).tau(cfg)),
    }


@torch.no_grad()
def _fill_old_logprobs(run, rows: _Rows, later: list[int], logp_old: torch.Tensor) -> float:
    """log π_θi of the rows that later steps train on, into `logp_old`; returns their entropy sum (nats)."""
    inputs, entropy_sum = rows.inputs, 0.0
    for mb, mb_t, width, keep in rows.microbatches(later):
        with autocast(run.device, run.bf16):
            logp, logits = token_logprobs(run.model, inputs.ids[mb_t, :width], inputs.attention[mb_t, :width], keep, **rows.pixels(mb_t))
        if mb:
            logp_old[mb_t, : width - 1] = logp
            entropy_sum += float((entropy(logits) * inputs.response_mask[mb_t, keep: width - 1]).sum())
        del logits
    return entropy_sum


def _minibatch_step(run, rows: _Rows, chunk: set[int], logp_old: torch.Tensor, first: bool, totals: dict) -> float:
    """One optimiser step on the groups in `chunk`, gradients summed over micro-batches; returns the
    mini-batch's loss (mean over ranks). On the first step each row's forward also gives its log π_θi."""
    cfg, model, inputs = run.cfg, run.model, rows.inputs
    mine = rows.of_groups(chunk)
    # Each of the step's groups weighs 1/len(chunk), shared by its k rows; x world size because DDP averages.
    weight = dist.world_size() / (rows.group_size * len(chunk))
    policy_loss = LOSSES.get(cfg.loss)
    run.optimizer.zero_grad(set_to_none=True)
    step_loss, totals["last_step"] = 0.0, []  # (A_j, ρ_j) of this step's rows: after the loop, the last step's
    for mb, mb_t, width, keep in rows.microbatches(mine):
        with autocast(run.device, run.bf16):
            logp, logits = token_logprobs(model, inputs.ids[mb_t, :width], inputs.attention[mb_t, :width], keep, **rows.pixels(mb_t))
        mask, old = inputs.loss_mask[mb_t, : width - 1], logp_old[mb_t, : width - 1]
        if first and mb:  # the policy has not moved yet: this forward gives log π_θi
            with torch.no_grad():
                old = logp.detach()
                logp_old[mb_t, : width - 1] = old
                totals["entropy_sum"] += float((entropy(logits) * inputs.response_mask[mb_t, keep: width - 1]).sum())
        del logits
        if mb:
            with torch.no_grad():  # k3 estimate of KL(π_θ || π_θi) on this mini-batch, before its step
                d = (old - logp) * mask
                totals["kl_sum"] += float(((torch.exp(d) - d - 1) * mask).sum())
                totals["kl_tokens"] += float(mask.sum())
                # ρ_j = Σ_t (log π_θ − log π_θi) over trained tokens, the sequence log-ratio the k15 τ term penalises
                totals["last_step"] += list(zip(rows.advantage[mb_t].tolist(), (-d).sum(1).tolist()))
            terms = policy_loss.per_sample(logp * mask, old * mask, mask, rows.advantage[mb_t], cfg)
            loss = (terms * weight[mb_t]).sum()
            totals["trained_tokens"] += int(inputs.attention[mb_t].sum())
        else:  # nothing of this rank's in the micro-batch: a zero loss that still joins the collectives
            loss = logp.sum() * 0.0
        loss.backward()  # gradients add up over the micro-batches
        step_loss += float(loss.detach())
    if cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    run.optimizer.step()
    return dist.all_reduce_mean(step_loss)


def _empty_trajectory(tokenizer) -> Trajectory:
    """A one-token stand-in for a rank with no finished group this iteration (never in any loss)."""
    pad = tokenizer.pad_token_id
    return Trajectory(Problem(id="", prompt="", reference=""), -1, 0, [pad], [pad], [0.0], [0.0], [-1])
