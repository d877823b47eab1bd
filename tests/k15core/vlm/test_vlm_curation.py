"""The curation passes that sample a model (difficulty, hackable) show a VLM each prompt's pictures, as the trainer's
rollouts do: without them it sees only its image tokens and every pass rate measures nothing."""
from __future__ import annotations

import torch

from k15core.cli import main
from k15core.curation.run import CHAT_INSTRUCTION
from k15core.store import Store
from k15core.tasks.visual_recurrence import VisualRecurrenceGridTask
from k15core.vlm.inputs import ImagePromptEncoder, store_pictures
from k15core.vlm.model import load_vlm


def test_curate_difficulty_and_hackable_sample_a_vlm_with_each_prompts_picture(tmp_path, tiny_vlm_dir, monkeypatch, capsys):
    from k15core.rollout import hf
    from k15core.workspace import Workspace

    monkeypatch.delenv("K15_WORKSPACE", raising=False)
    ws = Workspace.resolve(str(tmp_path / "ws"))
    task = VisualRecurrenceGridTask(levels=(1, 2), eval_per_level=2)
    problems = task.train_problems(3, seed=5)
    store_pictures(task, problems, ws.images)
    store = Store(ws.root / "k15.db")
    store.add_prompts(problems, source="test")
    seen, generate = [], hf.generate
    monkeypatch.setattr(hf, "generate", lambda *a, **kw: seen.append(kw.get("encoded")) or generate(*a, **kw))

    common = ["--workspace", str(ws.root), "--model", str(tiny_vlm_dir), "--quiet", "--max-new-tokens", "4"]
    assert main(["curate", "difficulty", *common, "--n", "2"]) == 0
    assert "3 prompts scored" in capsys.readouterr().out
    assert main(["curate", "hackable", *common, "--n", "2", "--min-correct", "1"]) == 0
    assert "3 prompts scored" in capsys.readouterr().out

    _, processor = load_vlm(tiny_vlm_dir)
    want = [ImagePromptEncoder(processor, ws.images, CHAT_INSTRUCTION)(p) for p in problems]
    assert len(seen) == 2 and all(calls is not None and len(calls) == 3 for calls in seen)
    for calls in seen:  # each prompt encoded with its own picture (the store's prompts come back in its order)
        for got in calls:
            match = [w for w in want if w.images == got.images]
            assert len(match) == 1 and got.ids == match[0].ids and torch.equal(got.pixel_values, match[0].pixel_values)
    labelled = store.prompt_labels()
    assert {p.id for p in problems} <= set(labelled) and all(labelled[p.id].pass_rate is not None for p in problems)
