"""Programming problems with stdin/stdout test cases, answers run in the sandbox (`task.name=code`).

Problems come from a prompt file whose rows give `prompt`, `tests` (a list of {"input", "output"})
and optionally `difficulty`, `id` and `solution` (a correct program, used for the warm-up); the default
is assets/tasks/code_sample.jsonl (16 problems written for this project, levels 1-5). The test cases
are the problem's reference, kept as JSON.

Verification: the program is the last fenced code block of the response (```python ... ``` or a bare
``` ... ```); it runs once per test case in `k15core.sandbox` with that case's input, and its output
must equal the expected output up to trailing whitespace on each line and trailing blank lines.
Choice (the report says test cases decide the reward, not how partial passes count): the reward is
1.0 only when every case passes; a crash, a timeout or anything the sandbox stops scores 0.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from k15core.sandbox import SandboxLimits, run_python
from k15core.tasks.base import FileTask, Problem

SAMPLE = Path(__file__).resolve().parents[2] / "assets" / "tasks" / "code_sample.jsonl"
_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)```", re.S | re.I)


def parse_tests(reference: str) -> list[dict]:
    """The test cases a reference holds; raises ValueError (saying what is wrong) for a malformed one."""
    try:
        tests = json.loads(reference)
    except (TypeError, json.JSONDecodeError):
        raise ValueError("the reference is not JSON test cases") from None
    if not isinstance(tests, list) or not tests:
        raise ValueError("the reference must be a non-empty JSON list of test cases")
    for i, case in enumerate(tests):
        if not (isinstance(case, dict) and isinstance(case.get("input"), str) and isinstance(case.get("output"), str)):
            raise ValueError(f'test case {i + 1} must be an object with text fields "input" and "output"')
    return tests


def canonical_output(text: str) -> str:
    """An output as the verifier compares it: trailing spaces cut from each line, trailing blank lines dropped.

    >>> canonical_output("3 \\n\\n") == canonical_output("3") == "3"
    True
    """
    return "\n".join(line.rstrip() for line in text.rstrip().splitlines())


def same_output(got: str, expected: str) -> bool:
    """Outputs are equal up to trailing spaces on each line and trailing blank lines."""
    return canonical_output(got) == canonical_output(expected)


class CodeTask(FileTask):
    name = "code"
    final_answer = False  # the reference is not an answer to compare (k15 curate formats skips it)
    styles = ("short", "long")
    STYLE_PREFIX = {"short": "```python\n", "long": "Solution:"}
    SAMPLE = SAMPLE
    limits = SandboxLimits()

    def solution(self, problem: Problem, style: str) -> str:
        program = f"```python\n{problem.meta.get('solution', '')}\n```"
        return program if style == "short" else f"Solution: read the input, compute the answer, print it.\n{program}"

    def extract_answer(self, response: str) -> str | None:
        """The last fenced code block, or None. A response cut off inside an open block has no program."""
        try:
            blocks = _FENCE.findall(response)
        except TypeError:
            return None
        return blocks[-1] if blocks and blocks[-1].strip() else None

    def check_reference(self, reference: str) -> str | None:
        """Why `reference` cannot be this task's reference (well-formed test cases), or None."""
        try:
            parse_tests(reference)
        except ValueError as err:
            return str(err)
        return None

    def verify(self, response: str, reference: str) -> float:
        """1.0 if the response's program passes every test case in the sandbox, else 0.0; never raises."""
        try:
            program = self.extract_answer(response)
            if program is None:
                return 0.0
            for case in parse_tests(reference):
                result = run_python(program, stdin=case["input"], limits=self.limits)
                if not (result.ok and same_output(result.stdout, case["output"])):
                    return 0.0
            return 1.0
        except Exception:  # a malformed reference, or no sandbox on this machine: no reward, never a crash
            return 0.0
