"""What every one-symbol-answer task must do (recurrence: a digit, chains: a letter): seeded,
level-balanced training draws disjoint from the held-out set; references always verify, an altered
answer never does, and arbitrary text never raises."""
from __future__ import annotations

import random
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k15core.tasks.chains import ChainsTask
from k15core.tasks.recurrence import RecurrenceTask

TASKS = [(RecurrenceTask(eval_per_level=5), string.digits), (ChainsTask(eval_per_level=5), string.ascii_lowercase)]


@pytest.mark.parametrize("task, answers", TASKS, ids=["recurrence", "chains"])
def test_seeded_balanced_and_disjoint_from_eval(task, answers):
    a = task.train_problems(100 * len(task.levels), seed=5)
    assert [p.id for p in a] == [p.id for p in task.train_problems(100 * len(task.levels), seed=5)]
    assert {lv: sum(p.difficulty == lv for p in a) for lv in task.levels} == {lv: 100 for lv in task.levels}
    assert not {p.id for p in task.train_problems(5000, seed=0)} & {p.id for p in task.eval_problems()}


@pytest.mark.parametrize("task, answers", TASKS, ids=["recurrence", "chains"])
@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 10_000), style_index=st.integers(0, 2))
def test_references_verify_and_altered_answers_do_not(task, answers, seed, style_index):
    rng = random.Random(seed)
    p = task._random_problem(rng, rng.choice(list(task.levels)))
    text = task.solution(p, task.styles[style_index % len(task.styles)])
    assert task.verify(text, p.reference) == 1.0
    wrong = rng.choice([a for a in answers if a != p.reference])
    assert task.verify(text[: text.rindex("Answer:")] + f"Answer: {wrong}", p.reference) == 0.0


@pytest.mark.parametrize("task, answers", TASKS, ids=["recurrence", "chains"])
@settings(max_examples=300, deadline=None)
@given(response=st.text(), reference=st.text())
def test_random_text_never_raises(task, answers, response, reference):
    assert task.verify(response, reference) in (0.0, 1.0)
