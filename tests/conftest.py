"""Shared fixtures: a tiny model built once per session, temporary workspaces.

Markers: `slow` (a few seconds or more, still run in CI), `gpu` (skipped without CUDA).
"""
from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
torch.set_num_threads(min(2, os.cpu_count() or 1))


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny model (smaller than the default, for speed) saved in the Hugging Face layout."""
    from k15core.config import ModelConfig
    from k15core.models import build_tiny_model

    out = tmp_path_factory.mktemp("tiny")
    build_tiny_model(ModelConfig(hidden_size=64, num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=128), out)
    return out


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    from k15core.workspace import Workspace

    monkeypatch.delenv("K15_WORKSPACE", raising=False)
    return Workspace.resolve(str(tmp_path / "ws"))
