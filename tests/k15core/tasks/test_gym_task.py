"""reasoning-gym generators as a task: stable splits, answers scored by the dataset's own scorer."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("reasoning_gym")

from k15core.config import load_config  # noqa: E402
from k15core.errors import K15Error  # noqa: E402
from k15core.tasks import GymTask, check_reference, make_task  # noqa: E402


@pytest.fixture(scope="module")
def countdown():
    return GymTask(dataset="countdown", eval_per_level=10)


def test_config_builds_the_named_generator_and_splits_never_overlap():
    task = make_task(load_config(None, ["task.name=gym", "task.gym_dataset=chain_sum", "task.eval_per_level=12"]).task)
    assert task.dataset == "chain_sum" and len(task.eval_problems()) == 12
    train = task.train_problems(50, seed=3)
    assert len(train) == 50 and not {p.id for p in train} & {p.id for p in task.eval_problems()}
    assert train == task.train_problems(50, seed=3) and train != task.train_problems(50, seed=4)
    assert task.eval_problems() == make_task(load_config(None, ["task.name=gym", "task.gym_dataset=chain_sum", "task.eval_per_level=12"]).task).eval_problems()


def test_generator_answers_verify_in_both_answer_formats(countdown):
    for p in countdown.eval_problems():
        answer = json.loads(p.reference)["answer"]
        assert countdown.verify(countdown.solution(p, "long"), p.reference) == 1.0
        assert countdown.verify(f"thinking...\n<answer>{answer}</answer>", p.reference) == 1.0


def test_any_expression_reaching_the_target_counts_and_wrong_ones_do_not(countdown):
    """countdown's scorer checks the arithmetic, not the string: a reordered expression is right."""
    p = countdown.eval_problems()[0]
    meta = json.loads(p.reference)["metadata"]
    numbers, target = meta["numbers"], meta["target"]
    answer = json.loads(p.reference)["answer"]
    reordered = " + ".join(reversed(answer.split(" + "))) if " + " in answer else f"({answer})"
    assert countdown.verify(f"Answer: {reordered}", p.reference) == 1.0
    assert countdown.verify(f"Answer: {' + '.join(map(str, numbers))}", p.reference) == float(sum(numbers) == target)
    assert countdown.verify(f"<answer>{target}</answer>", p.reference) == 0.0  # the target itself is not allowed
    assert countdown.verify("no answer at all", p.reference) == 0.0
    assert countdown.verify("<answer>1+1</answer>", "not json") == 0.0


def test_partial_credit_is_not_a_reward():
    task = GymTask(dataset="gsm_symbolic", eval_per_level=3)
    p = task.eval_problems()[0]
    wrong = str(int(float(json.loads(p.reference)["answer"])) + 1)
    assert 0 < task._scorer.score_answer(wrong, json.loads(p.reference)) < 1  # reasoning-gym gives a little
    assert task.verify(f"Answer: {wrong}", p.reference) == 0.0  # we give nothing


def test_unknown_dataset_and_bad_references_are_clear_errors():
    with pytest.raises(K15Error, match="no dataset 'countdwn'"):
        GymTask(dataset="countdwn")
    assert check_reference("gym", '{"answer": "3", "metadata": {}}') is None
    assert "JSON" in check_reference("gym", "3")
