"""The digit recurrence with its seed digits drawn in an image: the default task, for vision-language models.

    prompt  Seq <image>, steps: 4          image: "372" drawn on a 48 x 48 picture
    answer  x=3 y=7 z=2 d=2+3=05 c=5+7=12 b=2+2=04 a=4+5=09
            Answer: 9

Everything but the seed is `k15core.tasks.recurrence`'s: the levels (steps 1, 2, 3, 4, 6), the styles
(short, medium, long, recheck) and their solutions, the verifier. The model must now read the three digits off
the image, and the long style writes what it read first (x=3 y=7 z=2), so thinking pays twice: reading, then
the steps. `<image>` is where the processor puts the image's tokens (`k15core.vlm.model.IMAGE_TOKEN`).

Rendering (choices): each problem's picture is drawn from a generator seeded by the problem's id, so one problem
always shows the same picture and the held-out set, disjoint by id from every training draw, shares no
(digits, steps) problem with it, whatever the picture. Pillow's bundled fonts only (the FreeType one at 12 to 18
pixels, bold or not from 16 on, and the small bitmap one), so every machine draws with the same fonts; a light background
and dark ink of random grey levels, a random position where the digits fit whole, and Gaussian pixel noise of
random strength (sigma 0 to 24 grey levels).
"""
from __future__ import annotations

import functools
import hashlib
import random

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from k15core.tasks.base import Problem
from k15core.tasks.recurrence import LEVELS, RecurrenceTask, make_problem
from k15core.vlm.images import image_address

IMAGE_MARKER = "<image>"
"""Where the image goes in the prompt; equal to `k15core.vlm.model.IMAGE_TOKEN` (tested), kept here so the
task does not import the model code."""
IMAGE_SIZE = 48
"""Pictures are drawn at the tiny model's input size, so resizing changes nothing."""
NAME = "visual-recurrence"
GRID_NAME = "visual-recurrence-grid"
"""The same task drawn in the grid look (`render_grid`): larger digits at fixed places, easier to read."""


def _font(rng: random.Random) -> tuple[ImageFont.ImageFont | ImageFont.FreeTypeFont, int]:
    """(font, stroke width) drawn at random: FreeType at 12-18 px (bold, stroke 1, one time in three from 16 px on:
    bold smaller digits run together), or the bitmap font."""
    if rng.random() < 0.2:
        return ImageFont.load_default_imagefont(), 0
    size = rng.randint(12, 18)
    return ImageFont.load_default(size=size), int(size >= 16 and rng.random() < 1 / 3)


def _noised(img: Image.Image, rng: random.Random, seed: int) -> Image.Image:
    """`img` (grey) with Gaussian pixel noise of random strength (sigma 0 to 24 grey levels), as RGB."""
    sigma = rng.uniform(0, 24)
    noise = np.random.default_rng(seed).normal(0, sigma, (IMAGE_SIZE, IMAGE_SIZE))
    pixels = np.clip(np.asarray(img, dtype=np.float64) + noise, 0, 255).round().astype(np.uint8)
    return Image.fromarray(pixels, mode="L").convert("RGB")


def render_digits(digits: str, seed: int) -> Image.Image:
    """`digits` drawn on an IMAGE_SIZE x IMAGE_SIZE RGB picture; the same (digits, seed) always give the same pixels."""
    rng = random.Random(seed)
    background, ink = rng.randint(190, 255), rng.randint(0, 90)
    img = Image.new("L", (IMAGE_SIZE, IMAGE_SIZE), background)
    draw = ImageDraw.Draw(img)
    font, stroke = _font(rng)
    left, top, right, bottom = draw.textbbox((0, 0), digits, font=font, stroke_width=stroke)
    x = rng.randint(1, max(1, IMAGE_SIZE - 1 - (right - left))) - left
    y = rng.randint(1, max(1, IMAGE_SIZE - 1 - (bottom - top))) - top
    draw.text((x, y), digits, fill=ink, font=font, stroke_width=stroke, stroke_fill=ink)
    return _noised(img, rng, seed)


