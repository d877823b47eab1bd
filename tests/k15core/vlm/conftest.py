"""A tiny VLM folder shared by the vision tests (built once per session: about a second)."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_vlm_dir(tmp_path_factory):
    from k15core.config import ModelConfig
    from k15core.vlm.model import build_tiny_vlm

    out = tmp_path_factory.mktemp("tiny-vlm")
    build_tiny_vlm(ModelConfig(hidden_size=64, num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=128), out)
    return out
