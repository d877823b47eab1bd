"""The k1.5 RL trainer: one iteration reads like the report (§2.3, §2.6); `train` loops, checkpoints, resumes.

One iteration (`rl_iteration`):
    1. steer     read the studio's prompt labels (exclusions, edited references) from the store
    2. rollout   buffered partial rollouts first, then new prompts (k samples each), within the
                 per-iteration token budget; loops are stopped by the repeat detector
    3. reward    verifier correctness + length penalty (after its warm-up) + repeat penalty
    4. train     π_θi := the current policy (its log-probs computed once, no gradient); a fresh
                 optimiser (the report resets it every iteration); a few mini-batch steps on the
                 chosen loss (k1.5 by default)
    5. record    success rates to the sampler; metrics and every trajectory to the store

Choices the report leaves open (spec §13), made here and configurable in `RLConfig`: τ, k, prompts
per iteration, optimiser (AdamW) and learning rate, mini-batches per iteration (whole groups per
mini-batch), rollout temperature 1.0 and top-p 1.0, `log π_θi` recomputed by the trainer at the
start of the iteration (not taken from the rollout engine; the engine's log-probs are stored for
inspection), and the length-penalty schedule.
"""
from __future__ import annotations

import dataclasses
import math
import random
import signal
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from k15core import dist, labels
from k15core.errors import K15Error
from k15core.losses import LOSSES
from k15core.models import autocast, save_model
from k15core.rewards import LengthPenaltySchedule, total_reward
from k15core.rollout.engine import ENGINES, make_engine
from k15core.rollout.partial import Group, ReplayBuffer, Trajectory, rollout_step
from k15core.rollout.repeat import RepeatRule
from k15core.sampling import CurriculumPhase, PromptSampler, SuccessTracker
from k15core.tasks.base import Problem, Task
from k15core.types import TrajectoryRecord


@dataclass
class PhaseConfig:
    """One curriculum phase."""

    start_iteration: int = 0
    """First iteration of the phase."""
    levels: list[int] = field(default_factory=list)
    """Difficulty levels drawn in the phase (empty: all)."""


