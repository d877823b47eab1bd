"""Prompts with images -> what a VLM's forward takes: token ids with the image tokens in place, and pixel values.

One prompt is encoded once, by the model's own processor (`EncodedPrompt`): its `<image>` markers become the
image's run of image tokens and its images become pixel values. A batch of rows then carries the rows' pixel
values concatenated in row order (`pixel_inputs`), which is the order LLaVA-style models fill the image tokens
of a (padded) batch in: row by row, left to right. Rows without images add nothing, so text rows and image
rows mix. Choice: the prompt text is given as it is (no chat template), as the tiny model was trained to read
it; a chat VLM's template is a later step (issue 23).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from PIL import Image


@dataclass(frozen=True)
class EncodedPrompt:
    ids: list[int]
    """Prompt token ids, each image marker expanded to the image's tokens."""
    pixel_values: torch.Tensor | None
    """(images, C, H, W) float, in the order of the prompt's markers; None for a prompt without images."""


def encode_prompt(processor, prompt: str, images: list[Image.Image]) -> EncodedPrompt:
    """The processor's ids and pixel values of one prompt (its markers and `images` must agree in number)."""
    if not images:
        return EncodedPrompt(processor.tokenizer(prompt, add_special_tokens=False)["input_ids"], None)
    out = processor(text=[prompt], images=list(images), return_tensors="pt")
    return EncodedPrompt(out["input_ids"][0].tolist(), out["pixel_values"])


def pixel_inputs(rows: list[torch.Tensor | None], device=None) -> dict[str, torch.Tensor]:
    """{"pixel_values": (images of all rows, C, H, W)} for the forward of a batch whose rows carry these pixel
    values (row order), or {} when no row has an image (a text batch's forward is left exactly as it was)."""
    present = [p for p in rows if p is not None]
    if not present:
        return {}
    pixels = torch.cat(present)
    return {"pixel_values": pixels if device is None else pixels.to(device)}


class ImagePromptEncoder:
    """problem -> `EncodedPrompt`, its images read from the workspace's image store by the addresses it carries."""

    def __init__(self, processor, store):
        self.processor, self.store = processor, store

    def __call__(self, problem) -> EncodedPrompt:
        return encode_prompt(self.processor, problem.prompt, [self.store.load(a) for a in problem.images])


def store_pictures(task, problems, store) -> int:
    """Put the pictures of a picture-drawing task's `problems` (`task.images(problem)`) into the image store, so
    that their addresses resolve; returns how many pictures there are. A task without pictures (a text task,
    or prompts whose images are already stored) has nothing to put."""
    count = 0
    for p in problems if hasattr(task, "images") else ():
        for img in task.images(p):
            store.put(img)
            count += 1
    return count
