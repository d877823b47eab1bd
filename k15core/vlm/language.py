"""The language stage before a VLM's read stage and warm-up: its language model learns the task in text first.

Why (choice, issue 23; the report starts from a pretrained multimodal model and does not describe one): a real VLM
is built on a pretrained language model (LLaVA: a language model, a vision tower, a projector between them), so
it can already do the steps when it learns to see. The tiny VLM's language model starts from random weights; in
the warm-up on image prompts alone it learned to read (the read stage) and the steps less well: its greedy
written-out solutions had the steps right on 85 %, where the text demo's are right on all (README,
Vision-language models). The stage trains the VLM on the task's text twin (`task.text_task()`: the same problems,
what the picture shows written in the prompt, e.g. 'Seq 372, steps: 4') with the text warm-up's own code
(`sft.build_warmup_set` with the same style mix, `sft.train_sft`: its loss, schedule, length-bucketed batches),
`sft.text_steps` steps of `sft.batch_size`. The text twin has the image task's held-out problems as its own, so no
held-out (digits, steps) problem is trained on. No pictures pass: the vision tower and projector get no gradient.

Measured (README): with the stage the steps come right (96-100 %), but the read stage after it takes off late or
not at all (seed 0: 78 % of digits read after the warm-up; seeds 1 and 2: 34 and 44 %, against 94-97 % without
the stage), so `vision.yaml` leaves it off and mixes the text twin into the warm-up instead (`sft.text_examples`,
`mixed_text_examples`): the model reads first, then practises the steps on text among the image prompts.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

from k15core.config import SFTConfig
from k15core.errors import K15Error
from k15core.sft import SFTExample, SFTResult, build_warmup_set, train_sft
from k15core.vlm.sft import VisualExample

TEXT_SEED = 104_729
"""Added to sft.seed for the language stage's draw of problems, so it is not the warm-up set's draw (choice)."""


def language_config(cfg: SFTConfig) -> SFTConfig:
    """The warm-up config the language stage trains with: text_steps batches, one pass, the warm-up's rate and
    schedule over them."""
    return dataclasses.replace(cfg, examples=cfg.text_steps * cfg.batch_size, epochs=1, seed=cfg.seed + TEXT_SEED, checkpoint_every=0)


def text_twin(task):
    """The task's text twin (`task.text_task()`); K15Error for a task without one."""
    if not hasattr(task, "text_task"):
        raise K15Error(f"the {task.name} task has no text twin to teach the language model with",
                       "set sft.text_steps=0 and sft.text_examples=0, or use a task with one (visual-recurrence)")
    return task.text_task()


def text_set(task, cfg: SFTConfig) -> list[SFTExample]:
    """The text twin's warm-up set for the language stage (text_steps x batch_size examples)."""
    return build_warmup_set(text_twin(task), language_config(cfg))


def mixed_text_examples(task, cfg: SFTConfig) -> list:
    """`sft.text_examples` examples of the text twin as warm-up examples without pictures (`VisualExample`s with no
    images), shuffled in among the warm-up's image prompts by `train_visual_sft`: the same style mix, a draw of
    problems other than the warm-up's."""
    if not cfg.text_examples:
        return []
    draw = dataclasses.replace(cfg, examples=cfg.text_examples, seed=cfg.seed + TEXT_SEED)  # the language stage's seed offset
    return [VisualExample(e, ()) for e in build_warmup_set(text_twin(task), draw)]


def train_language(model, processor, task, cfg: SFTConfig, on_step: Callable[[int, dict], None] | None = None) -> SFTResult:
    """The language stage on `model` in place (nothing saved: the read stage and the warm-up continue from it)."""
    return train_sft(model, processor.tokenizer, text_set(task, cfg), language_config(cfg), on_step=on_step, progress=False)
