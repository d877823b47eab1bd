"""The read stage before a VLM's warm-up: its targets are exactly the pictured digits, as the long answers start;
its loss is on those tokens only (no EOS); the vision tower's own learning rate; the reading score; the stage in
`k15 sft`'s path, recorded under its own metric names."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
import torch

from k15core.config import SFTConfig, load_config
from k15core.errors import K15Error
from k15core.tasks.recurrence import RecurrenceTask
from k15core.tasks.visual_recurrence import VisualRecurrenceTask, make_visual_problem
from k15core.vlm.images import ImageStore
from k15core.vlm.model import load_vlm
from k15core.vlm.read import read_accuracy, read_config, read_set
from k15core.vlm.sft import batch_inputs, encode_examples, train_visual_sft

TASK = VisualRecurrenceTask(levels=(1, 5), eval_per_level=4)
CFG = SFTConfig(examples=8, batch_size=4, read_steps=3, read_lr=5e-3, warmup_steps=2, style_mix={"long": 1.0})


def test_the_read_targets_are_the_pictured_digits_as_the_long_answer_starts(tmp_path):
    assert TASK.reading(make_visual_problem([3, 7, 2], 4, 4)) == "x=3 y=7 z=2"
    store = ImageStore(tmp_path)
    examples = read_set(TASK, CFG, store)
    assert len(examples) == CFG.read_steps * CFG.batch_size
    for v in examples:
        digits = v.example.problem_id.split(":")[1].split("|")[0]
        assert v.example.response == f"x={digits[0]} y={digits[1]} z={digits[2]}"
        p = next(q for q in TASK.train_problems(12, seed=CFG.seed + 7919) if q.id == v.example.problem_id)
        assert TASK.solution(p, "long").startswith(v.example.response + " ") and v.images == p.images and v.images[0] in store
    cfg = read_config(dataclasses.replace(CFG, read_vision_lr_scale=3.0, vision_lr_scale=0.5))
    assert (cfg.lr, cfg.epochs, cfg.examples // cfg.batch_size, cfg.vision_lr_scale, cfg.min_lr_ratio) == (5e-3, 1, 3, 3.0, 1.0)  # constant, its own scale
    with pytest.raises(K15Error, match="nothing to read"):
        read_set(RecurrenceTask(eval_per_level=1), CFG, store)


def test_the_read_loss_covers_only_the_reading_tokens(tiny_vlm_dir, tmp_path):
    _, processor = load_vlm(tiny_vlm_dir)
    store = ImageStore(tmp_path)
    examples = read_set(TASK, CFG, store)[:3]
    rows = encode_examples(processor, examples, store, eos=False)
    _, _, labels, _ = batch_inputs(rows, processor.tokenizer.pad_token_id)
    for row, v in zip(labels, examples):
        assert processor.tokenizer.decode(row[row != -100]) == v.example.response  # 'x=3 y=7 z=2', no EOS
    with_eos = encode_examples(processor, examples, store)
    assert [len(a.ids) + 1 for a in rows] == [len(b.ids) for b in with_eos] and with_eos[0].ids[-1] == processor.tokenizer.eos_token_id


def test_vision_lr_scale_sets_the_tower_and_projectors_rate(tiny_vlm_dir, tmp_path):
    """At scale 0 one step changes the language model and leaves the vision tower and projector as they were."""
    model, processor = load_vlm(tiny_vlm_dir)
    store = ImageStore(tmp_path)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    train_visual_sft(model, processor, read_set(TASK, CFG, store)[:4], dataclasses.replace(CFG, vision_lr_scale=0.0, examples=4), store, eos=False)
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    vision = {n for n in before if "vision_tower" in n or "multi_modal_projector" in n}
    assert vision and not moved & vision
    assert any("language_model" in n for n in moved)


class _Oracle(torch.nn.Module):
    """A stand-in VLM whose logits put the next token first, except at positions listed in `wrong` (from the end)."""

    def __init__(self, vocab: int, wrong: tuple[int, ...] = ()):
        super().__init__()
        self.vocab, self.wrong, self.w = vocab, wrong, torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids, attention_mask, pixel_values):
        nxt = torch.roll(input_ids, -1, dims=1)
        for back in self.wrong:  # right-padded rows: count from each row's last real token
            last = attention_mask.sum(1) - 1
            idx = (last - back).clamp(min=0)
            nxt[torch.arange(len(nxt)), idx] = (nxt[torch.arange(len(nxt)), idx] + 1) % self.vocab
        return SimpleNamespace(logits=torch.nn.functional.one_hot(nxt, self.vocab).float())


def test_read_accuracy_counts_digits_and_whole_readings(tiny_vlm_dir, tmp_path):
    _, processor = load_vlm(tiny_vlm_dir)
    store, problems, vocab = ImageStore(tmp_path), TASK.eval_problems(), len(processor.tokenizer)
    assert dataclasses.astuple(read_accuracy(_Oracle(vocab), processor, TASK, problems, store, batch_size=3)) == (1.0, 1.0, len(problems))
    # the token before the last ('=' before z's digit) predicts z's digit: wrong there, z is misread everywhere
    score = read_accuracy(_Oracle(vocab, wrong=(1,)), processor, TASK, problems, store)
    assert (score.digits, score.all) == (pytest.approx(2 / 3), 0.0)


def test_k15_sft_runs_the_read_stage_first_and_records_it(workspace):
    from k15core import stages
    from k15core.model_kinds import MODEL_KINDS

    cfg = load_config(overrides=["model.hidden_size=64", "model.num_layers=1", "model.num_heads=2", "model.num_kv_heads=1",
                                 "model.intermediate_size=64", "task.name=visual-recurrence", "task.levels=[1]", "task.eval_per_level=2",
                                 "sft.examples=4", "sft.batch_size=2", "sft.read_steps=3", "sft.warmup_steps=1"])
    base = MODEL_KINDS.get("vlm").build(cfg.model, workspace.model_dir("v"))
    store = workspace.store()
    result = stages.run_sft(workspace, store, cfg, base, out_name="warm", progress=False)
    metrics = store.metrics(store.runs(kind="sft")[-1]["id"])
    steps = {name: sorted(m["iteration"] for m in metrics if m["name"] == name) for name in ("sft/read_loss", "sft/loss")}
    assert result.steps == 2 and steps == {"sft/read_loss": [1, 2, 3], "sft/loss": [1, 2]}
