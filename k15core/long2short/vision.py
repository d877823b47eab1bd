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
DPO on the pairs people marked in the studio is refused for a VLM for now (`refuse_human_pairs`): those pairs are
read back from stored rows whose prompts are text with an `<image>` marker, and re-attaching each prompt's pictures
from the store's prompt rows is not built.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from k15core.config import Long2ShortConfig
from k15core.errors import K15Error
from k15core.long2short.selection import Sample, dpo_pairs
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


def refuse_human_pairs(long: LongModel, pairs: str) -> None:
    if long.is_vision and pairs != "auto":
        raise K15Error(f"--pairs {pairs}: DPO on pairs people marked is not built for image prompts yet (the stored answers' prompts "
                       "would need their pictures re-attached from the store)", "use --pairs auto with a vision-language model")


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
