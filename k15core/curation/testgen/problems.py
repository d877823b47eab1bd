"""Code problems with reference solutions (what `k15 curate testgen` reads) and the prompt file it writes.

Input: JSONL, one problem per line:

    {"id": "tg-sum", "prompt": "Read a and b, print a + b.", "difficulty": 1,
     "references": ["a, b = map(int, input().split())\\nprint(a + b)", ...],
     "generator": {"template": {"lines": [[{"int": [-9, 9]}, {"int": [-9, 9]}]]}}}

`generator` is a template (`k15core.curation.testgen.template`) or {"program": SOURCE}: a generator program,
e.g. one a model wrote, run in the sandbox (`harness.GENERATOR_CONTRACT`). A problem may leave it out when
the command is given a generator writer (`--writer`). Every bad line is reported at once, and nothing is
generated from a file that has one.

Output: the kept problems in the code task's prompt-file format (`k15core.tasks.code`): `id`, `prompt`,
`difficulty`, `solution` (the first reference that passed), `tests` (a list of {"input", "output"}) and
`task: "code"`, so `k15 prompts import` and `--set task.name=code` train on it as it is.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from k15core.curation.testgen.template import GeneratorTemplate, parse_template
from k15core.errors import K15Error

ASSETS = Path(__file__).resolve().parents[3] / "assets" / "testgen"
SAMPLE = ASSETS / "problems.jsonl"
FORMAT_HELP = ('each line is a JSON object with "id", "prompt", "references" (a list of programs) and "generator" '
               '({"template": {...}} or {"program": SOURCE}); see k15core/curation/testgen/problems.py')


@dataclass(frozen=True)
class GeneratorProgram:
    source: str
    """A Python program that prints test inputs (contract: `harness.GENERATOR_CONTRACT`); runs in the sandbox."""


Generator = GeneratorTemplate | GeneratorProgram


@dataclass(frozen=True)
class TestgenProblem:
    """One code problem before its test cases exist: a statement, n reference solutions, how to make inputs."""

    __test__ = False  # a record, not a pytest test class

    id: str
    prompt: str
    references: tuple[str, ...]
    """Ground-truth submissions (report: 10), Python programs reading stdin and printing to stdout."""
    generator: Generator | None = None
    """None: the command's generator writer writes one (else the problem is dropped, "no generator")."""
    difficulty: int = 0


@dataclass(frozen=True)
class TestCase:
    __test__ = False

    input: str
    output: str
    """The references' majority output (canonical form, newline-terminated unless empty)."""


@dataclass(frozen=True)
class GeneratedProblem:
    """A kept problem with its valid test cases: one row of the output prompt file."""

    problem: TestgenProblem
    tests: tuple[TestCase, ...]
    solution: str
    """The first reference that passed every case (the code task's warm-up uses it)."""

    def row(self) -> dict:
        return {"id": self.problem.id, "prompt": self.problem.prompt, "difficulty": self.problem.difficulty, "solution": self.solution,
                "tests": [{"input": t.input, "output": t.output} for t in self.tests], "task": "code"}


def _generator(spec: object) -> Generator | None:
    if spec is None:
        return None
    if isinstance(spec, dict) and set(spec) == {"template"}:
        return parse_template(spec["template"])
    if isinstance(spec, dict) and set(spec) == {"program"}:
        if not isinstance(spec["program"], str) or not spec["program"].strip():
            raise ValueError('"program" must be the generator\'s source text')
        return GeneratorProgram(spec["program"])
    raise ValueError('"generator" must be {"template": {...}} or {"program": SOURCE}')


def problem_from_row(row: object) -> TestgenProblem:
    """One problem from its JSON object; ValueError says what is wrong."""
    if not isinstance(row, dict):
        raise ValueError("not a JSON object")
    pid, prompt, refs = row.get("id"), row.get("prompt"), row.get("references")
    if not isinstance(pid, str) or not pid.strip():
        raise ValueError('missing or empty "id"')
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError('missing or empty "prompt"')
    if not isinstance(refs, list) or not refs or not all(isinstance(r, str) and r.strip() for r in refs):
        raise ValueError('"references" must be a non-empty list of programs')
    difficulty = row.get("difficulty", 0)
    if not isinstance(difficulty, int) or isinstance(difficulty, bool) or not 0 <= difficulty <= 10:
        raise ValueError(f'"difficulty" must be a whole number from 0 to 10, got {difficulty!r}')
    return TestgenProblem(id=pid, prompt=prompt, references=tuple(refs), generator=_generator(row.get("generator")), difficulty=difficulty)


def load_problems(path: str | Path) -> list[TestgenProblem]:
    """Every problem of a JSONL file, or one K15Error naming each bad line (and duplicate ids)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise K15Error(f"problem file {str(path)!r} does not exist", "check the path (the shipped set: assets/testgen/problems.jsonl)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise K15Error(f"cannot read problem file {str(path)!r} ({err})", "pass a UTF-8 JSONL file") from None
    problems, errors, seen = [], [], set()
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            p = problem_from_row(json.loads(line))
            if p.id in seen:
                raise ValueError(f"duplicate id {p.id!r}")
            seen.add(p.id)
            problems.append(p)
        except json.JSONDecodeError as err:
            errors.append(f"line {lineno}: not valid JSON ({err.msg})")
        except ValueError as err:
            errors.append(f"line {lineno}: {err}")
    if errors:
        shown = "; ".join(errors[:10]) + (f"; and {len(errors) - 10} more" if len(errors) > 10 else "")
        raise K15Error(f"problem file {str(path)!r} has {len(errors)} bad line(s): {shown}", FORMAT_HELP)
    if not problems:
        raise K15Error(f"problem file {str(path)!r} holds no problems", FORMAT_HELP)
    return problems


def write_prompt_file(kept: list[GeneratedProblem], path: str | Path) -> Path:
    """The kept problems as a code-task prompt file (JSONL), written whole or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(g.row()) + "\n" for g in kept), encoding="utf-8")
    tmp.replace(path)  # a reader never sees half a file
    return path
