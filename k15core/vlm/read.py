"""The "read the digits" stage before a VLM's warm-up, and the check of how well a VLM reads.

Why a stage (choice, issue 23; the report does not describe one): in the mixed warm-up only the 3 digits a long
answer copies off the picture depend on it, among some 40 target tokens, and the short answers depend on it only
through the answer; the tiny VLM learned the answer formats but read at chance. The stage's examples are the
task's image prompts with the target `task.reading(problem)`, what the picture shows written as the long style's
answer starts ('x=3 y=7 z=2'), with no EOS after it (the answer goes on after reading), so the whole loss is on
reading. It runs through the warm-up's own code (`sft.train_visual_sft`): `sft.read_steps` steps of
`sft.batch_size` prompts at the constant rate `sft.read_lr`, one pass.

`read_accuracy` scores reading as greedy decoding would read given the prefix: on each prompt followed by its
reading, is the model's most likely token the right digit at each digit position (teacher-forced)?
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import torch

from k15core.config import SFTConfig
from k15core.errors import K15Error
from k15core.sft import SFTExample, SFTResult
from k15core.vlm.images import ImageStore
from k15core.vlm.sft import VisualExample, batch_inputs, encode_examples, train_visual_sft

READ_SEED = 7919
"""Added to sft.seed for the read stage's draw of problems, so it is not the warm-up set's draw (choice)."""


def read_config(cfg: SFTConfig) -> SFTConfig:
    """The warm-up config the read stage trains with: read_steps batches, one pass, at the constant rate read_lr.

    Constant (choice, measured on the grid task at 3e-4: 33 % of digits read after 400 steps against 24 % with
    the warm-up's cosine decay, which lowers the rate just as reading takes off, after 300-400 steps)."""
    return dataclasses.replace(cfg, examples=cfg.read_steps * cfg.batch_size, epochs=1, lr=cfg.read_lr,
                               warmup_steps=0, min_lr_ratio=1.0, checkpoint_every=0, vision_lr_scale=cfg.read_vision_lr_scale)


def read_set(task, cfg: SFTConfig, store: ImageStore) -> list[VisualExample]:
    """read_steps x batch_size training problems, each with its picture (put into `store`) and its reading as target."""
    if not hasattr(task, "reading"):
        raise K15Error(f"the {task.name} task does not say what its pictures show, so there is nothing to read",
                       "set sft.read_steps=0, or use a task with a reading (visual-recurrence)")
    out = []
    for p in task.train_problems(cfg.read_steps * cfg.batch_size, seed=cfg.seed + READ_SEED):
        addresses = tuple(store.put(img) for img in task.images(p))
        out.append(VisualExample(SFTExample(p.prompt, task.reading(p), p.id, "read", p.difficulty), addresses))
    return out


def train_reading(model, processor, task, cfg: SFTConfig, store: ImageStore,
                  on_step: Callable[[int, dict], None] | None = None) -> SFTResult:
    """The read stage on `model` in place (nothing saved: the warm-up continues from it)."""
    return train_visual_sft(model, processor, read_set(task, cfg, store), read_config(cfg), store, on_step=on_step, eos=False)


@dataclass(frozen=True)
class ReadScore:
    digits: float
    """Share of the digits read right (teacher-forced greedy)."""
    all: float
    """Share of pictures with every digit read right."""
    problems: int


@torch.no_grad()
def read_accuracy(model, processor, task, problems, store: ImageStore, batch_size: int = 50) -> ReadScore:
    """How well `model` reads the pictures of `problems` (see the module docstring); leaves the model in eval mode."""
    model.eval()
    device = next(model.parameters()).device
    examples = [VisualExample(SFTExample(p.prompt, task.reading(p)), tuple(store.put(i) for i in task.images(p))) for p in problems]
    digit_ids = {processor.tokenizer.convert_tokens_to_ids(str(d)) for d in range(10)}
    right, total, all_right = 0, 0, 0
    for b in range(0, len(examples), batch_size):
        rows = encode_examples(processor, examples[b: b + batch_size], store, eos=False)
        ids, mask, labels, pixels = batch_inputs(rows, processor.tokenizer.pad_token_id)
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), **{k: v.to(device) for k, v in pixels.items()}).logits
        guess, target = logits[:, :-1].argmax(-1).cpu(), labels[:, 1:]  # position t predicts token t+1
        digits = torch.tensor([[int(t) in digit_ids for t in row] for row in target.tolist()])
        hits = (guess == target) & digits
        right, total = right + int(hits.sum()), total + int(digits.sum())
        all_right += int((hits.sum(1) == digits.sum(1)).sum())
    return ReadScore(right / max(1, total), all_right / max(1, len(examples)), len(examples))
