"""`k15 judge agreement` end to end on the tiny model: JSON out, the studio's verdicts counted, bad input refused."""
from __future__ import annotations

import json

import pytest

from k15core.cli import main


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.slow
def test_agreement_prints_json_for_the_shipped_set_and_the_studio_verdicts(capsys, workspace, tiny_model_dir, tmp_path):
    from k15core.tasks.problem import Problem
    from k15core.types import TrajectoryRecord

    store = workspace.store()  # one response a person gave a verdict on in the Rollouts tab
    store.add_prompts([Problem(id="p", prompt="What is 2 + 2?", reference="4", task="math")], source="test")
    run = store.create_run("r", "rl", {})
    store.record_iteration(run, 0, {}, [TrajectoryRecord("p", 0, "What is 2 + 2?", "Answer: 4", [1], [0.0], reward=1.0, correct=1.0, length=1, group=0)])
    store.set_label("p", "verdict", {"trajectory": 1, "correct": True}, author="ann", source="studio")
    store.close()

    code, out, err = run_cli(capsys, "judge", "agreement", "--workspace", str(workspace.root), "--model", str(tiny_model_dir), "--limit", "5",
                             "--set", "judge.max_new_tokens=4", "--rows", str(tmp_path / "rows.jsonl"))
    assert code == 0, err
    report = json.loads(out)
    assert report["n"] == 5 and report["judge"]["malformed_share"] == 1.0  # the untrained tiny model never writes the verdict line
    assert report["judge"]["vs_human"]["n"] == 5 and 0 <= report["judge"]["vs_human"]["agreement"] <= 1
    assert report["math_verify"]["vs_human"]["agreement"] == 0.8  # the first five rows: math-verify misses the buried answer
    assert set(report["by_kind"]) == {"right", "wrong", "equivalent_form", "right_answer_wrong_work", "buried"}
    assert report["studio"]["n"] == 1 and report["studio"]["math_verify_vs_human"]["agreement"] == 1.0
    assert report["studio"]["stored_verdict_vs_human"]["n"] == 0  # that row was stored before verdicts were kept
    rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["j000", "j001", "j002", "j003", "j004"] and all(r["malformed"] for r in rows)


def test_a_missing_model_or_set_is_one_clear_error(capsys, workspace, tmp_path):
    code, _, err = run_cli(capsys, "judge", "agreement", "--workspace", str(workspace.root), "--model", "no-such-model")
    assert code == 2 and "model 'no-such-model' not found" in err
    code, _, err = run_cli(capsys, "judge", "agreement", "--workspace", str(workspace.root), "--model", "x", "--labelled", str(tmp_path / "none.jsonl"))
    assert code == 2 and "cannot read the labelled set" in err
    code, _, err = run_cli(capsys, "judge", "agreement", "--workspace", str(workspace.root), "--model", "x", "--set", "judge.max_new_tokens=0")
    assert code == 2 and "judge.max_new_tokens is 0" in err
