"""Tiny model and tokenizer: real save/load round trips through from_pretrained; LoRA via peft."""
from __future__ import annotations

import pytest
import torch

from k15core.errors import K15Error
from k15core.config import ModelConfig
from k15core.models import build_char_tokenizer, count_parameters, load_model, save_model


def test_tokenizer_keeps_every_character(tiny_model_dir):
    _, tok = load_model(tiny_model_dir)
    text = "Q: 4732+8915\nStep by step:\n2+5=7 -> 7\nAnswer: 13647"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert len(ids) == len(text)  # one token per character: spaces and newlines included
    assert tok.decode(ids) == text
    assert tok.decode(ids + [tok.eos_token_id], skip_special_tokens=True) == text


def test_default_tiny_model_size(tmp_path):
    from k15core.models import build_tiny_model

    model, tok = load_model(build_tiny_model(ModelConfig(), tmp_path / "m"))
    assert 1_000_000 <= count_parameters(model) <= 5_000_000
    assert type(model).__name__ == "Qwen2ForCausalLM" and len(tok) == len(build_char_tokenizer())
    assert (tmp_path / "m" / "model.safetensors").exists()


def test_save_load_gives_identical_logits(tiny_model_dir, tmp_path):
    model, tok = load_model(tiny_model_dir)
    with torch.no_grad():  # perturb so the test is not about an untouched init
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    ids = tok(["Q: 12+34\n", "Q: 5+6\nAnswer:"], return_tensors="pt", padding=True)
    before = model(**ids).logits
    save_model(model, tok, tmp_path / "copy")
    again, _ = load_model(tmp_path / "copy")
    torch.testing.assert_close(again(**ids).logits, before, rtol=0, atol=0)


def test_lora_trains_only_adapters_and_round_trips(tiny_model_dir, tmp_path):
    cfg = ModelConfig(lora=True, lora_r=4, lora_targets=["q_proj", "v_proj"])
    model, tok = load_model(tiny_model_dir, cfg)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    assert count_parameters(model, trainable_only=True) < 0.2 * count_parameters(model)
    frozen_before = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    batch = tok(["Q: 1+2\nAnswer: 3"], return_tensors="pt")
    for _ in range(3):
        loss = model(**batch, labels=batch["input_ids"]).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    for n, p in model.named_parameters():
        if n in frozen_before:
            assert torch.equal(p, frozen_before[n]), f"{n} is frozen but changed"
    logits = model(**batch).logits
    save_model(model, tok, tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_config.json").exists()
    again, _ = load_model(tmp_path / "adapter")
    torch.testing.assert_close(again(**batch).logits, logits)


def test_missing_or_wrong_model_dir(tmp_path):
    with pytest.raises(K15Error, match="does not exist"):
        load_model(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(K15Error, match="not a Hugging Face model directory"):
        load_model(tmp_path / "empty")


def test_merged_lora_weights_equal_peft_merge(tiny_model_dir):
    """The pure merge of a LoRA state dict (what the rollout engine loads) gives peft's own merged model."""
    import copy

    from k15core.lora import lora_scaling, merged_lora_weights

    model, _ = load_model(tiny_model_dir, ModelConfig(lora=True, lora_r=4, lora_alpha=8))
    torch.manual_seed(0)
    with torch.no_grad():  # a trained-looking adapter: B is zero at init, which would make any merge a no-op
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    merged = merged_lora_weights({k: v.detach() for k, v in model.state_dict().items()}, lora_scaling(model))
    reference = copy.deepcopy(model).merge_and_unload().state_dict()
    assert lora_scaling(model) == 2.0
    assert merged.keys() == reference.keys()
    for key, value in reference.items():
        assert torch.allclose(merged[key], value, atol=1e-6), key
    base, _ = load_model(tiny_model_dir)
    changed = [k for k, v in base.state_dict().items() if not torch.allclose(v, merged[k])]
    assert changed and all(any(t in k for t in ("q_proj", "k_proj", "v_proj", "o_proj")) for k in changed)
