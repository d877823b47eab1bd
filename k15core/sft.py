"""Supervised fine-tuning: the long-CoT warm-up of k1.5 §2.2 in miniature.

The warm-up set mixes solution styles (bare answers to full scratchpads) for every difficulty, so the
warmed-up model can write both short and long answers but has no preference for either. Choosing
when to think longer is left for RL to discover. The loss is the causal-LM loss on response tokens
only (prompt tokens are masked), averaged over tokens.

Choices the report leaves open (k1.5 §13): the size of the warm-up set, its style mix and the number
of epochs. Defaults are sized so the warm-up takes a few minutes on a 2-core CPU.
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from k15core.config import SFTConfig
from k15core.errors import K15Error
from k15core.models import save_model
from k15core.precision import autocast, use_bf16
from k15core.prompting import prompt_ids
from k15core.tasks.base import Task
from k15core.tokens import right_pad, span_mask


@dataclass
class SFTExample:
    prompt: str
    response: str
    problem_id: str = ""
    style: str = ""
    difficulty: int = 0
    instruction: str = ""
    """The task's answer instruction, added to the prompt of a chat model (`k15core.prompting`)."""


def _checked_mix(task: Task, mix: dict[str, float], key: str) -> tuple[list[str], list[float]]:
    unknown = set(mix) - set(task.styles)
    if unknown:
        raise K15Error(f"{key} names unknown style(s) {sorted(unknown)}", f"task {task.name!r} has styles {list(task.styles)}")
    if not mix or sum(mix.values()) <= 0 or min(mix.values()) < 0:
        raise K15Error(f"{key} weights must be non-negative and not all zero", "e.g. {short: 0.4, medium: 0.2, long: 0.4}")
    return list(mix), list(mix.values())


def build_warmup_set(task: Task, cfg: SFTConfig) -> list[SFTExample]:
    """`cfg.examples` training problems, each solved in a style drawn from its level's mix (seeded)."""
    mixes = {level: _checked_mix(task, mix, f"sft.style_mix_by_level.{level}") for level, mix in cfg.style_mix_by_level.items()}
    default = _checked_mix(task, cfg.style_mix, "sft.style_mix")
    rng = random.Random(cfg.seed)
    examples = []
    for p in task.train_problems(cfg.examples, seed=cfg.seed):
        styles, weights = mixes.get(p.difficulty, default)
        style = rng.choices(styles, weights=weights)[0]
        examples.append(SFTExample(p.prompt, task.solution(p, style), p.id, style, p.difficulty, task.instruction))
    return examples


def tokenize_examples(tokenizer, examples: list[SFTExample]) -> list[tuple[list[int], int]]:
    """(token ids of prompt + response + EOS, number of prompt tokens) for each example."""
    prompts = [prompt_ids(tokenizer, e.prompt, e.instruction) for e in examples]
    responses = tokenizer([e.response for e in examples], add_special_tokens=False)["input_ids"]
    return [(p + r + [tokenizer.eos_token_id], len(p)) for p, r in zip(prompts, responses)]


def make_batches(tokenized: list[tuple[list[int], int]], batch_size: int, seed: int, pad_id: int):
    """Shuffled batches of similar lengths (less padding), right-padded; labels are -100 on prompt and padding.

    Yields (input_ids, attention_mask, labels), each (B, T).
    """
    rng = random.Random(seed)
    order = list(range(len(tokenized)))
    rng.shuffle(order)
    # Sort within windows of 50 batches by length, then shuffle the batches: similar lengths, random order.
    window = batch_size * 50
    batches = []
    for w in range(0, len(order), window):
        idx = sorted(order[w: w + window], key=lambda i: len(tokenized[i][0]))
        batches += [idx[b: b + batch_size] for b in range(0, len(idx), batch_size)]
    rng.shuffle(batches)
    for idx in batches:
        ids, mask = right_pad([tokenized[i][0] for i in idx], pad_id)  # (B, T) each
        responses = span_mask([(tokenized[i][1], len(tokenized[i][0])) for i in idx], ids.shape[1])  # (B, T)
        yield ids, mask, ids.masked_fill(responses == 0, -100)


