"""The warm-up on image prompts: examples carry image addresses, batches keep each row's pixels with the row,
and a few steps lower the loss."""
from __future__ import annotations

import torch

from k15core.config import SFTConfig
from k15core.tasks.visual_recurrence import VisualRecurrenceTask
from k15core.vlm.images import ImageStore
from k15core.vlm.inputs import encode_prompt, pixel_inputs
from k15core.vlm.model import IMAGE_TOKEN, load_vlm
from k15core.vlm.sft import batch_inputs, encode_examples, response_loss, train_visual_sft, visual_warmup_set

TASK = VisualRecurrenceTask(levels=(1, 2), eval_per_level=5)
CFG = SFTConfig(examples=32, batch_size=8, epochs=4, lr=3e-3, warmup_steps=2, style_mix={"short": 0.5, "long": 0.5})


def test_warmup_set_stores_each_picture_and_carries_addresses_only(tmp_path):
    store = ImageStore(tmp_path)
    examples = visual_warmup_set(TASK, CFG, store)
    assert len(examples) == 32 and all(len(v.images) == 1 and v.images[0] in store for v in examples)
    assert {v.example.style for v in examples} == {"short", "long"}
    assert len(list(tmp_path.rglob("*.png"))) == len({v.images for v in examples})
    assert all(IMAGE_TOKEN in v.example.prompt for v in examples)


def test_a_batch_row_sees_its_own_picture(tiny_vlm_dir, tmp_path):
    """Each row's logits in a padded batch are the logits of the row alone: pixels follow their rows."""
    model, processor = load_vlm(tiny_vlm_dir)
    model.eval()
    store = ImageStore(tmp_path)
    rows = encode_examples(processor, visual_warmup_set(TASK, CFG, store)[:3], store)
    ids, mask, labels, pixels = batch_inputs(rows, processor.tokenizer.pad_token_id)
    assert pixels["pixel_values"].shape == (3, 3, 48, 48)
    assert ((labels != -100).sum(1) == torch.tensor([len(r.ids) - r.prompt_tokens for r in rows])).all()
    with torch.no_grad():
        batched = model(input_ids=ids, attention_mask=mask, **pixels).logits
        for i, r in enumerate(rows):
            alone = model(input_ids=torch.tensor([r.ids]), pixel_values=r.pixel_values).logits[0]
            assert torch.allclose(batched[i, : len(r.ids)], alone, atol=1e-4)
    assert pixel_inputs([None, None]) == {}
    assert encode_prompt(processor, "Seq 123, steps: 1\n", []).pixel_values is None


def test_a_few_steps_lower_the_loss(tiny_vlm_dir, tmp_path):
    model, processor = load_vlm(tiny_vlm_dir)
    store = ImageStore(tmp_path / "images")
    examples = visual_warmup_set(TASK, CFG, store)
    held = encode_examples(processor, examples[:16], store)

    def loss() -> float:
        with torch.no_grad():
            total, n = response_loss(model, held, processor.tokenizer.pad_token_id, "cpu")
        return float(total) / n

    before = loss()
    seen = []
    result = train_visual_sft(model, processor, examples, CFG, store, out_dir=tmp_path / "warm", on_step=lambda s, m: seen.append(m["sft/loss"]))
    after = loss()
    assert result.steps == 16 and len(seen) == 16
    assert after < 0.7 * before, (before, after)  # 4.67 -> 2.97 measured: from random over 100 tokens well down
    assert (tmp_path / "warm" / "model.safetensors").exists() and (tmp_path / "warm" / "processor_config.json").exists()
    reloaded, _ = load_vlm(tmp_path / "warm")
    assert torch.equal(reloaded.lm_head.weight, model.lm_head.weight)
