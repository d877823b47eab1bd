"""Shared fixtures: a tiny model built once per session, temporary workspaces, run stores on both databases.

Markers: `slow` (a few seconds or more, still run in CI), `gpu` (skipped without CUDA), `postgres` (needs the
PostgreSQL server that `postgres_server` starts; skipped without one, unless K15_REQUIRE_POSTGRES=1).
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

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


def _start_order(item) -> int:
    """0: the notebooks (one worker runs them all, in order: some 5 minutes), 1: the other slow tests, 2: the rest."""
    group = item.get_closest_marker("xdist_group")
    if group is not None and group.args and group.args[0] == "notebooks":
        return 0
    return 1 if item.get_closest_marker("slow") is not None else 2


def pytest_collection_modifyitems(config, items):
    # Longest first: pytest-xdist hands the tests out in this order, so the long ones start early and the many short
    # ones fill both workers up to the end, instead of one worker finishing a long test alone (a stable sort: within
    # each class the tests keep their order).
    items.sort(key=_start_order)
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
    monkeypatch.delenv("K15_STORE", raising=False)
    return Workspace.resolve(str(tmp_path / "ws"))


# -- the run store on PostgreSQL -----------------------------------------------------------------------------------
# One server per test process that needs one, started lazily (a run without such tests starts none); each test gets a
# database of its own. The tests are in the xdist group "postgres" so that one worker runs them all, and one server
# serves the whole run (pytest is pinned below 9.2, where loadgroup stopped grouping: tests/test_packaging.py).
POSTGRES = [pytest.mark.postgres, pytest.mark.xdist_group("postgres")]


def _pg_server_tool():
    spec = importlib.util.spec_from_file_location("pg_server", Path(__file__).resolve().parents[1] / "tools" / "pg_server.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL server (tools/pg_server.py) for the whole test run. Where none can start the tests that
    need it skip, unless K15_REQUIRE_POSTGRES=1 (.ci/run sets it), which makes them fail instead."""
    pg = _pg_server_tool()
    why = pg.unavailable()
    if why:
        if os.environ.get("K15_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"K15_REQUIRE_POSTGRES=1 but {why}")
        pytest.skip(why)
    server = pg.PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(params=[pytest.param("postgresql", marks=POSTGRES)])
def pg_url(request, postgres_server):
    """A fresh, empty database on the test run's PostgreSQL server: its store URL."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=POSTGRES)])
def store_at(request, tmp_path):
    """Where a test's run store lives, once per database: a SQLite file in tmp_path, or a fresh PostgreSQL database's
    URL. `Store(store_at)` opens either."""
    if request.param == "sqlite":
        yield tmp_path / "k15.db"
        return
    server = request.getfixturevalue("postgres_server")
    url = server.create_database()
    yield url
    server.drop_database(url)
