"""Numeric precision, one rule for every stage: when to autocast to bf16 (`sft.bf16`, `rl.bf16`).

Weights always stay fp32 (the optimiser updates full-precision masters); 'auto' autocasts only where bf16
matmuls run natively, because emulated bf16 on an AVX2 CPU is many times slower than fp32
(benchmarks/warmup.py measures it).
"""
from __future__ import annotations

import torch

from k15core.registry import Registry


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on `device` (weights stay fp32: the optimiser updates full-precision masters)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


BF16_MODES: Registry = Registry("bf16 setting")
"""The one bf16 rule of every stage (`sft.bf16`, `rl.bf16`): name -> (device -> use bf16 autocast?)."""
BF16_MODES.register("on")(lambda device: True)
BF16_MODES.register("off")(lambda device: False)
BF16_MODES.register("auto")(lambda device: bf16_supported(device))


def use_bf16(setting: str, device: torch.device) -> bool:
    """Whether a stage whose bf16 setting is `setting` autocasts to bf16 on `device`: 'auto' only where bf16
    runs natively (emulated bf16 on an AVX2 CPU is many times slower than fp32: benchmarks/warmup.py)."""
    return BF16_MODES.get(setting)(device)


def bf16_supported(device: torch.device) -> bool:
    """True where bf16 matmuls run natively (AVX-512-BF16/AMX CPUs, Ampere+ GPUs); elsewhere they are emulated and slow."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