def micro_batches(ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor, max_tokens: int):
    """Slices of one right-padded batch (B, T) of at most `max_tokens` padded tokens each (at least one row), in row
    order, each cut to its own longest row: the rows come length-sorted from `make_batches`, so the short rows' slices
    drop most of the padding. Yields (input_ids, attention_mask, labels). max_tokens 0: the batch whole.

    >>> ids = torch.tensor([[5, 6, 0, 0], [5, 6, 7, 0], [5, 6, 7, 8]]); m = ids.ne(0).long()
    >>> [tuple(x.shape) for x, _, _ in micro_batches(ids, m, ids, 8)]
    [(2, 3), (1, 4)]
    """
    rows = ids.shape[0] if max_tokens <= 0 else max(1, max_tokens // ids.shape[1])
    for start in range(0, ids.shape[0], rows):
        piece = slice(start, start + rows)
        width = int(mask[piece].sum(-1).max())
        yield ids[piece, :width], mask[piece, :width], labels[piece, :width]


def accumulate_gradients(model, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor], max_tokens: int, scale: float,
                         bf16: bool) -> float:
    """Backward of (summed response-token loss of the batch) / scale into the parameters' .grad, one `micro_batches`
    slice at a time: the gradients add up to the whole batch's. Returns the summed loss."""
    device = next(model.parameters()).device
    total = 0.0
    for ids, mask, labels in micro_batches(*batch, max_tokens):
        ids, mask, labels = ids.to(device), mask.to(device), labels.to(device)
        with autocast(device, bf16):
            logits = model(input_ids=ids, attention_mask=mask).logits  # (b, t, V)
        piece = response_token_loss(logits, labels, reduction="sum")
        (piece / scale).backward()
        total += piece.item()
        del logits, piece  # this slice's activations are freed before the next slice makes its own
    return total


def response_token_loss(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Next-token cross-entropy on positions whose label is not -100. logits (B, T, V), labels (B, T)."""
    shifted = logits[:, :-1].float().reshape(-1, logits.shape[-1])  # (B*(T-1), V): position t predicts token t+1
    targets = labels[:, 1:].reshape(-1)  # (B*(T-1),)
    return torch.nn.functional.cross_entropy(shifted, targets, ignore_index=-100, reduction=reduction)


def lr_at(step: int, total: int, cfg: SFTConfig) -> float:
    """Linear warm-up to cfg.lr, then cosine decay to cfg.lr * cfg.min_lr_ratio."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


@dataclass
class SFTResult:
    steps: int
    tokens: int
    """Tokens processed (prompt + response, padding excluded)."""
    seconds: float
    final_loss: float
    bf16: bool

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / max(self.seconds, 1e-9)


def train_sft(
    model,
    tokenizer,
    examples: list[SFTExample],
    cfg: SFTConfig,
    *,
    out_dir: str | Path | None = None,
    on_step: Callable[[int, dict], None] | None = None,
    progress: bool = True,
    max_steps: int | None = None,
) -> SFTResult:
    """Fine-tune `model` on `examples` (loss on response tokens only); save to `out_dir` at the end."""
    from tqdm.auto import tqdm

    if not examples:
        raise K15Error("the warm-up set is empty", "set sft.examples to a positive number")
    device = next(model.parameters()).device
    bf16 = use_bf16(cfg.bf16, device)
    torch.manual_seed(cfg.seed)
    tokenized = tokenize_examples(tokenizer, examples)
    steps_per_epoch = math.ceil(len(tokenized) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs if max_steps is None else min(max_steps, steps_per_epoch * cfg.epochs)
    # Token-uniform weighting: sum the token losses and divide by the mean number of response tokens
    # per batch (one constant), so every response token weighs the same over the epoch. A per-batch
    # mean would give a batch of 14-token bare answers (length bucketing groups them) the same step
    # size as a batch of 160-token scratchpads, and those one-shot answers are mostly noise early on.
    response_tokens = sum(len(seq) - n_prompt for seq, n_prompt in tokenized)
    tokens_per_batch = response_tokens / steps_per_epoch
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, betas=(0.9, 0.95), weight_decay=cfg.weight_decay)
    model.train()
    step, tokens, loss_value, t0 = 0, 0, float("nan"), time.perf_counter()
    bar = tqdm(total=total, desc="warm-up SFT", unit="step", disable=not progress)
    for epoch in range(cfg.epochs):
        for ids, mask, labels in make_batches(tokenized, cfg.batch_size, cfg.seed + epoch, tokenizer.pad_token_id):
            if step >= total:
                break
            for group in opt.param_groups:
                group["lr"] = lr_at(step, total, cfg)
            opt.zero_grad(set_to_none=True)
            token_loss_sum = accumulate_gradients(model, (ids, mask, labels), cfg.microbatch_tokens, tokens_per_batch, bf16)
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            step += 1
            tokens += int(mask.sum())
            loss_value = token_loss_sum / max(1, int(labels.ne(-100).sum()))  # reported: mean per token
            elapsed = time.perf_counter() - t0
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.3f}", tok_s=f"{tokens / elapsed:,.0f}")
            if on_step is not None:
                on_step(step, {"sft/loss": loss_value, "sft/lr": opt.param_groups[0]["lr"], "sft/tokens_per_s": tokens / elapsed})
            if out_dir is not None and cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
                save_model(model, tokenizer, out_dir)
    bar.close()
    seconds = time.perf_counter() - t0
    if out_dir is not None:
        save_model(model, tokenizer, out_dir)
    return SFTResult(steps=step, tokens=tokens, seconds=seconds, final_loss=loss_value, bf16=bf16)