def render_grid(digits: str, seed: int) -> Image.Image:
    """The 'grid' look: each digit centred (within a pixel) in its own third of the picture, 16 pixels wide (two
    patch columns of the tiny VLM), at 20 to 24 px, the row at the middle within 6 pixels; grey levels and noise as
    render_digits. Why (issue 23): which digit is x is then where it is, and each digit spans about 2 x 3 patches."""
    rng = random.Random(seed)
    background, ink = rng.randint(190, 255), rng.randint(0, 90)
    img = Image.new("L", (IMAGE_SIZE, IMAGE_SIZE), background)
    draw = ImageDraw.Draw(img)
    font, dy, cell = ImageFont.load_default(size=rng.randint(20, 24)), rng.randint(-6, 6), IMAGE_SIZE // 3
    for i, d in enumerate(digits):
        left, top, right, bottom = draw.textbbox((0, 0), d, font=font)
        x = cell * i + (cell - (right - left)) // 2 - left + rng.randint(-1, 1)
        draw.text((x, (IMAGE_SIZE - (bottom - top)) // 2 - top + dy), d, fill=ink, font=font)
    return _noised(img, rng, seed)


def seed_digits(problem: Problem) -> tuple[str, int]:
    """(seed digits, steps) of a problem, read from its id ('visual-recurrence:372|4')."""
    digits, steps = problem.id.split(":", 1)[1].split("|")
    return digits, int(steps)


RENDERERS = {NAME: render_digits, GRID_NAME: render_grid}
"""Each task name's way of drawing (the task's name starts its problems' ids)."""


@functools.lru_cache(maxsize=8192)
def picture(problem_id: str) -> Image.Image:
    """The picture of the problem with this id, seeded by the id's hash (cached: the task draws each one twice)."""
    name, rest = problem_id.split(":", 1)
    return RENDERERS[name](rest.split("|")[0], int(hashlib.sha256(problem_id.encode()).hexdigest()[:16], 16))


def make_visual_problem(seed: list[int], steps: int, difficulty: int, name: str = NAME) -> Problem:
    text = make_problem(seed, steps, difficulty)
    pid = f"{name}:{''.join(map(str, seed))}|{steps}"
    return Problem(id=pid, prompt=f"Seq {IMAGE_MARKER}, steps: {steps}\n", reference=text.reference, difficulty=difficulty,
                   task=name, images=(image_address(picture(pid)),))


class VisualRecurrenceTask(RecurrenceTask):
    """The digit recurrence read off a picture; see the module docstring.

    >>> p = VisualRecurrenceTask(eval_per_level=1).train_problems(1, seed=0)[0]
    >>> p.prompt.startswith("Seq <image>, steps: ") and len(p.images) == 1
    True
    """

    name = NAME
    LEVELS = LEVELS

    def _random_problem(self, rng: random.Random, level: int) -> Problem:
        return make_visual_problem([rng.randrange(10) for _ in range(3)], LEVELS[level], level, self.name)

    def solution(self, problem: Problem, style: str) -> str:
        digits, steps = seed_digits(problem)
        return super().solution(make_problem([int(c) for c in digits], steps, problem.difficulty), style)

    def reading(self, problem: Problem) -> str:
        """What the picture shows, written as the long style's answer starts: 'x=3 y=7 z=2' (the target of the
        VLM's read stage, `k15core.vlm.read`)."""
        return " ".join(f"{name}={digit}" for name, digit in zip("xyz", seed_digits(problem)[0]))

    def text_task(self) -> RecurrenceTask:
        """The same task in text: the seed digits written in the prompt ('Seq 372, steps: 4'), with this task's levels
        and held-out set (the same (digits, steps) problems), for the VLM's language stage (`k15core.vlm.language`)."""
        return RecurrenceTask(levels=self.levels, eval_per_level=self.eval_per_level, eval_seed=self.eval_seed)

    def images(self, problem: Problem) -> list[Image.Image]:
        """The pictures the problem's prompt shows, in the order of its markers (one here)."""
        return [picture(problem.id)]


class VisualRecurrenceGridTask(VisualRecurrenceTask):
    """The visual recurrence drawn in the grid look (`render_grid`): easier pictures for the tiny VLM (issue 23)."""

    name = GRID_NAME
