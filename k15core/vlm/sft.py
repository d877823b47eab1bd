"""The warm-up SFT of k1.5 §2.2 on image prompts: `k15core.sft`'s recipe with pixel values in the forward.

The same warm-up set (`sft.build_warmup_set`: the task's problems, each solved in a style drawn from the mix),
the same loss (response tokens only, token-uniform weighting), the same learning-rate schedule (`sft.lr_at`).
What differs: each example's prompt is encoded by the VLM's processor with its images, which are stored in the
workspace's image store and read back from it by address (the examples carry addresses only); each batch's
forward gets the batch rows' pixel values. Batches are random (no length bucketing: the image prompts of one task
are of nearly one length, choice), each either all image prompts or all text (the text twin's examples that
`sft.text_examples` mixes in, `epoch_batches`).
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from k15core.config import SFTConfig
from k15core.errors import K15Error
from k15core.precision import autocast, use_bf16
from k15core.sft import SFTExample, SFTResult, build_warmup_set, lr_at, response_token_loss
from k15core.tokens import right_pad, span_mask
from k15core.vlm.images import ImageStore
from k15core.vlm.inputs import encode_prompt, pixel_inputs, store_pictures


@dataclass(frozen=True)
class VisualExample:
    """A warm-up example and the addresses of its prompt's images (in the workspace's image store)."""

    example: SFTExample
    images: tuple[str, ...]


@dataclass(frozen=True)
class EncodedExample:
    ids: list[int]
    """Prompt (image tokens in place) + response + EOS."""
    prompt_tokens: int
    pixel_values: torch.Tensor | None
    """(images, C, H, W) of the prompt."""


def visual_warmup_set(task, cfg: SFTConfig, store: ImageStore) -> list[VisualExample]:
    """`sft.build_warmup_set`'s examples, each with its problem's images, which are put into `store` (drawn by a
    picture task, read from a prompt file's image files: `inputs.store_pictures`)."""
    problems = {p.id: p for p in task.train_problems(cfg.examples, seed=cfg.seed)}  # the draw build_warmup_set makes
    store_pictures(task, list(problems.values()), store)
    out = []
    for e in build_warmup_set(task, cfg):
        problem = problems[e.problem_id]
        if any(a not in store for a in problem.images):
            raise K15Error(f"problem {problem.id!r}: its pictures do not have the addresses it names", "the task renders one picture per id")
        out.append(VisualExample(e, problem.images))
    return out


def encode_examples(processor, examples: list[VisualExample], store: ImageStore, eos: bool = True) -> list[EncodedExample]:
    """Each example's prompt with its pictures, then its response, then EOS unless `eos` is False (a target that
    is only the start of an answer, as the read stage's)."""
    tok = processor.tokenizer
    out = []
    for v in examples:
        prompt = encode_prompt(processor, v.example.prompt, [store.load(a) for a in v.images])
        response = tok(v.example.response, add_special_tokens=False)["input_ids"]
        out.append(EncodedExample(prompt.ids + response + ([tok.eos_token_id] if eos else []), len(prompt.ids), prompt.pixel_values))
    return out


def param_groups(model, vision_lr_scale: float) -> list[dict]:
    """AdamW groups: the language model (decoder and output head) at scale 1, everything else (the vision tower and
    the projector) at `vision_lr_scale`; train_visual_sft sets each group's lr to the schedule's times its scale."""
    language = {id(p) for m in (model.get_decoder(), model.get_output_embeddings()) for p in m.parameters()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in trainable if id(p) in language], "scale": 1.0},
              {"params": [p for p in trainable if id(p) not in language], "scale": vision_lr_scale}]
    return [g for g in groups if g["params"]]


