"""Near-duplicate images (perceptual hash) join the text de-duplication: image prompts with the same text are copies
only when their pictures are near-duplicates."""
from __future__ import annotations

import numpy as np
from PIL import Image

from k15core.curation.image_dedup import MAX_DISTANCE, distance, image_groups, phash
from k15core.tasks.visual_recurrence import render_digits


def _renoised(img: Image.Image, sigma: float, seed: int) -> Image.Image:
    pixels = np.asarray(img, dtype=np.float64) + np.random.default_rng(seed).normal(0, sigma, np.asarray(img).shape)
    return Image.fromarray(np.clip(pixels, 0, 255).round().astype(np.uint8))


def test_a_renoised_picture_stays_close_and_another_picture_does_not():
    """60 of the task's drawings: noise of sigma 12 keeps each within MAX_DISTANCE; another drawing, of the same digits
    or of others, lies beyond it (the numbers the module docstring gives)."""
    same, other = [], []
    for k in range(60):
        digits = f"{k % 10}{k * 3 % 10}{k * 7 % 10}"
        img = render_digits(digits, k)
        h = phash(img)
        same.append(distance(h, phash(_renoised(img, 12, k))))
        other.append(min(distance(h, phash(render_digits(digits, k + 100))),
                         distance(h, phash(render_digits(f"{(k + 5) % 10}{(k * 3 + 1) % 10}{k * 7 % 10}", k + 200)))))
    assert max(same) < MAX_DISTANCE < min(other), (max(same), min(other))
    assert np.mean(same) < 0.1 and np.mean(other) > 0.4


def test_groups_compare_image_by_image_and_keep_the_first():
    a, b = render_digits("372", 1), render_digits("815", 2)
    ha, hb, ha2 = phash(a), phash(b), phash(_renoised(a, 10, 0))
    groups = image_groups([("p1", (ha,)), ("p2", (hb,)), ("p3", (ha2,)), ("p4", (ha2, hb)), ("p5", (ha, hb)), ("p6", (hb, ha)), ("t", ())])
    assert groups == {"p1": "p1", "p2": "p2", "p3": "p1", "p4": "p4", "p5": "p4", "p6": "p6"}


def test_curation_flags_an_image_copy_and_not_a_different_picture_with_the_same_text(tmp_path):
    from k15core.curation.run import curate_duplicates, store_problems
    from k15core.store import Store
    from k15core.tasks.problem import Problem
    from k15core.vlm.images import ImageStore

    images = ImageStore(tmp_path / "images")
    original = render_digits("372", 7)
    addresses = [images.put(original), images.put(_renoised(original, 10, 1)), images.put(render_digits("372", 99))]
    text = "Seq <image>, steps: 4\n"
    store = Store(tmp_path / "k15.db")
    store.add_prompts([Problem("a", text, "9", images=(addresses[0],)), Problem("b", text, "9", images=(addresses[1],)),
                       Problem("c", text, "9", images=(addresses[2],)), Problem("t1", "What is 2+2?", "4"),
                       Problem("t2", "What is 2+2?", "4")], source="test")
    report = curate_duplicates(store, store_problems(store), images=images)
    dups = {pid: st.duplicate_of["of"] for pid, st in store.prompt_labels().items() if st.duplicate_of}
    assert dups == {"b": "a", "t2": "t1"} and report.flagged == 2  # c: the same text, another picture
    # without the image store the image prompts are never called copies on their (shared) text alone
    curate_duplicates(store, store_problems(store), images=None)
    assert {pid for pid, st in store.prompt_labels().items() if st.duplicate_of} == {"t2"}
    store.close()
