"""LoRA on a vision-language model: adapters on the language model only; the vision tower and projector are frozen.

Choice (the report trains its VLM in full; LoRA is ours, for a user's real VLM on one GPU or a CPU): the adapters go
on the language model's modules named in `model.lora_targets` (q_proj, k_proj, ... as for a text model). A SigLIP
or CLIP tower has modules of the same names; they are left out, because a pretrained tower already reads images and
RL's reward speaks to the reasoning, and because adapting the tower would change the image features of every prompt
at every step. A run saves the adapters (adapter_config.json names the base VLM folder) with the processor beside
them, and `load_vlm` loads such a folder back onto its base, trainable, as `models.load_model` does for text.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from k15core.config import ModelConfig


def language_model_targets(targets: list[str]) -> str:
    """A peft `target_modules` regex (matched against the whole module name) for the language model's modules named
    `targets`.

    >>> pattern = language_model_targets(["q_proj", "v_proj"])
    >>> bool(re.fullmatch(pattern, "model.language_model.layers.0.self_attn.q_proj"))
    True
    >>> bool(re.fullmatch(pattern, "model.vision_tower.encoder.layers.0.self_attn.q_proj"))
    False
    """
    names = "|".join(re.escape(t) for t in targets)
    return rf".*language_model\..*\.({names})"


def add_lora(model, cfg: ModelConfig):
    """`model` with trainable LoRA adapters on its language model (peft); every other weight frozen."""
    from peft import LoraConfig, get_peft_model

    return get_peft_model(model, LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha,
                                            target_modules=language_model_targets(cfg.lora_targets)))


def adapter_base(path: Path) -> Path | None:
    """The base model folder of a folder holding peft adapters (its adapter_config.json), None for a model folder."""
    adapter = Path(path) / "adapter_config.json"
    return Path(json.loads(adapter.read_text())["base_model_name_or_path"]) if adapter.exists() else None
