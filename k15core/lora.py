"""LoRA adapters as weights: what a rollout engine that keeps its own copy (vLLM) loads after each step.

Pure functions of tensors, so they work on what `dist.full_state_dict` gathers from a DDP- or FSDP2-wrapped
peft model, and need nothing of the model's loading (`k15core.models`).
"""
from __future__ import annotations

import torch


def merged_lora_weights(state_dict: dict[str, torch.Tensor], scaling: float, adapter: str = "default") -> dict[str, torch.Tensor]:
    """A peft LoRA model's full state dict -> the plain model's weights, each adapted layer merged:
    W = W_base + scaling * B @ A (scaling = lora_alpha / r), names as the base model has them.

    A pure function of the tensors, so it works on what `dist.full_state_dict` gathers from a DDP- or
    FSDP2-wrapped peft model: that is what a rollout engine (vLLM) loads after each step.
    """
    prefix = "base_model.model."
    out: dict[str, torch.Tensor] = {}
    for name, value in state_dict.items():
        if ".lora_" in name:
            continue  # folded into its base layer below
        plain = name[len(prefix):] if name.startswith(prefix) else name
        if ".base_layer." in name:
            layer = name.split(".base_layer.")[0]
            plain = plain.replace(".base_layer.", ".")
            if name.endswith("weight") and f"{layer}.lora_A.{adapter}.weight" in state_dict:
                a, b = state_dict[f"{layer}.lora_A.{adapter}.weight"], state_dict[f"{layer}.lora_B.{adapter}.weight"]
                value = value + (scaling * (b.float() @ a.float())).to(value.dtype)
        out[plain] = value
    return out


def lora_scaling(model, adapter: str = "default") -> float:
    """lora_alpha / r of a peft model's adapter."""
    config = model.peft_config[adapter]
    return config.lora_alpha / config.r
