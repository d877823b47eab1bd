"""The language stage before a VLM's read stage: the text twin's warm-up set (no pictures, no held-out problem),
the language model trained and the vision tower untouched, the stage first in `k15 sft`'s path under its own
metric names."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch

from k15core.config import SFTConfig, load_config
from k15core.errors import K15Error
from k15core.tasks import make_task
from k15core.tasks.recurrence import RecurrenceTask
from k15core.tasks.visual_recurrence import VisualRecurrenceGridTask, seed_digits
from k15core.vlm.language import language_config, mixed_text_examples, text_set, train_language
from k15core.vlm.model import load_vlm

TASK = VisualRecurrenceGridTask(levels=(1, 2, 5), eval_per_level=30)
CFG = SFTConfig(examples=8, batch_size=50, text_steps=20, read_steps=3, style_mix={"short": 0.5, "long": 0.5},
                style_mix_by_level={5: {"short": 1.0}})


def test_the_text_twin_writes_the_pictured_digits_in_the_prompt_and_shares_no_held_out_problem():
    examples = text_set(TASK, CFG)
    assert len(examples) == 20 * 50
    held_out = {seed_digits(p) for p in TASK.eval_problems()}
    twin = RecurrenceTask(levels=(1, 2, 5), eval_per_level=30)
    for v in examples:
        digits, steps = v.problem_id.split(":")[1].split("|")
        assert v.prompt == f"Seq {digits}, steps: {steps}\n" and (digits, int(steps)) not in held_out
        assert v.response == twin.solution(_problem(v), v.style)
    styles = Counter((v.difficulty, v.style) for v in examples)
    assert styles[(5, "long")] == 0 and styles[(1, "long")] > 0 and styles[(1, "short")] > 0  # the warm-up's style mix
    assert language_config(CFG).examples == 1000 and language_config(CFG).lr == CFG.lr  # the warm-up's rate and schedule
    with pytest.raises(K15Error, match="no text twin"):
        text_set(RecurrenceTask(eval_per_level=1), CFG)


def _problem(v):
    from k15core.tasks.recurrence import make_problem

    digits, steps = v.problem_id.split(":")[1].split("|")
    return make_problem([int(c) for c in digits], int(steps), v.difficulty)


def test_the_stage_trains_the_language_model_and_leaves_the_vision_tower_as_it_was(tiny_vlm_dir):
    model, processor = load_vlm(tiny_vlm_dir)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    losses = []
    result = train_language(model, processor, TASK, SFTConfig(batch_size=4, text_steps=3, warmup_steps=1),
                            on_step=lambda step, m: losses.append(m["sft/loss"]))
    assert result.steps == 3 and len(losses) == 3
    after = model.state_dict()
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert moved and all("language_model" in k or "lm_head" in k for k in moved), sorted(moved)[:5]
    assert not any("vision_tower" in k or "projector" in k for k in moved)


def test_k15_sft_runs_the_language_stage_first_and_records_it(workspace, monkeypatch):
    from k15core import stages
    from k15core.model_kinds import MODEL_KINDS
    from k15core.vlm import stages as vlm_stages

    order = []
    for name in ("train_language", "train_reading", "train_visual_sft"):
        real = getattr(vlm_stages, name)
        monkeypatch.setattr(vlm_stages, name, lambda *a, _real=real, _name=name, **kw: order.append(_name) or _real(*a, **kw))
    cfg = load_config(overrides=["model.hidden_size=64", "model.num_layers=1", "model.num_heads=2", "model.num_kv_heads=1",
                                 "model.intermediate_size=64", "task.name=visual-recurrence", "task.levels=[1]", "task.eval_per_level=2",
                                 "sft.examples=4", "sft.batch_size=2", "sft.text_steps=4", "sft.read_steps=3", "sft.warmup_steps=1",
                                 "sft.text_examples=2"])
    base = MODEL_KINDS.get("vlm").build(cfg.model, workspace.model_dir("v"))
    store = workspace.store()
    result = stages.run_sft(workspace, store, cfg, base, out_name="warm", progress=False)
    assert order == ["train_language", "train_reading", "train_visual_sft"]
    metrics = store.metrics(store.runs(kind="sft")[-1]["id"])
    steps = {name: sorted(m["iteration"] for m in metrics if m["name"] == name) for name in ("sft/text_loss", "sft/read_loss", "sft/loss")}
    # the warm-up: 4 image prompts and 2 of the text twin, 2 a step
    assert result.steps == 3 and steps == {"sft/text_loss": [1, 2, 3, 4], "sft/read_loss": [1, 2, 3], "sft/loss": [1, 2, 3]}


def test_text_examples_mix_the_twin_into_the_warm_up_and_a_mixed_batch_trains_both_parts(tiny_vlm_dir, tmp_path):
    """sft.text_examples: text-twin examples without pictures among the warm-up's image prompts; the warm-up's batches
    are each of one kind, and the warm-up moves the language model and the tower."""
    import dataclasses

    from k15core.vlm.images import ImageStore
    from k15core.vlm.sft import train_visual_sft, visual_warmup_set

    cfg = dataclasses.replace(CFG, text_examples=30)
    mixed = mixed_text_examples(TASK, cfg)
    held_out = {seed_digits(p) for p in TASK.eval_problems()}
    assert len(mixed) == 30 and all(v.images == () for v in mixed)
    for v in mixed:
        digits, steps = v.example.problem_id.split(":")[1].split("|")
        assert v.example.prompt == f"Seq {digits}, steps: {steps}\n" and (digits, int(steps)) not in held_out
    assert mixed_text_examples(TASK, CFG) == []  # off by default
    # vision.yaml's warm-up: no language stage (text_steps 0), the twin mixed in; drawn with the stage's seed offset
    vision = load_config(Path(__file__).parents[3] / "assets" / "configs" / "vision.yaml")
    assert vision.sft.text_steps == 0 and vision.sft.text_examples > 0
    assert len(mixed_text_examples(make_task(vision.task), vision.sft)) == vision.sft.text_examples
    no_stage = mixed_text_examples(TASK, dataclasses.replace(cfg, text_steps=0))
    assert [v.example for v in no_stage] == [v.example for v in mixed]  # the stage's length does not change the draw

    model, processor = load_vlm(tiny_vlm_dir)
    store = ImageStore(tmp_path / "images")
    pictured = visual_warmup_set(TASK, dataclasses.replace(CFG, examples=4), store)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    result = train_visual_sft(model, processor, pictured + mixed[:4], SFTConfig(batch_size=8, warmup_steps=1), store)
    assert result.steps == 2  # an image batch and a text batch: a text row is not padded to an image prompt's length
    moved = {k for k, v in model.state_dict().items() if not torch.equal(before[k], v)}
    assert any("vision_tower" in k for k in moved) and any("language_model" in k for k in moved)


def test_each_warm_up_batch_is_of_one_kind_and_an_image_only_warm_up_keeps_its_order():
    import random

    from k15core.vlm.sft import EncodedExample, epoch_batches

    pixels = torch.zeros(1, 3, 2, 2)
    rows = [EncodedExample([1], 0, pixels if i % 3 else None) for i in range(20)]  # 7 text rows, 13 image rows
    batches = epoch_batches(rows, 4, random.Random(5))
    assert sorted(i for b in batches for i in b) == list(range(20)) and len(batches) == 2 + 4
    assert all(len({rows[i].pixel_values is None for i in b}) == 1 for b in batches)
    images = [EncodedExample([1], 0, pixels) for _ in range(10)]
    order = list(range(10))
    random.Random(5).shuffle(order)
    assert epoch_batches(images, 4, random.Random(5)) == [order[:4], order[4:8], order[8:]]  # as before text was mixed in
