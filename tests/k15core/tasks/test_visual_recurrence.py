"""The visual digit recurrence: deterministic pictures, the text task's answers and styles, a disjoint held-out
set, and the content-addressed image store the pictures are kept in."""
from __future__ import annotations

import pytest
from PIL import Image

from k15core.config import TaskConfig
from k15core.errors import K15Error
from k15core.tasks import make_task
from k15core.tasks.recurrence import RecurrenceTask, make_problem
from k15core.tasks.visual_recurrence import IMAGE_MARKER, VisualRecurrenceTask, make_visual_problem, picture, render_digits
from k15core.vlm.images import ImageStore, image_address
from k15core.vlm.model import IMAGE_TOKEN

TASK = VisualRecurrenceTask(eval_per_level=20)


def test_pictures_are_deterministic_and_differ_between_problems():
    assert image_address(render_digits("372", 7)) == image_address(render_digits("372", 7))
    assert image_address(render_digits("372", 7)) != image_address(render_digits("372", 8))  # another look
    assert image_address(render_digits("372", 7)) != image_address(render_digits("373", 7))  # another digit
    p = make_visual_problem([3, 7, 2], 4, 4)
    picture.cache_clear()
    assert p.images == (image_address(picture(p.id)),) == (image_address(TASK.images(p)[0]),)
    img = TASK.images(p)[0]
    assert img.size == (48, 48) and img.mode == "RGB"


def test_the_picture_shows_ink_on_a_background():
    """Not a blank or a flat picture: some pixels far darker than the typical (background) one."""
    import numpy as np

    for seed in range(20):
        grey = np.asarray(render_digits("808", seed).convert("L"), dtype=float)
        assert np.median(grey) - grey.min() > 80


def test_answers_and_styles_are_the_text_tasks():
    text = RecurrenceTask(eval_per_level=1)
    for p in TASK.train_problems(30, seed=3):
        digits, steps = p.id.split(":")[1].split("|")
        twin = make_problem([int(c) for c in digits], int(steps), p.difficulty)
        assert p.reference == twin.reference and p.prompt == f"Seq {IMAGE_MARKER}, steps: {steps}\n"
        for style in TASK.styles:
            assert TASK.solution(p, style) == text.solution(twin, style)
            assert TASK.solution(p, style).startswith(TASK.style_prefix(style))
            assert TASK.verify(TASK.solution(p, style), p.reference) == 1.0
        wrong = str((int(p.reference) + 1) % 10)
        assert TASK.verify(f"Answer: {wrong}", p.reference) == 0.0
    long = TASK.solution(make_visual_problem([3, 7, 2], 4, 4), "long")
    assert long.startswith("x=3 y=7 z=2 ") and long.endswith("Answer: 9")  # the long style writes what it read first


def test_held_out_set_is_disjoint_from_training_by_problem_and_by_picture():
    train = TASK.train_problems(1500, seed=11)
    held = TASK.eval_problems()
    assert len(held) == 20 * 5
    assert not {p.id for p in train} & {p.id for p in held}
    assert not {p.images for p in train} & {p.images for p in held}
    # a problem's picture is its own: the same (digits, steps) drawn twice shows the same picture
    assert len({p.images for p in train}) == len({p.id for p in train})


def test_the_task_registry_builds_it_and_the_marker_is_the_models_image_token():
    task = make_task(TaskConfig(name="visual-recurrence", levels=[1, 5], eval_per_level=3))
    assert isinstance(task, VisualRecurrenceTask) and {p.difficulty for p in task.eval_problems()} == {1, 5}
    assert IMAGE_MARKER == IMAGE_TOKEN


def test_image_store_keeps_each_image_once_by_address(tmp_path):
    store = ImageStore(tmp_path / "images")
    img = render_digits("123", 1)
    address = store.put(img)
    assert store.put(img.copy()) == address and address in store
    assert len(list((tmp_path / "images").rglob("*.png"))) == 1
    assert store.path(address).parent.name == address[:2]
    assert image_address(store.load(address)) == address
    assert list(store.load(address).getdata()) == list(img.getdata())


def test_image_store_refuses_bad_addresses_and_tampered_files(tmp_path):
    store = ImageStore(tmp_path)
    with pytest.raises(K15Error, match="not an image address"):
        store.path("../../etc/passwd")
    with pytest.raises(K15Error, match="is not in"):
        store.load("0" * 64)
    address = store.put(render_digits("123", 1))
    render_digits("999", 1).save(store.path(address), format="PNG")
    with pytest.raises(K15Error, match="does not hold"):
        store.load(address)


def test_workspace_keeps_images_in_its_own_folder(workspace):
    address = workspace.images.put(Image.new("RGB", (4, 4), "white"))
    assert workspace.images.path(address).is_relative_to(workspace.root / "images")


def test_the_grid_look_draws_each_digit_in_its_own_third():
    """Changing one digit changes only its third of the picture (same seed: same font, place and noise)."""
    import numpy as np

    from k15core.tasks.visual_recurrence import render_grid

    for seed in range(12):
        base = np.asarray(render_grid("372", seed).convert("L"), dtype=int)
        for changed, cells in (("972", range(0, 17)), ("382", range(15, 33)), ("375", range(31, 48))):
            cols = np.nonzero(np.abs(np.asarray(render_grid(changed, seed).convert("L"), dtype=int) - base).sum(0))[0]
            assert len(cols) and set(cols) <= set(cells), (seed, changed, cols)
    grid = make_task(TaskConfig(name="visual-recurrence-grid", levels=[1, 5], eval_per_level=3))
    p = grid.train_problems(1, seed=0)[0]
    assert p.id.startswith("visual-recurrence-grid:") and p.task == "visual-recurrence-grid"
    assert p.images == (image_address(render_grid(p.id.split(":")[1][:3], int(__import__("hashlib").sha256(p.id.encode()).hexdigest()[:16], 16))),)
    assert grid.reading(p) == TASK.reading(make_visual_problem([int(c) for c in p.id.split(":")[1][:3]], 1, 1))
    assert not {q.id for q in grid.train_problems(300, seed=1)} & {q.id for q in grid.eval_problems()}
