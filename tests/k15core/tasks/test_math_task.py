"""The math task: answers extracted from \\boxed{} or "Answer:", checked with math-verify, in any thread."""
from __future__ import annotations

import threading

import pytest

from k15core.config import load_config
from k15core.tasks import MathTask, check_reference, make_task
from k15core.tasks.math import last_boxed


@pytest.fixture(scope="module")
def task():
    return MathTask()


@pytest.mark.parametrize("response, reference", [
    ("12 + 7 = 19\nAnswer: 19", "19"),
    ("so the result is \\boxed{\\frac{1}{2}}", "0.5"),
    ("Answer: 0.75", "\\frac{3}{4}"),
    ("Answer: 2\\sqrt{2}", "\\sqrt{8}"),
    ("first Answer: 3, no wait. Answer: 5", "5"),
    ("\\boxed{\\frac{7}{8}} is it", "\\frac{7}{8}"),
    ("12 + 7 = 19 apples.\n\nThe answer is: 19", "19"),
    ("So the answer is '54'.", "54"),
    ("Mia read 45 + 38 = 83 pages.", "83"),  # no marker: the last number of the last line
    ("Step 1: 1,200 + 50\nShe has 1,250 stamps.\n", "1250"),
])
def test_equal_values_verify(task, response, reference):
    assert task.verify(response, reference) == 1.0


@pytest.mark.parametrize("response, reference", [
    ("Answer: 18", "19"),
    ("Answer: 0.33", "\\frac{1}{3}"),
    ("19 is what I first thought.\nBut then it must be 20 apples", "19"),  # the last line's last number counts
    ("\\boxed{3", "3"),  # an unclosed box is no answer
    ("Answer: " + "9" * 5000, "9"),  # absurdly long: cut, compared, never raises
    ("", "1"),
    ("I have no answer for 19 apples.\nSorry, I cannot say", "19"),  # no marker and no number on the last line
])
def test_wrong_or_missing_answers_do_not(task, response, reference):
    assert task.verify(response, reference) == 0.0


def test_verify_works_outside_the_main_thread(task):
    """math-verify's own timeouts raise in threads (signal.alarm); the task must not."""
    results = []
    t = threading.Thread(target=lambda: results.append((task.verify("Answer: \\frac{1}{2}", "0.5"), task.verify("Answer: 2", "3"))))
    t.start()
    t.join(30)
    assert results == [(1.0, 0.0)]


def test_splits_and_styles(task):
    per_level = {1: 5, 2: 8, 3: 10, 4: 10, 5: 7}  # the shipped sample; a quarter of each level is held out
    assert len(task.eval_problems()) == sum(n // 4 for n in per_level.values()) == 8
    assert {p.difficulty for p in task.eval_problems()} == {1, 2, 3, 4, 5}
    train = task.train_problems(100, seed=0)
    assert len(train) == 100 and not {p.id for p in train} & {p.id for p in task.eval_problems()}
    assert train == task.train_problems(100, seed=0) and train != task.train_problems(100, seed=1)
    p = train[0]
    assert task.verify(task.solution(p, "long"), p.reference) == 1.0 and task.solution(p, "long").startswith("Solution: ")
    assert task.verify(task.solution(p, "short"), p.reference) == 1.0
    assert last_boxed("a \\boxed{x^{2}} b") == "x^{2}"


def test_shipped_sample_references_all_verify_and_config_selects_a_file(tmp_path):
    task = make_task(load_config(overrides=["task.name=math"]).task)
    problems = task.train_problems(30, 0) + task.eval_problems()
    assert all(check_reference("math", p.reference) is None for p in problems)
    own = tmp_path / "mine.jsonl"
    own.write_text('{"prompt": "1+1?", "reference": "2", "difficulty": 1}\n{"prompt": "2+2?", "reference": "4", "difficulty": 1}\n')
    mine = make_task(load_config(overrides=["task.name=math", f"task.path={own}"]).task)
    assert len(mine.train_problems(1, 0) + mine.eval_problems()) == 2