@dataclass
class RLConfig:
    """The RL phase. Values marked (choice) are not given by the report."""

    iterations: int = 40
    """RL iterations."""
    prompts_per_iter: int = 16
    """Groups (prompts) per iteration, buffered continuations included. (choice)"""
    k: int = 8
    """Samples per prompt. (choice)"""
    loss: str = "k15"
    """Policy loss: 'k15' (the report's), 'grpo' or 'reinforce' (baselines)."""
    tau: float = 0.05
    """τ of the k1.5 loss: weight of the squared log-ratio to π_θi. (choice)"""
    logz: str = "mean"
    """Estimate of τ log Z: 'mean' (the report's practical choice) or 'logmeanexp'."""
    clip_eps: float = 0.2
    """GRPO only: the PPO clip range."""
    lr: float = 5e-5
    """AdamW learning rate. (choice: the optimiser is reset every iteration, so its first steps are
    sign-like and move every weight by about lr; at 1e-4 that noise wore down the warm-up's long-CoT
    skill on the demo task (long answers 98% -> 84% right on level 5), at 5e-5 it did not.)"""
    minibatches: int = 2
    """Optimiser steps per iteration (each on whole groups). (choice)"""
    reset_optimizer: bool = True
    """A fresh optimiser every iteration, as the report does."""
    grad_clip: float = 1.0
    """Clip the global gradient norm (0 disables)."""
    temperature: float = 1.0
    """Rollout sampling temperature. (choice)"""
    top_p: float = 1.0
    """Rollout nucleus sampling. (choice)"""
    max_response_tokens: int = 96
    """Longest response; longer ones are cut and marked truncated."""
    segment_tokens: int = 0
    """Partial rollouts: most tokens one response may generate per iteration (0: no limit)."""
    mask_old_segments: bool = True
    """Partial rollouts: leave tokens generated in earlier iterations out of the loss."""
    length_penalty: float = 0.0
    """Weight w of the length reward (0: off)."""
    length_penalty_warmup: int = 0
    """Iterations without the length penalty before it switches on."""
    repeat_penalty: float = 0.5
    """Reward subtracted from a response stopped by the repeat detector."""
    repeat_ngram: int = 8
    """Repeat detector: longest repeated n-gram looked for."""
    repeat_min_repeats: int = 4
    """Repeat detector: back-to-back repetitions that count as a loop."""
    sampler: str = "prioritised"
    """'prioritised' (P ∝ 1 − success rate), 'curriculum' or 'uniform'."""
    curriculum: list[PhaseConfig] = field(default_factory=list)
    """Phases [{start_iteration, levels}] for 'curriculum' (and 'prioritised' within them)."""
    priority_floor: float = 0.0
    """Prioritised sampling: minimum weight, so solved prompts can still be drawn (0: the report's rule)."""
    success_prior: float = 0.5
    """Success rate assumed for prompts never sampled."""
    pool_size: int = 2000
    """Training prompts drawn from the task for RL (never overlapping the held-out set)."""
    checkpoint_every: int = 10
    """Save a checkpoint every N iterations (also at the end, and on Ctrl-C / SIGTERM in one process)."""
    strategy: str = "ddp"
    """Under torchrun: 'ddp' (each rank holds all the weights) or 'fsdp2' (weights sharded across ranks;
    the rollout engine keeps a plain copy). Ignored in one process."""
    engine: str = "hf"
    """Rollout engine: 'hf' (Hugging Face generate on the policy; any device) or 'vllm' (CUDA GPUs, the
    `gpu` extra; colocated, asleep while the policy trains)."""
    compact_rollouts: bool = True
    """HF engine: drop finished responses from the batch as they end (k15core/rollout/compact.py); off:
    Hugging Face `generate`, which computes every row until the longest ends. Same distribution."""
    vllm_gpu_memory: float = 0.3
    """vLLM only: share of the GPU's memory its weights and KV cache may take while awake."""
    microbatch_tokens: int = 0
    """Gradient accumulation by token budget: each optimiser step runs over micro-batches of at most this many
    padded tokens (rows x longest row; 0: no cap). Same gradient, less memory."""
    microbatch_overhead: int = 256
    """The cost of one more forward and backward, in padded tokens. Each step's rows are sorted by length and cut
    into the micro-batches that minimise padded tokens + this per micro-batch (`length_microbatches`): a split
    is made only where it saves more padding than it costs. Same gradient; 0 splits wherever padding drops,
    a huge value keeps one micro-batch (the old behaviour). On a 2-core CPU 256 and 64 are within noise of each
    other and 1.7x faster than one micro-batch; 0 (a forward per row) is slower (benchmarks/roofline.py)."""
    bf16: str = "auto"
    """bf16 autocast of the policy's forward passes: 'auto' (on CUDA GPUs that support it), 'on' or 'off'.
    (On a CPU without native bf16 it is emulated, slowly: measured in benchmarks/warmup.py.)"""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass instead of keeping them (less memory, about 30% more compute)."""
    seed: int = 0
    """Seed of the prompt pool, the sampler and the rollouts."""


@dataclass
class TrainState:
    """Everything besides the weights that `--resume` needs to continue exactly."""

    iteration: int = 0
    """Iterations completed."""
    next_group: int = 0
    label_seq: int = 0
    """Last label event applied."""
    run_id: int = 0


def check_choices(cfg: RLConfig) -> None:
    """A K15Error naming the key and its allowed values for any RLConfig choice that is not one of them
    (checked before any model is loaded or any run is recorded)."""
    allowed = {"loss": LOSSES.names(), "strategy": dist.STRATEGIES, "engine": ENGINES, "bf16": ("auto", "on", "off"),
               "sampler": PromptSampler.STRATEGIES, "logz": ("mean", "logmeanexp")}
    for key, values in allowed.items():
        if getattr(cfg, key) not in values:
            raise K15Error(f"rl.{key} is {getattr(cfg, key)!r}, which is not one of: {', '.join(values)}", f"e.g. --set rl.{key}={values[0]}")


class StopTraining(KeyboardInterrupt):
    """Raised by the SIGTERM handler (a KeyboardInterrupt, so every caller treats it like Ctrl-C):
    `train` checkpoints, marks the run stopped and re-raises."""


@dataclass
class PhaseTimer:
    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def __call__(self, name: str):
        t0 = time.perf_counter()
        yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0


@dataclass
class ScoredBatch:
    """The finished groups of one iteration with their rewards."""

    trajectories: list[Trajectory]
    group: torch.Tensor  # (N,) group id of each trajectory
    parts: dict[str, torch.Tensor]  # name -> (N,): correct, length, repeat, total

    @staticmethod
    def concat(batches: list[ScoredBatch]) -> ScoredBatch:
        """One batch of several (the ranks' batches in rank order)."""
        if len(batches) == 1:
            return batches[0]
        keys = batches[0].parts.keys()
        return ScoredBatch([t for b in batches for t in b.trajectories], torch.cat([b.group for b in batches]),
                           {k: torch.cat([b.parts[k] for b in batches]) for k in keys})


class RLRun:
    """The state of one RL run: policy, optimiser, sampler, replay buffer, store handle."""

    def __init__(self, cfg: RLConfig, task: Task, model, tokenizer, store, run_id: int, pool: list[Problem], rollout_model=None, model_path=None):
        """`model` is the policy to train (possibly DDP/FSDP2-wrapped: `dist.prepare_model`), `rollout_model`
        the one the HF engine samples from (default: the policy itself), `model_path` the folder it was
        loaded from (the vLLM engine starts from it). `store` is None on ranks other than 0."""
        check_choices(cfg)
        self.cfg, self.task, self.model, self.tokenizer, self.store = cfg, task, model, tokenizer, store
        self.device = next(model.parameters()).device
        self.bf16 = cfg.bf16 == "on" or (cfg.bf16 == "auto" and self.device.type == "cuda" and torch.cuda.is_bf16_supported())
        phases = [CurriculumPhase(p.start_iteration, list(p.levels)) for p in cfg.curriculum]
        self.sampler = PromptSampler(pool, cfg.sampler, phases, cfg.priority_floor, SuccessTracker(prior=cfg.success_prior), cfg.seed)
        self.task_problems = {p.id: p for p in pool}  # as the task made them, before any label
        self.problems = dict(self.task_problems)  # with the labels applied
        self.buffer = ReplayBuffer()
        self.state = TrainState(run_id=run_id)
        self.optimizer: torch.optim.Optimizer | None = None
        self.length_schedule = LengthPenaltySchedule(cfg.length_penalty_warmup, cfg.length_penalty)
        self.repeat_rule = RepeatRule(max_ngram=cfg.repeat_ngram, min_repeats=cfg.repeat_min_repeats)
        self.engine = make_engine(cfg, model, rollout_model or dist.unwrap(model), tokenizer, model_path, self.repeat_rule)


# -- one iteration ---------------------------------------------------------------------------------

def rl_iteration(run: RLRun) -> dict[str, float]:
    """One RL iteration, in the report's order. Returns its metrics (also written to the store).

    Under torchrun every rank runs this same function on its share of the prompts; the helpers it calls
    exchange what must be shared (label events, group counts, success rates, metrics) through `dist`.
    """
    it, timer = run.state.iteration, PhaseTimer()
    with timer("steer"):
        apply_labels(run)  # the studio's exclusions and edits take effect now
    with timer("rollout"):
        groups, generated = rollout(run, it)  # buffered continuations first, then new prompts
    done = [g for g in groups if g.done]
    run.buffer.push([g for g in groups if not g.done])
    with timer("reward"):
        batch = score(run, done, it)
    with timer("train"):
        train_stats = optimise(run, batch, it)
    update_sampler(run, done, batch)  # success rates for prioritised sampling
    with timer("store"):
        metrics = record(run, batch, train_stats, generated, timer)
    metrics["time/store_s"] = timer.seconds["store"]
    run.state.iteration += 1
    return metrics


def apply_labels(run: RLRun) -> None:
    """Fold the label events written since the last iteration into the sampler's pool.

    Each prompt that got an event is re-derived from its whole history (k15core.labels): status
    "excluded" removes it, any other status restores it; a labelled `reference` or `difficulty`
    replaces the task's, and resetting the label (an undo) brings the task's value back.
    """
    new_events, states = dist.on_main(read_label_changes, run.store, run.state.label_seq)
    if not new_events:
        return
    changed = sorted({ev["prompt_id"] for ev in new_events})
    for pid in changed:
        state = states.get(pid, labels.DEFAULT)
        (run.sampler.excluded.add if state.excluded else run.sampler.excluded.discard)(pid)
        if pid in run.task_problems:
            base = run.task_problems[pid]
            run.problems[pid] = dataclasses.replace(
                base, reference=state.reference or base.reference, difficulty=state.difficulty or base.difficulty
            )
    run.sampler.pool = [run.problems.get(p.id, p) for p in run.sampler.pool]
    run.state.label_seq = max(ev["seq"] for ev in new_events)


def read_label_changes(store, since_seq: int) -> tuple[list[dict], dict]:
    """The label events after `since_seq`, and the current label of every prompt they touch."""
    events = store.label_events(since_seq=since_seq)
    return events, store.prompt_labels(sorted({ev["prompt_id"] for ev in events})) if events else {}


def rollout(run: RLRun, it: int) -> tuple[list[Group], int]:
    """Continue the buffered groups, draw new prompts for the rest, and generate one segment each.

    `prompts_per_iter` counts the groups of all ranks together. Every rank draws the same prompts (its
    sampler is the same) and keeps its block of them (`dist.split_new_groups`); group ids are global.
    """
    cfg = run.cfg
    groups = run.buffer.pop_all()
    groups = [g for g in groups if g.problem.id not in run.sampler.excluded]  # an exclusion also drops its partial work
    counts = dist.split_new_groups(cfg.prompts_per_iter, dist.all_gather(len(groups)))
    drawn = run.sampler.draw(sum(counts), it)
    start = sum(counts[: dist.rank()])
    for offset, problem in enumerate(drawn[start : start + counts[dist.rank()]], start):
        prompt_ids = run.tokenizer(problem.prompt, add_special_tokens=False)["input_ids"]
        gid = run.state.next_group + offset
        groups.append(Group(gid, problem, [Trajectory(problem, gid, j, list(prompt_ids)) for j in range(cfg.k)], started=it))
    run.state.next_group += len(drawn)

    generated = rollout_step(groups, it, run.engine.continue_ids, cfg.segment_tokens, cfg.max_response_tokens)
    return groups, generated


def score(run: RLRun, groups: list[Group], it: int) -> ScoredBatch:
    """Correctness from the task's verifier, plus the length and repeat terms."""
    trajs = [t for g in groups for t in g.members]
    texts = [run.tokenizer.decode(t.token_ids, skip_special_tokens=True) for t in trajs]
    correct = torch.tensor([run.task.verify(x, t.problem.reference) for x, t in zip(texts, trajs)], dtype=torch.float32)
    group = torch.tensor([t.group for t in trajs], dtype=torch.long)
    parts = total_reward(
        correct,
        torch.tensor([len(t.token_ids) for t in trajs]),
        torch.tensor([t.repeated for t in trajs], dtype=torch.bool),
        group,
        run.length_schedule.weight_at(it),
        run.cfg.repeat_penalty,
    ) if trajs else {k: torch.zeros(0) for k in ("correct", "length", "repeat", "total")}
    return ScoredBatch(trajs, group, parts)


def policy_inputs(trajs: list[Trajectory], pad_id: int, it: int, mask_old: bool):
    """Right-padded prompt + response ids and the loss mask over next-token predictions.

    Returns ids (N, T), attention (N, T), loss_mask (N, T-1) and response_mask (N, T-1): position t
    of the masks refers to the prediction of token t + 1. `loss_mask` leaves out tokens generated
    in earlier iterations when `mask_old` (they stay in the context).
    """
    width = max(len(t.prompt_ids) + len(t.token_ids) for t in trajs)
    ids = torch.full((len(trajs), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(trajs), width), dtype=torch.long)
    loss_mask = torch.zeros((len(trajs), width - 1))
    response_mask = torch.zeros((len(trajs), width - 1))
    for row, t in enumerate(trajs):
        seq = t.prompt_ids + t.token_ids
        ids[row, : len(seq)] = torch.tensor(seq)
        attention[row, : len(seq)] = 1
        p = len(t.prompt_ids)
        for j, made_in in enumerate(t.token_iteration):
            response_mask[row, p + j - 1] = 1
            if not mask_old or made_in == it:
                loss_mask[row, p + j - 1] = 1
    return ids, attention, loss_mask, response_mask


def token_logprobs(model, ids: torch.Tensor, attention: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, T) ids -> token log-probs (N, T-1) of ids[:, 1:], and the logits (N, T-1, V) that gave them."""
    logits = model(input_ids=ids, attention_mask=attention).logits[:, :-1].float()
    return torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None]).squeeze(-1), logits


def optimise(run: RLRun, batch: ScoredBatch, it: int) -> dict[str, float]:
    """π_θi's log-probs once, a fresh optimiser, then `minibatches` steps on whole groups.

    Under torchrun the mini-batches split the groups of all ranks (shuffled the same way everywhere), each
    rank trains on its own members of each, and its loss is weighted by its share of the mini-batch's groups:
    the gradient the ranks average is the one a single process would get on the whole mini-batch. Every
    rank takes the same number of steps, one with no group in a mini-batch included (a zero loss), because
    each forward and backward of a wrapped model is a collective.

    Each step sums weighted per-response terms over micro-batches of rows sorted by length (`length_microbatches`):
    the advantages are computed once on whole groups and each response weighs 1/(k · groups in the step), so any
    split gives the loss and gradient of the whole mini-batch, with less padding (and, under `microbatch_tokens`,
    less memory).
    """
    cfg, model = run.cfg, run.model
    group_ids = sorted(g for ids in dist.all_gather(sorted(set(batch.group.tolist()))) for g in ids)
    if not group_ids:
        return {}
    trajs = batch.trajectories or [_empty_trajectory(run.tokenizer)]  # a rank with nothing finished still joins in
    ids, attention, loss_mask, response_mask = (x.to(run.device) for x in policy_inputs(trajs, run.tokenizer.pad_token_id, it, cfg.mask_old_segments))
    rewards, group = (batch.parts["total"].to(run.device), batch.group.to(run.device)) if batch.trajectories else (torch.zeros(1, device=run.device), torch.full((1,), -1, device=run.device))
    lengths = attention.sum(1).tolist()
    policy_loss = LOSSES.get(cfg.loss)
    advantage = policy_loss.advantage(rewards, group, cfg)  # groups are whole on each rank: the same for any split
    _, inverse, counts = torch.unique(group, return_inverse=True, return_counts=True)
    group_size = counts[inverse].to(rewards.dtype)  # k of each row's group
    model.train()
    random.Random(cfg.seed * 100003 + it).shuffle(group_ids)
    chunks = np.array_split(np.array(group_ids), max(1, min(cfg.minibatches, len(group_ids))))

    def microbatches(rows: list[int]):
        """(rows, row index tensor, width) per micro-batch, padded with empty ones to the count every rank runs
        (each forward of a wrapped model is a collective); an empty one runs row 0 and adds nothing."""
        batches = length_microbatches(rows, lengths, cfg.microbatch_tokens, cfg.microbatch_overhead)
        batches += [[] for _ in range(max(dist.all_gather(len(batches))) - len(batches))]
        for mb in batches:
            yield mb, torch.as_tensor(mb or [0], device=run.device), max(lengths[r] for r in (mb or [0]))

    # log π_θi, fixed for the whole iteration. The first step's rows get it from their own forward (θ = θi
    # until that step), so only the later steps' rows need a forward of their own: none with one mini-batch.
    logp_old, entropy_sum = torch.zeros_like(loss_mask), 0.0
    later = [r for r in range(len(trajs)) if int(group[r]) >= 0 and int(group[r]) not in set(chunks[0].tolist())]
    with torch.no_grad():
        for rows, rows_t, width in microbatches(later):
            with autocast(run.device, run.bf16):
                logp, logits = token_logprobs(model, ids[rows_t, :width], attention[rows_t, :width])
            if rows:
                logp_old[rows_t, : width - 1] = logp
                entropy_sum += _entropy_sum(logits, response_mask[rows_t, : width - 1])
            del logits
    response_tokens = float(response_mask.sum()) if batch.trajectories else 0.0
    if cfg.reset_optimizer or run.optimizer is None:
        run.optimizer = new_optimizer(run)
    losses, kl_sum, kl_tokens, trained_tokens, t0 = [], 0.0, 0.0, 0, time.perf_counter()
    for step, chunk in enumerate(chunks):
        in_chunk = set(chunk.tolist())
        mine = [r for r in range(len(trajs)) if int(group[r]) in in_chunk]
        # Each of the step's groups weighs 1/len(chunk), shared by its k rows; x world size because DDP averages.
        weight = dist.world_size() / (group_size * len(chunk))
        run.optimizer.zero_grad(set_to_none=True)
        step_loss = 0.0
        for rows, rows_t, width in microbatches(mine):
            with autocast(run.device, run.bf16):
                logp, logits = token_logprobs(model, ids[rows_t, :width], attention[rows_t, :width])
            mask, old = loss_mask[rows_t, : width - 1], logp_old[rows_t, : width - 1]
            if step == 0 and rows:  # the policy has not moved yet: this forward gives log π_θi
                with torch.no_grad():
                    old = logp.detach()
                    logp_old[rows_t, : width - 1] = old
                    entropy_sum += _entropy_sum(logits, response_mask[rows_t, : width - 1])
            del logits
            if rows:
                with torch.no_grad():  # k3 estimate of KL(π_θ || π_θi) on this mini-batch, before its step
                    d = (old - logp) * mask
                    kl_sum, kl_tokens = kl_sum + float(((torch.exp(d) - d - 1) * mask).sum()), kl_tokens + float(mask.sum())
                terms = policy_loss.per_sample(logp * mask, old * mask, mask, advantage[rows_t], cfg)
                loss = (terms * weight[rows_t]).sum()
                trained_tokens += int(attention[rows_t].sum())
            else:  # nothing of this rank's in the micro-batch: a zero loss that still joins the collectives
                loss = logp.sum() * 0.0
            loss.backward()  # gradients add up over the micro-batches
            step_loss += float(loss.detach())
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        run.optimizer.step()
        losses.append(dist.all_reduce_mean(step_loss))  # the whole mini-batch's loss
    run.engine.load_weights(model)  # the next rollout samples from θ_{i+1}
    seconds = time.perf_counter() - t0
    return {
        "loss": float(np.mean(losses)), "kl": dist.all_reduce_sum(kl_sum) / max(dist.all_reduce_sum(kl_tokens), 1.0),
        "entropy": dist.all_reduce_sum(entropy_sum) / max(dist.all_reduce_sum(response_tokens), 1.0),
        "train_tokens_per_s": dist.all_reduce_sum(trained_tokens / max(seconds, 1e-9)),
    }


def new_optimizer(run: RLRun) -> torch.optim.Optimizer:
    """AdamW over the policy's trainable parameters (the sharded ones under FSDP2: `dist.trainable_parameters`)."""
    return torch.optim.AdamW(dist.trainable_parameters(run.model), lr=run.cfg.lr, betas=(0.9, 0.95), weight_decay=0.0)


def _entropy_sum(logits: torch.Tensor, mask: torch.Tensor) -> float:
    """Sum over the masked positions of the policy's entropy (nats) at each of them."""
    logp = torch.log_softmax(logits.float(), -1)
    return float((-(logp.exp() * logp).sum(-1) * mask).sum())


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


def _empty_trajectory(tokenizer) -> Trajectory:
    """A one-token stand-in for a rank with no finished group this iteration (never in any loss)."""
    pad = tokenizer.pad_token_id
    return Trajectory(Problem(id="", prompt="", reference=""), -1, 0, [pad], [pad], [0.0], [0.0], [-1])


def update_sampler(run: RLRun, done: list[Group], batch: ScoredBatch) -> None:
    """Each finished group's success rate to the sampler: every rank's groups, in rank order, on every
    rank, so all ranks' samplers stay the same (and draw the same prompts next iteration)."""
    rates = [(g.problem.id, float(batch.parts["correct"][batch.group == g.id].mean())) for g in done]
    for ranks_rates in dist.all_gather(rates):
        for prompt_id, rate in ranks_rates:
            run.sampler.update(prompt_id, rate)


# -- metrics and records -----------------------------------------------------------------------------

def record(run: RLRun, batch: ScoredBatch, train: dict, generated: int, timer: PhaseTimer) -> dict[str, float]:
    """The iteration's metrics over all ranks' groups, and every trajectory, written to the store by rank 0
    (timings are rank 0's). Returns the metrics on every rank."""
    batches = dist.gather_to_main(batch)
    generated, buffered = int(dist.all_reduce_sum(generated)), int(dist.all_reduce_sum(len(run.buffer)))

    def write() -> dict[str, float]:
        whole = ScoredBatch.concat(batches)
        metrics = iteration_metrics(run, whole, train, generated, timer, buffered)
        run.store.record_iteration(run.state.run_id, run.state.iteration, metrics, to_records(run, whole))
        return metrics

    return dist.on_main(write)


def iteration_metrics(run: RLRun, batch: ScoredBatch, train: dict, generated: int, timer: PhaseTimer, buffered: int | None = None) -> dict[str, float]:
    """The per-iteration metrics documented in `k15core.metrics.METRICS` (rl/...). `buffered`: groups
    waiting in the replay buffers of all ranks (default: this process's)."""
    buffered = len(run.buffer) if buffered is None else buffered
    m: dict[str, float] = {"rl/groups": len(set(batch.group.tolist())), "rl/buffered_groups": buffered, "rl/excluded_prompts": len(run.sampler.excluded)}
    m["rl/length_penalty_weight"] = run.length_schedule.weight_at(run.state.iteration)
    m["time/rollout_tokens_per_s"] = generated / max(timer.seconds.get("rollout", 0.0), 1e-9)
    for phase, s in timer.seconds.items():
        m[f"time/{phase}_s"] = s
    if not batch.trajectories:
        return m
    correct = batch.parts["correct"].numpy()
    lengths = np.array([len(t.token_ids) for t in batch.trajectories], dtype=float)
    m["rl/reward"] = float(batch.parts["total"].mean())
    m["rl/accuracy"] = float(correct.mean())
    levels = np.array([t.problem.difficulty for t in batch.trajectories])
    for d in sorted(set(levels.tolist())):
        m[f"rl/accuracy/d{d}"] = float(correct[levels == d].mean())
        m[f"rl/len_mean/d{d}"] = float(lengths[levels == d].mean())
    m["rl/len_mean"] = float(lengths.mean())
    for q in (10, 50, 90):
        m[f"rl/len_p{q}"] = float(np.percentile(lengths, q))
    for name, sel in (("correct", correct == 1), ("wrong", correct == 0)):
        if sel.any():
            m[f"rl/len_mean_{name}"] = float(lengths[sel].mean())
    m["rl/truncated"] = float(np.mean([t.truncated for t in batch.trajectories]))
    m["rl/repeated"] = float(np.mean([t.repeated for t in batch.trajectories]))
    m["rl/segments_mean"] = float(np.mean([t.segments for t in batch.trajectories]))
    m["rl/length_reward"] = float(batch.parts["length"].mean())
    totals = batch.parts["total"]
    same = [bool((totals[batch.group == g] == totals[batch.group == g][0]).all()) for g in batch.group.unique()]
    m["rl/same_reward_groups"] = float(np.mean(same))
    for key in ("loss", "kl", "entropy"):
        if key in train:
            m[f"rl/{key}"] = train[key]
    if "train_tokens_per_s" in train:
        m["time/train_tokens_per_s"] = train["train_tokens_per_s"]
    return m


def to_records(run: RLRun, batch: ScoredBatch) -> list[TrajectoryRecord]:
    out = []
    for i, t in enumerate(batch.trajectories):
        out.append(
            TrajectoryRecord(
                prompt_id=t.problem.id, sample_index=t.sample_index, prompt=t.problem.prompt,
                response=run.tokenizer.decode(t.token_ids, skip_special_tokens=True), token_ids=t.token_ids, logprobs=t.logprobs, entropies=t.entropies,
                reward=float(batch.parts["total"][i]), correct=float(batch.parts["correct"][i]), length=len(t.token_ids),
                reward_parts={k: float(v[i]) for k, v in batch.parts.items() if k != "total"},
                finished=t.eos, truncated=t.truncated, repeated=t.repeated, segments=t.segments, difficulty=t.problem.difficulty,
                tag=f"group:{t.group}",
            )
        )
    return out


# -- checkpoints and the loop ------------------------------------------------------------------------

def save_checkpoint(run: RLRun, directory: Path) -> None:
    """Policy weights (save_pretrained layout) and trainer state, written to a temp dir then swapped in.

    Called by every rank (the full weights, buffers and optimiser state are collectives); rank 0 writes.
    Nothing in it depends on the world size: the weights and optimiser state are full tensors keyed by
    name, the replay buffer holds every rank's groups, and the sampler is the same on every rank. So a run
    saved by N processes resumes with any number (`load_checkpoint`).
    """
    keep_optimizer = not run.cfg.reset_optimizer and run.optimizer is not None
    state = {
        "state": dataclasses.asdict(run.state),
        "sampler": run.sampler.state_dict(),
        "buffer": ReplayBuffer([g for groups in dist.gather_to_main(run.buffer.groups) or [] for g in groups]),
        "problems": run.problems,
        "optimizer": dist.optimizer_state(run.model, run.optimizer) if keep_optimizer else None,
        "torch_rng": dist.gather_to_main(torch.get_rng_state()),  # one per rank
        "python_rng": random.getstate(),
        "world_size": dist.world_size(),
    }
    tmp = directory.with_name(directory.name + ".tmp")
    save_policy(run, tmp / "policy")
    dist.on_main(_finish_checkpoint, tmp, directory, state)


def save_policy(run: RLRun, out_dir: Path) -> None:
    """The policy in the Hugging Face layout. Every rank calls it (the full weights of a wrapped model are a
    collective); rank 0 writes."""
    weights = dist.full_state_dict(run.model) if dist.active() else None  # None: the module saves its own
    dist.on_main(save_model, dist.unwrap(run.model), run.tokenizer, out_dir, state_dict=weights)


def _finish_checkpoint(tmp: Path, directory: Path, state: dict) -> None:
    """Write the trainer state beside the policy in `tmp`, then swap `tmp` in for `directory`."""
    torch.save(state, tmp / "trainer_state.pt")
    if directory.exists():
        import shutil

        old = directory.with_name(directory.name + ".old")
        directory.rename(old)
        tmp.rename(directory)
        shutil.rmtree(old)
    else:
        tmp.rename(directory)


def load_checkpoint(run: RLRun, directory: Path) -> None:
    """Restore the trainer state saved by `save_checkpoint` (the policy weights are loaded by the caller).

    At the world size it was saved with, every rank gets its own random state back and the run continues
    exactly. At another, the buffered groups are shared out again and each rank's sampling is reseeded
    (from the seed, the iteration and the rank), with a notice: the run continues, not bit for bit.
    """
    saved = torch.load(directory / "trainer_state.pt", weights_only=False)
    run.state = TrainState(**saved["state"])
    run.sampler.load_state_dict(saved["sampler"])
    run.buffer = ReplayBuffer(dist.shard(saved["buffer"].groups))
    run.problems = saved["problems"]
    run.sampler.pool = [run.problems.get(p.id, p) for p in run.sampler.pool]
    if saved["optimizer"] is not None:
        run.optimizer = new_optimizer(run)
        dist.load_optimizer_state(run.model, run.optimizer, saved["optimizer"])
    rng_states = saved["torch_rng"] if isinstance(saved["torch_rng"], list) else [saved["torch_rng"]]
    if len(rng_states) == dist.world_size():
        torch.set_rng_state(rng_states[dist.rank()])
    else:
        dist.print0(f"resuming on {dist.world_size()} process(es) a run saved on {len(rng_states)}: rollouts are reseeded, so it will not repeat the original run's samples")
        torch.manual_seed(dist.rank_seed(run.cfg.seed + 7919 * run.state.iteration))
    random.setstate(saved["python_rng"])


def train(run: RLRun, checkpoint_dir: Path, on_iteration=None, progress: bool = True) -> dict[str, float]:
    """Run iterations until `cfg.iterations`; checkpoint every N, at the end, and on Ctrl-C / SIGTERM
    (in one process; under torchrun the last periodic checkpoint stands, see below).

    Returns the last iteration's metrics. The store's run status ends as 'finished' or 'stopped'.
    """
    from tqdm.auto import tqdm

    cfg = run.cfg
    if run.state.iteration == 0:
        torch.manual_seed(dist.rank_seed(cfg.seed))
        random.seed(cfg.seed)

    def on_sigterm(signum, frame):
        raise StopTraining()

    previous = signal.signal(signal.SIGTERM, on_sigterm) if _main_thread() else None
    bar = tqdm(total=cfg.iterations, initial=run.state.iteration, desc="RL", unit="it", disable=not (progress and dist.is_main()))
    metrics: dict[str, float] = {}
    try:
        while run.state.iteration < cfg.iterations:
            metrics = rl_iteration(run)
            bar.update(1)
            bar.set_postfix(acc=f"{metrics.get('rl/accuracy', math.nan):.2f}", len=f"{metrics.get('rl/len_mean', math.nan):.0f}")
            if on_iteration is not None and dist.is_main():
                on_iteration(run.state.iteration - 1, metrics)
            if cfg.checkpoint_every and run.state.iteration % cfg.checkpoint_every == 0:
                save_checkpoint(run, checkpoint_dir)
    except (KeyboardInterrupt, StopTraining):
        # Under torchrun the ranks are interrupted wherever they are, and a checkpoint is a collective they
        # cannot all join: the last periodic checkpoint (every `checkpoint_every`) is the one to resume from.
        if not dist.active():
            save_checkpoint(run, checkpoint_dir)
        if dist.is_main():
            run.store.set_run_status(run.state.run_id, "stopped")
        bar.close()
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    bar.close()
    save_checkpoint(run, checkpoint_dir)
    dist.on_main(lambda: run.store.set_run_status(run.state.run_id, "finished"))
    return metrics


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
