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
# Under pytest-xdist (`make test` runs two workers) each worker gets an equal share of the cores: two workers
# with two threads each on a 2-core machine would fight over them.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
_THREADS = max(1, min(2, (os.cpu_count() or 1) // _WORKERS))
torch.set_num_threads(_THREADS)
# The processes tests start (k15 commands, torchrun ranks, notebook kernels) take the same share.
os.environ.setdefault("OMP_NUM_THREADS", str(_THREADS))


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session", autouse=True)
def trackio_dir(tmp_path_factory):
    """trackio (k15core.reporting) writes to $TRACKIO_DIR, read once when it is first imported: the tests' trackio runs
    go to a folder of the session's, never to the user's own trackio storage (nor do the processes tests start)."""
    path = tmp_path_factory.mktemp("trackio")
    os.environ["TRACKIO_DIR"] = str(path)
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny model (smaller than the default, for speed) saved in the Hugging Face layout."""
    from k15core.config import ModelConfig
    from k15core.models import build_tiny_model

    out = tmp_path_factory.mktemp("tiny")
    build_tiny_model(ModelConfig(hidden_size=64, num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=128), out)
    return out


@pytest.fixture(scope="session")
def ending_model_dir(tiny_model_dir, tmp_path_factory):
    """The tiny model after 96 SFT steps (about 2 s) on the digit task's short answers: it ends its responses
    with "Answer: d" and a digit that is mostly a guess. An untrained model almost never
    ends one, and only a response that ended can be correct (`rewards.correctness`): tests that need reward
    spread from a barely trained model use this one."""
    from k15core.config import load_config
    from k15core.models import load_model
    from k15core.sft import build_warmup_set, train_sft
    from k15core.tasks import make_task

    cfg = load_config(overrides=["sft.examples=3072", "sft.batch_size=32", "sft.lr=3e-3", "sft.warmup_steps=2", "sft.style_mix={short: 1.0}"])
    model, tokenizer = load_model(tiny_model_dir, cfg.model)
    out = tmp_path_factory.mktemp("ending")
    train_sft(model, tokenizer, build_warmup_set(make_task(cfg.task), cfg.sft), cfg.sft, out_dir=out, progress=False)
    return out


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    from k15core.workspace import Workspace

    monkeypatch.delenv("K15_WORKSPACE", raising=False)
    return Workspace.resolve(str(tmp_path / "ws"))
