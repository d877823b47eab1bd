"""The k15 command on bad input: one clear message, a non-zero exit, nothing stored is lost."""
from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from k15core.cli import main


def run_cli(capsys, *argv) -> tuple[int, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.fixture
def ws_with_data(workspace, tiny_model_dir):
    """A workspace whose store already holds a run and a prompt: bad commands must leave both alone."""
    store = workspace.store()
    run = store.create_run("earlier", "eval", {"x": 1})
    store.record_iteration(run, 0, {"eval/free/accuracy": 0.5})
    from k15core.tasks.problem import Problem

    store.add_prompts([Problem(id="keep", prompt="Q: 1+1\n", reference="2")], source="test")
    return workspace


def _stored(ws) -> tuple:
    con = sqlite3.connect(ws.db_path)
    return tuple(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("runs", "metrics", "prompts"))


def test_unknown_config_key(capsys, ws_with_data):
    before = _stored(ws_with_data)
    code, text = run_cli(capsys, "eval", "--workspace", str(ws_with_data.root), "--set", "sft.lrr=0.1")
    assert code == 2 and "unknown config key 'sft.lrr'" in text and "did you mean 'sft.lr'" in text
    assert "Traceback" not in text and _stored(ws_with_data) == before


def test_wrong_type(capsys, ws_with_data):
    before = _stored(ws_with_data)
    code, text = run_cli(capsys, "sft", "--workspace", str(ws_with_data.root), "--set", "sft.batch_size=big")
    assert code == 2 and "'sft.batch_size' must be int" in text
    assert _stored(ws_with_data) == before


def test_missing_model_directory(capsys, ws_with_data, tmp_path):
    before = _stored(ws_with_data)
    code, text = run_cli(capsys, "eval", "--workspace", str(ws_with_data.root), "--model", str(tmp_path / "no-such-model"))
    assert code == 2 and "not found" in text and "models in this workspace" in text
    code, text = run_cli(capsys, "sft", "--workspace", str(ws_with_data.root), "--set", f"model.path={tmp_path / 'gone'}")
    assert code == 2 and "does not exist" in text
    assert _stored(ws_with_data) == before


def test_malformed_prompt_file(capsys, ws_with_data, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "Q: 1+2\\n", "reference": "3"}\n{"prompt": 5}\n')
    before = _stored(ws_with_data)
    code, text = run_cli(capsys, "prompts", "import", str(bad), "--workspace", str(ws_with_data.root))
    assert code == 2 and "line 2" in text and "1 malformed row(s)" in text
    assert _stored(ws_with_data) == before  # the good first row was not imported either
    code, text = run_cli(capsys, "prompts", "import", str(tmp_path / "absent.jsonl"), "--workspace", str(ws_with_data.root))
    assert code == 2 and "does not exist" in text


def test_good_prompt_file_imports_once(capsys, ws_with_data, tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text('{"prompt": "Q: 1+2\\n", "reference": "3"}\n{"prompt": "Q: 2+2\\n", "reference": "4"}\n')
    code, text = run_cli(capsys, "prompts", "import", str(good), "--workspace", str(ws_with_data.root))
    assert code == 0 and "2 new" in text
    code, text = run_cli(capsys, "prompts", "import", str(good), "--workspace", str(ws_with_data.root))
    assert code == 0 and "0 new, 2 already" in text
    assert _stored(ws_with_data)[2] == 3


def test_corrupt_database(capsys, workspace):
    workspace.db_path.write_bytes(b"garbage, not sqlite" * 50)
    before = workspace.db_path.read_bytes()
    f = workspace.root / "p.jsonl"
    f.write_text('{"prompt": "a", "reference": "1"}\n')
    code, text = run_cli(capsys, "prompts", "import", str(f), "--workspace", str(workspace.root))
    assert code == 2 and "not a readable k15 database" in text and "left untouched" in text
    assert workspace.db_path.read_bytes() == before


def test_workspace_from_environment(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("K15_WORKSPACE", str(tmp_path / "from-env"))
    f = tmp_path / "p.jsonl"
    f.write_text('{"prompt": "a", "reference": "1"}\n')
    assert main(["prompts", "import", str(f)]) == 0
    assert (tmp_path / "from-env" / "k15.db").exists()


K15 = Path(sys.executable).parent / "k15"  # the console script pip installed next to this Python
SUBCOMMANDS = {"demo", "studio", "train", "build-model", "warmup-data", "sft", "eval", "prompts", "curate", "long2short", "store", "config", "judge"}


def test_console_script_is_installed():
    assert K15.is_file() and os.access(K15, os.X_OK), f"no k15 console script at {K15}"
    out = subprocess.run([str(K15), "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("usage: k15 ")
    listed = re.search(r"\{([a-z0-9,-]+)\}", out.stdout)
    assert listed and set(listed.group(1).split(",")) == SUBCOMMANDS
    out = subprocess.run([str(K15), "config"], capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "250"})
    assert out.returncode == 0 and "sft.lr" in out.stdout and "k15 config keys" in out.stdout
    from k15core.config import describe

    keys = [key for key, _, _ in describe()]
    assert {"sft.lr", "rl.iterations", "model.path"} <= set(keys)
    assert [key for key in keys if key not in out.stdout] == []
    out = subprocess.run([str(K15), "frobnicate"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "invalid choice: 'frobnicate'" in out.stderr


@pytest.mark.parametrize("key, value, says", [
    ("rl.iterations", "-5", "rl.iterations is -5, which is below its least value 1"),
    ("rl.k", "0", "rl.k is 0, which is below its least value 1"),
    ("rl.prompts_per_iter", "0", "rl.prompts_per_iter is 0, which is below its least value 1"),
    ("rl.max_response_tokens", "-1", "rl.max_response_tokens is -1, which is below its least value 1"),
    ("rl.temperature", "0", "rl.temperature is 0.0, which is not above 0"),
    ("rl.top_p", "1.5", "rl.top_p is 1.5, which is above its largest value 1"),
])
def test_out_of_range_numbers_stop_train_before_anything_is_written(capsys, ws_with_data, tiny_model_dir, key, value, says):
    before, models = _stored(ws_with_data), sorted(p.name for p in (ws_with_data.root / "models").iterdir())
    code, text = run_cli(capsys, "train", "--workspace", str(ws_with_data.root), "--model", str(tiny_model_dir), "--set", f"{key}={value}")
    assert code == 2 and says in text and "Traceback" not in text
    assert _stored(ws_with_data) == before and sorted(p.name for p in (ws_with_data.root / "models").iterdir()) == models


@pytest.mark.parametrize("key, value", [("strategy", "zero3"), ("engine", "sglang"), ("bf16", "half"), ("loss", "ppo")])
def test_bad_rl_choice_stops_train_before_anything_is_recorded(capsys, ws_with_data, tiny_model_dir, key, value):
    before = _stored(ws_with_data)
    code, text = run_cli(capsys, "train", "--workspace", str(ws_with_data.root), "--model", str(tiny_model_dir), "--set", f"rl.{key}={value}")
    assert code == 2 and f"rl.{key} is '{value}', which is not one of" in text and "Traceback" not in text
    assert _stored(ws_with_data) == before  # no run recorded, no prompt added