def batch_inputs(rows: list[EncodedExample], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
    """(ids (B, T), attention (B, T), labels (B, T): -100 on prompt and padding, {"pixel_values": ...}) of `rows`."""
    ids, mask = right_pad([r.ids for r in rows], pad_id)
    responses = span_mask([(r.prompt_tokens, len(r.ids)) for r in rows], ids.shape[1])  # (B, T)
    return ids, mask, ids.masked_fill(responses == 0, -100), pixel_inputs([r.pixel_values for r in rows])


def response_loss(model, rows: list[EncodedExample], pad_id: int, device) -> tuple[torch.Tensor, int]:
    """(summed next-token loss over the rows' response tokens, number of those tokens)."""
    ids, mask, labels, pixels = batch_inputs(rows, pad_id)
    logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), **{k: v.to(device) for k, v in pixels.items()}).logits
    return response_token_loss(logits, labels.to(device), reduction="sum"), int(labels.ne(-100).sum())


def epoch_batches(encoded: list[EncodedExample], batch_size: int, rng: random.Random) -> list[list[int]]:
    """One epoch's batches of example indices: shuffled, each of one kind, with pictures or without (choice: a text
    twin's row among image prompts would be padded to their length, and cost nearly as much as one of them)."""
    order = list(range(len(encoded)))
    rng.shuffle(order)
    kinds = [[i for i in order if (encoded[i].pixel_values is None) == text] for text in (False, True)]
    batches = [kind[b: b + batch_size] for kind in kinds for b in range(0, len(kind), batch_size)]
    if all(kinds):  # both kinds: spread the text batches among the image ones
        rng.shuffle(batches)
    return batches


def train_visual_sft(model, processor, examples: list[VisualExample], cfg: SFTConfig, store: ImageStore, *,
                     out_dir: str | Path | None = None, on_step: Callable[[int, dict], None] | None = None,
                     max_steps: int | None = None, eos: bool = True) -> SFTResult:
    """Fine-tune the VLM on `examples` (loss on response tokens only); save model + processor to `out_dir` at the end.
    `eos`: whether each response ends the answer (see encode_examples)."""
    if not examples:
        raise K15Error("the warm-up set is empty", "set sft.examples to a positive number")
    device = next(model.parameters()).device
    bf16 = use_bf16(cfg.bf16, device)
    torch.manual_seed(cfg.seed)
    encoded = encode_examples(processor, examples, store, eos)
    pad = processor.tokenizer.pad_token_id
    steps_per_epoch = len(epoch_batches(encoded, cfg.batch_size, random.Random(0)))  # any order has as many
    total = steps_per_epoch * cfg.epochs if max_steps is None else min(max_steps, steps_per_epoch * cfg.epochs)
    tokens_per_batch = sum(len(e.ids) - e.prompt_tokens for e in encoded) / steps_per_epoch  # token-uniform, as sft.train_sft
    groups = param_groups(model, cfg.vision_lr_scale)
    params = [p for g in groups for p in g["params"]]
    opt = torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95), weight_decay=cfg.weight_decay)
    model.train()
    step, tokens, loss_value, t0 = 0, 0, float("nan"), time.perf_counter()
    for epoch in range(cfg.epochs):
        for batch in epoch_batches(encoded, cfg.batch_size, random.Random(cfg.seed + epoch)):
            if step >= total:
                break
            for group in opt.param_groups:
                group["lr"] = lr_at(step, total, cfg) * group["scale"]
            rows = [encoded[i] for i in batch]
            with autocast(device, bf16):
                loss_sum, n_tokens = response_loss(model, rows, pad, device)
            opt.zero_grad(set_to_none=True)
            (loss_sum / tokens_per_batch).backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            step += 1
            tokens += sum(len(r.ids) for r in rows)
            loss_value = loss_sum.item() / max(1, n_tokens)
            if on_step is not None:
                on_step(step, {"sft/loss": loss_value, "sft/lr": opt.param_groups[0]["lr"], "sft/tokens_per_s": tokens / (time.perf_counter() - t0)})
    seconds = time.perf_counter() - t0
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out_dir)
        processor.save_pretrained(out_dir)
    return SFTResult(steps=step, tokens=tokens, seconds=seconds, final_loss=loss_value, bf16=bf16)
