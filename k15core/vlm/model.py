"""Build the tiny vision-language model, and load any local Hugging Face VLM with its processor.

Architecture (choice, issue #23): LLaVA (`LlavaForConditionalGeneration`) with a SigLIP vision tower and the
project's tiny Qwen2 text model. Why LLaVA: its image is one run of `<image>` tokens in the text, replaced by
the projected patch features in the first forward; positions are the text model's plain 1-D ones, so the
compact sampler's left-padded prefill, its KV cache and the trainer's right-padded forward all work unchanged
(Qwen2-VL's 3-D rotary positions would not). Its processor is built offline from parts: a SigLIP image
processor (resize + normalise, no crop, no CLS token), the character tokenizer with `<image>` added, and no
chat template (the tiny model reads prompts as they are, like the text model). SigLIP rather than CLIP: no CLS
token, so every patch is an image token (`vision_feature_select_strategy="full"`).

Sizes: 48 x 48 pixel images in 8 x 8 patches, 36 image tokens per image; a 2-layer, 64-wide vision tower
(0.1 M parameters) in front of the text model. The saved folder is a standard one (config.json,
model.safetensors, processor_config.json, tokenizer files): `AutoModelForImageTextToText` and `AutoProcessor`
load it, and load a user's SmolVLM or LLaVA folder the same way. Nothing is downloaded.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from k15core.config import ModelConfig
from k15core.errors import K15Error
from k15core.models import build_char_tokenizer

IMAGE_TOKEN = "<image>"
"""The placeholder a prompt writes where its image goes; the processor repeats it once per image token."""


@dataclass(frozen=True)
class VisionTowerConfig:
    """The tiny model's vision tower (a SigLIP encoder)."""

    image_size: int = 48
    """Images are resized to image_size x image_size pixels."""
    patch_size: int = 8
    """Pixels per patch side: (image_size / patch_size)² image tokens per image (36)."""
    hidden_size: int = 64
    """Width of the vision encoder."""
    num_layers: int = 2
    num_heads: int = 2
    intermediate_size: int = 128

    @property
    def image_tokens(self) -> int:
        return (self.image_size // self.patch_size) ** 2


def _image_processor(vision: VisionTowerConfig):
    """SigLIP's image processor on its Pillow backend (no torchvision on a CPU install); older transformers 5
    releases name that class plainly `SiglipImageProcessor`."""
    import transformers

    cls = getattr(transformers, "SiglipImageProcessorPil", None) or transformers.SiglipImageProcessor
    return cls(size={"height": vision.image_size, "width": vision.image_size})


def build_tiny_vlm(cfg: ModelConfig, out_dir: str | Path, vision: VisionTowerConfig = VisionTowerConfig()) -> Path:
    """Build the tiny LLaVA model with random weights; save model + processor to `out_dir` (Hugging Face layout)."""
    from transformers import (GenerationConfig, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor, Qwen2Config,
                              SiglipVisionConfig)

    tok = build_char_tokenizer()
    tok.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
    text = Qwen2Config(
        vocab_size=len(tok), hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size, num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads, num_key_value_heads=cfg.num_kv_heads, max_position_embeddings=cfg.max_positions,
        tie_word_embeddings=True, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=None,
    )
    tower = SiglipVisionConfig(
        hidden_size=vision.hidden_size, intermediate_size=vision.intermediate_size, num_hidden_layers=vision.num_layers,
        num_attention_heads=vision.num_heads, image_size=vision.image_size, patch_size=vision.patch_size, num_channels=3,
    )
    config = LlavaConfig(
        vision_config=tower, text_config=text, image_token_index=tok.convert_tokens_to_ids(IMAGE_TOKEN),
        image_seq_length=vision.image_tokens, vision_feature_select_strategy="full", vision_feature_layer=-1, tie_word_embeddings=True,
    )
    torch.manual_seed(cfg.init_seed)
    model = LlavaForConditionalGeneration(config)
    model.generation_config = GenerationConfig(eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    processor = LlavaProcessor(image_processor=_image_processor(vision), tokenizer=tok, patch_size=vision.patch_size,
                               vision_feature_select_strategy="full", image_token=IMAGE_TOKEN)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def is_vision_model(path: str | Path) -> bool:
    """Whether the Hugging Face folder holds a vision-language model: its config has a vision tower (a folder of
    LoRA adapters: its base model's)."""
    from k15core.vlm.lora import adapter_base

    config = Path(path) / "config.json"
    if not config.exists() and (base := adapter_base(Path(path))) is not None:
        config = base / "config.json"
    return config.exists() and "vision_config" in json.loads(config.read_text())


def load_vlm(path: str | Path, device: str | torch.device = "cpu", lora: ModelConfig | None = None):
    """(model, processor) from a local VLM folder, with `AutoModelForImageTextToText` and `AutoProcessor`.

    A folder of LoRA adapters (k15core.vlm.lora) is loaded onto its base VLM, trainable; otherwise `lora.lora` puts
    new adapters on the language model. The processor's tokenizer pads on the left (generation appends on the
    right), as `models.load_model` sets it.
    """
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from k15core.vlm.lora import adapter_base, add_lora

    path = Path(path)
    if not is_vision_model(path):
        raise K15Error(f"{str(path)!r} is not a vision-language model folder (no config.json with a vision_config)",
                       "point to a folder a VLM's save_pretrained wrote (k15 build-model --kind vlm builds the tiny one)")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local path never needs the hub
    base = adapter_base(path)
    try:
        model = AutoModelForImageTextToText.from_pretrained(base or path, dtype=torch.float32)
        processor = AutoProcessor.from_pretrained(path if (path / "processor_config.json").exists() else base or path)
    except (OSError, ValueError) as err:
        raise K15Error(f"could not load the model in {str(path)!r}: {err}", "check that the directory is complete") from err
    tokenizer = processor.tokenizer
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    if base is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, path, is_trainable=True)
    elif lora is not None and lora.lora:
        model = add_lora(model, lora)
    return model.to(device), processor
