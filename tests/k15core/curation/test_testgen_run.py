"""The testgen pipeline on tiny problems through the real sandbox: the problem file, the writer hook (a fixed
string stands in for a model's answer), drop reasons, and an output the code task reads.

Run: python -m pytest -q tests/k15core/curation/test_testgen_run.py   (about 5 s)
"""
from __future__ import annotations

import json

import pytest

from k15core.curation.testgen import TestgenConfig, TestgenProblem, generate_tests, load_problems, load_writer, write_prompt_file
from k15core.curation.testgen.problems import SAMPLE, GeneratorProgram
from k15core.curation.testgen.template import parse_template
from k15core.errors import K15Error
from k15core.tasks import CodeTask, load_checked_prompt_file

DOUBLE = ["print(2 * int(input()))", "print(int(input()) * 2)", "n = int(input())\nprint(n + n)"]
ONE_TO_NINE = parse_template({"lines": [[{"int": [1, 9]}]]})
FAST = TestgenConfig(cases=4, case_seconds=1.0)

# What a model would answer when asked for a generator (harness.GENERATOR_CONTRACT); a fixed string in its place.
MODEL_GENERATOR = """import json, random
seed, count = map(int, input().split())
rng = random.Random(seed)
print(json.dumps([str(rng.randint(-50, 50)) + "\\n" for _ in range(count)]))
"""


def fixed_writer(problem: TestgenProblem) -> str:
    return MODEL_GENERATOR


def test_a_model_written_generator_runs_in_the_sandbox_and_its_problem_is_kept():
    seen = []
    result = generate_tests([TestgenProblem("double", "Print 2n.", tuple(DOUBLE))], FAST,
                            writer=lambda p: seen.append(p.id) or fixed_writer(p))
    assert seen == ["double"]  # the hook is asked once, with the problem
    (kept,) = result.kept
    assert len(kept.tests) == 4
    for case in kept.tests:  # each expected output is twice the generated input
        assert int(case.output) == 2 * int(case.input) and case.output.endswith("\n")
    assert result.report.kept == 1 and result.report.inputs_generated == 4


def test_a_problem_with_no_generator_or_a_failing_one_is_dropped_with_its_reason():
    problems = [TestgenProblem("no-gen", "Print 2n.", tuple(DOUBLE)),
                TestgenProblem("bad-gen", "Print 2n.", tuple(DOUBLE), GeneratorProgram("print('not json')"))]
    report = generate_tests(problems, FAST).report
    reasons = {o.id: o.reason for o in report.outcomes}
    assert reasons["no-gen"].startswith("no generator")
    assert reasons["bad-gen"].startswith("generator failed: the generator program did not print a JSON list")
    assert report.dropped_by_kind == {"no generator": 1, "generator failed": 1} and report.kept == 0

    def broken_model(problem):
        raise TimeoutError("the model server did not answer")

    report = generate_tests(problems[:1], FAST, writer=broken_model).report
    assert report.outcomes[0].reason == "generator failed: the writer raised TimeoutError: the model server did not answer"


def test_references_that_disagree_on_every_input_drop_the_problem():
    # 2 print 2n, 1 prints 3n: 2 of 3 agree, but n = 3 needs ceil(2.1) = 3 -> no input is valid
    refs = (DOUBLE[0], DOUBLE[1], "print(3 * int(input()))")
    report = generate_tests([TestgenProblem("split", "Print 2n.", refs, ONE_TO_NINE)], FAST).report
    (o,) = report.outcomes
    assert (o.generated, o.no_majority, o.valid, o.kept) == (4, 4, 0, False)
    assert o.reason == "too few valid cases: 0 of 4 have an agreed output, 4 needed"
    assert report.inputs_no_majority == 4


def test_the_output_is_a_code_prompt_file_the_code_task_verifies(tmp_path):
    result = generate_tests([TestgenProblem("double", "Print 2n.", tuple(DOUBLE), ONE_TO_NINE, difficulty=1)], FAST)
    path = write_prompt_file(result.kept, tmp_path / "out" / "prompts.jsonl")
    (problem,) = load_checked_prompt_file(path, "code")  # the import the trainer's prompt files go through
    assert problem.id == "double" and problem.task == "code" and problem.difficulty == 1
    assert problem.meta["solution"] == DOUBLE[0]
    tests = json.loads(problem.reference)
    assert len(tests) == 4 and {"input", "output"} == set(tests[0])
    task = CodeTask()
    assert task.verify(f"```python\n{DOUBLE[2]}\n```", problem.reference) == 1.0
    assert task.verify("```python\nprint(0)\n```", problem.reference) == 0.0


def test_the_shipped_problem_file_loads():
    problems = load_problems(SAMPLE)
    assert 6 <= len(problems) <= 10 and all(len(p.references) == 10 for p in problems)
    assert SAMPLE.stat().st_size < 20_000  # small files only


def test_a_bad_problem_file_is_one_error_naming_every_bad_line(tmp_path):
    good = {"id": "a", "prompt": "p", "references": ["print(1)"], "generator": {"template": {"lines": [[{"int": [1, 2]}]]}}}
    rows = [json.dumps(good), "{not json", json.dumps({**good, "id": "b", "references": []}),
            json.dumps({**good, "id": "c", "generator": {"template": {"lines": [[{"int": [3, 1]}]]}}}),
            json.dumps({**good, "id": "d", "generator": {"cyaron": "..."}}), json.dumps(good)]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(K15Error) as err:
        load_problems(path)
    message = str(err.value)
    assert "has 5 bad line(s)" in message
    for expected in ("line 2: not valid JSON", "line 3: \"references\" must be", "line 4: 'int' range [3, 1] is empty",
                     "line 5: \"generator\" must be", "line 6: duplicate id 'a'"):
        assert expected in message
    with pytest.raises(K15Error, match="does not exist"):
        load_problems(tmp_path / "missing.jsonl")


def test_config_and_writer_errors_are_clear():
    with pytest.raises(K15Error, match="--cases must be at least 1"):
        TestgenConfig(cases=0)
    with pytest.raises(K15Error, match="--jobs"):
        TestgenConfig(jobs=0)
    with pytest.raises(K15Error, match="cannot load the generator writer"):
        load_writer("no_such_module:writer")
    assert load_writer(f"{__name__}:fixed_writer") is fixed_writer
