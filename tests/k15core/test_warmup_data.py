"""The rejection-sampled warm-up set (k15core.warmup_data): which answers are kept, the file, and the CLI path
`k15 warmup-data` -> `k15 sft --data`."""
from __future__ import annotations

import json

import pytest

from k15core.errors import K15Error
from k15core.tasks.problem import Problem
from k15core.types import Generation
from k15core.warmup_data import STYLE, keep_verified, read_examples, write_examples


def gen(index: int, sample: int, text: str, finished: bool = True) -> Generation:
    return Generation(index, sample, text, [], [], [], finished, not finished)


PROBLEMS = [Problem(id="a", prompt="What is 1 + 1?", reference="2", difficulty=1), Problem(id="b", prompt="What is 2 + 5?", reference="7", difficulty=2)]


def verify(response: str, reference: str) -> float:
    return float(response.rstrip(".").split()[-1] == reference)


def test_only_finished_correct_distinct_answers_are_kept_with_the_rl_instruction():
    gens = [gen(0, 0, "1 + 1 = 2."), gen(0, 1, "1 + 1 = 2."), gen(0, 2, "It is 3."), gen(0, 3, "so 2", finished=False),
            gen(1, 0, "2 + 5 = 8."), gen(1, 1, "Add them: 7")]
    kept = keep_verified(PROBLEMS, gens, verify, " End with the answer.", per_problem=5, seed=0)
    assert [(e.problem_id, e.response) for e in kept] == [("a", "1 + 1 = 2."), ("b", "Add them: 7")]  # the cut-off "so 2" is not kept
    assert all(e.instruction == " End with the answer." and e.style == STYLE for e in kept)
    assert [e.difficulty for e in kept] == [1, 2] and kept[0].prompt == "What is 1 + 1?"


def test_at_most_per_problem_answers_drawn_at_random_and_the_same_for_the_same_seed():
    gens = [gen(0, i, f"step {i}: 2") for i in range(6)]
    draws = {seed: [e.response for e in keep_verified(PROBLEMS, gens, verify, "", per_problem=2, seed=seed)] for seed in range(8)}
    assert all(len(d) == 2 and len(set(d)) == 2 for d in draws.values())
    assert draws[3] == [e.response for e in keep_verified(PROBLEMS, gens, verify, "", per_problem=2, seed=3)]
    assert len({tuple(d) for d in draws.values()}) > 1  # not always the first two
    assert keep_verified(PROBLEMS, gens, verify, "", per_problem=0, seed=0) == []


def test_the_file_round_trips_and_a_bad_file_is_one_error(tmp_path):
    kept = keep_verified(PROBLEMS, [gen(0, 0, "1 + 1 = 2."), gen(1, 0, "7")], verify, " I.", per_problem=1, seed=0)
    path = write_examples(kept, tmp_path / "data" / "w.jsonl")
    assert read_examples(path) == kept
    with pytest.raises(K15Error, match="no warm-up data"):
        read_examples(tmp_path / "missing.jsonl")
    (tmp_path / "bad.jsonl").write_text(json.dumps({"prompt": "x"}) + "\n")
    with pytest.raises(K15Error, match="line 1 is not a warm-up example"):
        read_examples(tmp_path / "bad.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(K15Error, match="holds no warm-up examples"):
        read_examples(tmp_path / "empty.jsonl")


def test_warmup_data_then_sft_on_it_through_the_cli(workspace, tiny_model_dir, monkeypatch, capsys):
    """The sampling is the model's (replaced here by the task's own answers, right for even samples and wrong for
    odd ones: the tiny untrained model solves nothing); the rest is the real path: the task's training problems,
    the verifier, the file, and SFT on exactly the kept examples."""
    from k15core import warmup_data
    from k15core.cli import main
    from k15core.config import TaskConfig
    from k15core.tasks import make_task

    task = make_task(TaskConfig())
    asked = {}

    def fake_generate(model, tokenizer, prompts, *, k, **_):
        asked["prompts"], asked["k"] = prompts, k
        problems = task.train_problems(len(prompts), seed=0)
        return [gen(i, j, task.solution(problems[i], task.styles[0]) if j % 2 == 0 else "no idea") for i in range(len(prompts)) for j in range(k)]

    monkeypatch.setattr(warmup_data, "generate", fake_generate)
    common = ["--workspace", str(workspace.root), "--quiet"]
    assert main(["warmup-data", *common, "--model", str(tiny_model_dir), "--problems", "6", "--samples", "3", "--per-problem", "2"]) == 0
    out = capsys.readouterr().out
    path = workspace.root / "data" / "warmup-data.jsonl"
    kept = read_examples(path)
    assert asked["k"] == 3 and len(asked["prompts"]) == 6
    assert len(kept) == 6 and f"kept 6 of 18 answers (12 correct and finished) for 6 problems" in out  # samples 0 and 2 agree: one each
    assert main(["sft", *common, "--model", str(tiny_model_dir), "--data", str(path), "--out", "warm-rs", "--set", "sft.batch_size=3"]) == 0
    assert "saved" in capsys.readouterr().out and (workspace.root / "models" / "warm-rs" / "config.json").exists()
    sft_runs = [r for r in workspace.store().runs(kind="sft")]
    assert sft_runs[-1]["config"]["examples"] == "given"
    assert main(["warmup-data", *common, "--model", str(tiny_model_dir), "--samples", "0"]) == 2
    captured = capsys.readouterr()
    assert "--samples must be at least 1" in captured.out + captured.err
