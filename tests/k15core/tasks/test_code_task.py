"""The code task: programs extracted from fenced blocks, run on every test case in the sandbox."""
from __future__ import annotations

import json

import pytest

from k15core.config import load_config
from k15core.tasks import CodeTask, check_reference, make_task
from k15core.tasks.code import parse_tests, same_output

SUM_TESTS = json.dumps([{"input": "2 3\n", "output": "5\n"}, {"input": "10 -4\n", "output": "6\n"}])


@pytest.fixture(scope="module")
def task():
    return CodeTask()


def test_every_shipped_solution_passes_and_a_constant_answer_fails(task):
    problems = task.train_problems(len(task._train), seed=0) + task.eval_problems()
    assert len({p.id for p in problems}) == 16 and {p.difficulty for p in problems} == {1, 2, 3, 4, 5}
    for p in problems:
        assert task.verify(task.solution(p, "long"), p.reference) == 1.0, p.id
        assert task.verify("```python\nprint(0)\n```", p.reference) == 0.0, p.id


@pytest.mark.parametrize("response", [
    "Here it is:\n```python\na, b = map(int, input().split())\nprint(a + b)\n```",
    "```py\nprint(sum(map(int, input().split())))\n```",
    "```\nprint(sum(map(int, input().split())))   \n```\nDone.",
    "first try:\n```python\nprint(1)\n```\nbetter:\n```python\nprint(sum(map(int, input().split())))\n```",  # the last block counts
])
def test_correct_programs_verify(task, response):
    assert task.verify(response, SUM_TESTS) == 1.0


@pytest.mark.parametrize("response", [
    "a, b = map(int, input().split())\nprint(a + b)",  # no fenced block: no program
    "```python\nprint(sum(map(int, input().split())))",  # cut off inside the block
    "```python\na, b = map(int, input().split())\nprint(a - b)\n```",  # passes neither case
    "```python\nprint(5)\n```",  # passes the first case only: all cases must pass
    "```python\nraise SystemExit(3)\n```",
    "```python\n\n```",
    "",
])
def test_wrong_or_missing_programs_do_not(task, response):
    assert task.verify(response, SUM_TESTS) == 0.0


def test_output_comparison_ignores_only_trailing_whitespace():
    assert same_output("1\n2  \n\n", "1\n2")
    assert not same_output("1 2", "12") and not same_output(" 1", "1")


def test_references_are_checked(task):
    assert parse_tests(SUM_TESTS)[1]["output"] == "6\n"
    assert check_reference("code", SUM_TESTS) is None
    for bad in ("42", "[]", '[{"input": "1"}]', "not json"):
        assert check_reference("code", bad)
    assert task.verify("```python\nprint(5)\n```", "not json") == 0.0  # a bad reference scores 0, never raises


def test_config_selects_a_code_file(tmp_path):
    path = tmp_path / "mine.jsonl"
    rows = [{"prompt": f"Print {i}.", "tests": [{"input": "", "output": f"{i}\n"}], "difficulty": 1, "solution": f"print({i})"} for i in range(4)]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    cfg = load_config(None, ["task.name=code", f"task.path={path}"])
    task = make_task(cfg.task)
    problems = task.train_problems(3, seed=0) + task.eval_problems()
    assert len(task.eval_problems()) == 1 and all(p.task == "code" for p in problems)
    assert all(task.verify(task.solution(p, "short"), p.reference) == 1.0 for p in problems)
