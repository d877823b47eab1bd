"""Long2short with a vision-language long model: what the methods that sample it need beyond a text model.

`LongModel` is the long model as rejection sampling and DPO use it: the model, its tokenizer, and for a VLM its
processor and the workspace's image store, from which each training prompt is encoded with its pictures
(`encoded`: the sampler prefills with them, DPO scores with them). `load_long` picks the kind of the folder
(`model_kinds.kind_of`), as `stages` does for sft, eval and RL. What each method does with a VLM:
- merge: averages every weight, the vision tower's included, after checking both models read images alike (same
  image processor settings) and text alike (same tokenizer); the processor is saved with the merged model;
- rejection sampling: the VLM warm-up (`vlm.sft.train_visual_sft`) on the shortest correct answers, each with its
  prompt's pictures;
- DPO: every pair's two rows are scored with the prompt's pictures, by the reference and by the policy;
- long2short RL: the RL run, which takes image prompts already.
DPO on the pairs people marked in the studio (`visual_human_pairs`): each pair is read back from its stored rows (text
with an `<image>` marker) and its prompt's pictures from the store's prompt row, by their addresses, so it is scored
with the picture its answers were written for. The visual task's prompts of one level share one text, so two pairs
are the same only when their pictures are too (`choose_visual_pairs`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from k15core.config import Long2ShortConfig
from k15core.errors import K15Error
from k15core.long2short.selection import Sample, choose_pairs, dpo_pairs, pair_content
from k15core.tasks.problem import Problem
from k15core.model_kinds import kind_of
from k15core.models import load_model, pick_device
from k15core.vlm.images import ImageStore
from k15core.vlm.inputs import EncodedPrompt, ImagePromptEncoder, store_pictures


@dataclass
class LongModel:
    model: Any
    tokenizer: Any
    processor: Any = None
    """A VLM's processor (its tokenizer is `tokenizer`); None for a text model."""
    images: ImageStore | None = None
    """The workspace's image store, where a VLM's training prompts' pictures are."""

    @property
    def is_vision(self) -> bool:
        return self.processor is not None

    @property
    def saver(self):
        """What is saved beside the weights: the processor of a VLM (tokenizer and image processor), else the tokenizer."""
        return self.processor if self.is_vision else self.tokenizer

    def encoded(self, problems) -> list[EncodedPrompt] | None:
        """Each problem's prompt with its pictures, as the VLM's processor encodes it; None for a text model."""
        if not self.is_vision:
            return None
        encode = ImagePromptEncoder(self.processor, self.images)
        return [encode(p) for p in problems]


def load_long(ws, long_dir: Path, task, problems) -> LongModel:
    """The long model in `long_dir` on this machine's device; for a VLM, `problems`' pictures are put into the
    workspace's image store first. A VLM needs a task that draws pictures."""
    if kind_of(long_dir) != "vlm":
        model, tokenizer = load_model(long_dir, device=pick_device())
        return LongModel(model, tokenizer)
    from k15core.vlm.model import load_vlm

    if not hasattr(task, "images"):
        raise K15Error(f"the {task.name} task has no pictures, so a vision-language model has nothing to look at",
                       "--set task.name=visual-recurrence")
    store_pictures(task, problems, ws.images)
    model, processor = load_vlm(long_dir, device=pick_device())
    return LongModel(model, processor.tokenizer, processor, ws.images)


def visual_human_pairs(store, marked, long: LongModel, read_pairs) -> tuple[list, list[EncodedPrompt], int]:
    """(pairs, encoded prompt of each pair, pairs skipped) of the human pairs `marked`: `read_pairs(store, [pair])`
    (`stages.human_training_pairs` with the run's tokenizer and task) reads each one's rows back, and its prompt is
    encoded with the pictures its store row names. K15Error when a pair's prompt has no stored picture."""
    pairs, encoded, missing = [], [], 0
    encode = ImagePromptEncoder(long.processor, long.images)
    for mark in marked:
        got, gone = read_pairs(store, [mark])
        missing += gone
        if not got:
            continue
        addresses = tuple((store.prompt(mark.prompt) or {}).get("images") or ())
        if not addresses or any(a not in long.images for a in addresses):
            raise K15Error(f"prompt {mark.prompt!r} of a marked pair has no picture in this workspace's image store",
                           "train on pairs of the workspace whose run sampled them (its images/ folder holds the pictures)")
        pairs.append(got[0])
        encoded.append(encode(Problem(mark.prompt, got[0][0], "", images=addresses)))
    return pairs, encoded, missing


def choose_visual_pairs(source: str, auto, auto_encoded, human, human_encoded) -> tuple[list, list[EncodedPrompt]]:
    """`selection.choose_pairs` for image prompts, each pair with its encoded prompt: two pairs are the same when
    their prompt text, tokens and pictures are."""
    items = [list(zip(pairs, encoded, strict=True)) for pairs, encoded in ((auto, auto_encoded), (human, human_encoded))]
    chosen = choose_pairs(source, *items, key=lambda item: (pair_content(*item[0]), item[1].images))
    return [pair for pair, _ in chosen], [enc for _, enc in chosen]


def visual_pairs(problems, encoded: list[EncodedPrompt], groups: list[list[Sample]], cfg: Long2ShortConfig):
    """(pairs, encoded prompt of each pair): `train.build_pairs`'s pairs, each with its own problem's encoded prompt.
    By problem, not by prompt text: the visual task's prompts of one level share one text and differ by picture."""
    pairs, per_pair = [], []
    for p, enc, group in zip(problems, encoded, groups):
        for chosen, rejected in dpo_pairs(group, cfg.ratio, cfg.inclusive, cfg.max_pairs or None):
            pairs.append((p.prompt, chosen, rejected))
            per_pair.append(enc)
    return pairs, per_pair


def train_visual_rejection(long: LongModel, problems, groups, cfg: Long2ShortConfig, out_dir: Path | None):
    """Rejection sampling's fine-tune on a VLM: the VLM warm-up on each prompt's shortest correct answer, with its pictures."""
    from k15core.long2short.train import rejection_examples, rejection_sft_config
    from k15core.vlm.sft import VisualExample, train_visual_sft

    examples = rejection_examples(problems, groups)
    if not examples:
        raise K15Error("no prompt had a correct sample, so there is nothing to fine-tune on",
                       "sample more (long2short.samples) or use a stronger long model")
    images = {p.id: tuple(p.images) for p in problems}
    visual = [VisualExample(e, images[e.problem_id]) for e in examples]
    return train_visual_sft(long.model, long.processor, visual, rejection_sft_config(cfg), long.images, out_dir=out_dir), examples
