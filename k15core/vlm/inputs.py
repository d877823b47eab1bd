"""Prompts with images -> what a VLM's forward takes: token ids with the image tokens in place, and pixel values.

One prompt is encoded once, by the model's own processor (`EncodedPrompt`): its `<image>` markers become the
image's run of image tokens and its images become pixel values. A batch of rows then carries the rows' pixel
values concatenated in row order (`pixel_inputs`), which is the order LLaVA-style models fill the image tokens
of a (padded) batch in: row by row, left to right. Rows without images add nothing, so text rows and image
rows mix. A chat VLM (its processor has a chat template: SmolVLM, Qwen2.5-VL, LLaVA-1.5 ...) gets the prompt as one
user turn of its template with the assistant turn opened, as a text chat model does (`k15core.prompting`): the
prompt's text around each `<image>` marker becomes the turn's text parts and each marker an image part, in order, so
the template places the image where the prompt had it. The tiny VLM has no template and reads the prompt as it is.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from PIL import Image

from k15core.tasks.prompt_images import IMAGE_MARKER

NO_PICTURES_HELP = "--set task.name=visual-recurrence, or --set task.path=FILE: a prompt file with an images column"
"""What to do when a vision-language model is given prompts without pictures."""


@dataclass(frozen=True)
class EncodedPrompt:
    ids: list[int]
    """Prompt token ids, each image marker expanded to the image's tokens."""
    pixel_values: torch.Tensor | None
    """(images, C, H, W) float, in the order of the prompt's markers; None for a prompt without images."""
    images: tuple[str, ...] = ()
    """The pictures' addresses in the image store, when they came from it (`ImagePromptEncoder`): which pictures."""


def chat_turn(prompt: str, instruction: str = "") -> list[dict]:
    """The prompt as one user message of content parts: its text around each image marker, and an image part for
    each marker, in order (`instruction`, the task's, ends the last text part).

    >>> chat_turn("Seq <image>, steps: 2", " Answer.")[0]["content"]
    [{'type': 'text', 'text': 'Seq '}, {'type': 'image'}, {'type': 'text', 'text': ', steps: 2 Answer.'}]
    """
    pieces = (prompt + instruction).split(IMAGE_MARKER)
    content = [{"type": "text", "text": pieces[0]}] if pieces[0] else []
    for text in pieces[1:]:
        content.append({"type": "image"})
        if text:
            content.append({"type": "text", "text": text})
    return [{"role": "user", "content": content}]


def rendered(processor, prompt: str, instruction: str = "") -> str:
    """The text the processor encodes: the chat template's user turn with the assistant turn opened (a chat VLM,
    whose template writes its own image placeholders), or the prompt as it is (a VLM without a template)."""
    if not getattr(processor, "chat_template", None):
        return prompt
    return processor.apply_chat_template(chat_turn(prompt, instruction), add_generation_prompt=True, tokenize=False)


def encode_prompt(processor, prompt: str, images: list[Image.Image], instruction: str = "") -> EncodedPrompt:
    """The processor's ids and pixel values of one prompt (its markers and `images` must agree in number); a chat
    VLM's prompt through its chat template (`rendered`), whose special tokens it carries (none are added)."""
    text = rendered(processor, prompt, instruction)
    if not images:
        return EncodedPrompt(processor.tokenizer(text, add_special_tokens=False)["input_ids"], None)
    templated = {"add_special_tokens": False} if getattr(processor, "chat_template", None) else {}  # the template wrote them
    out = processor(text=[text], images=list(images), return_tensors="pt", **templated)
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

    def __init__(self, processor, store, instruction: str = ""):
        self.processor, self.store, self.instruction = processor, store, instruction

    def __call__(self, problem) -> EncodedPrompt:
        encoded = encode_prompt(self.processor, problem.prompt, [self.store.load(a) for a in problem.images], self.instruction)
        return EncodedPrompt(encoded.ids, encoded.pixel_values, tuple(problem.images))


def shows_pictures(task, problems) -> bool:
    """Whether a VLM has pictures to look at: the task draws them, or some of `problems` name images."""
    return hasattr(task, "images") or any(p.images for p in problems)


def store_pictures(task, problems, store) -> int:
    """Put the pictures of `problems` into the image store, so that their addresses resolve; returns how many
    were put. A picture-drawing task's are drawn (`task.images(problem)`); a prompt file's (rows with an images
    column) are read from their files and checked against the addresses the rows were read with (a file changed
    since: K15Error, nothing stored). Prompts from the store have theirs stored already; text prompts have none."""
    if hasattr(task, "images"):
        count = 0
        for p in problems:
            for img in task.images(p):
                store.put(img)
                count += 1
        return count
    from k15core.tasks import store_prompt_images

    return store_prompt_images([p for p in problems if p.meta.get("image_files")], store)
