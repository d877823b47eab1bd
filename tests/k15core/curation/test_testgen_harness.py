"""References and generator programs run in the real sandbox: one result per input, a bad case costs one case.

Run: python -m pytest -q tests/k15core/curation/test_testgen_harness.py   (about 3 s: each sandboxed run ~0.1 s)
"""
from __future__ import annotations

import json
import time

import pytest

from k15core.curation.testgen.harness import run_generator, run_on_inputs

ADD = "a, b = map(int, input().split())\nprint(a + b)"


def statuses(results):
    return [(r.status, r.output) for r in results]


def test_each_input_gets_its_own_stdin_and_output():
    assert statuses(run_on_inputs(ADD, ["1 2\n", "10 -4\n", "0 0\n"])) == [("ok", "3"), ("ok", "6"), ("ok", "0")]


def test_outputs_are_in_the_verifiers_canonical_form():
    # trailing spaces and blank lines do not count, as in the code task's check
    assert statuses(run_on_inputs("print('x ')\nprint()\nprint()", ["\n"])) == [("ok", "x")]


def test_the_common_ways_to_read_input_all_work():
    programs = ["import sys\nprint(sum(map(int, sys.stdin.read().split())))",
                "import sys\nprint(sum(map(int, sys.stdin.buffer.read().split())))",
                "print(sum(map(int, open(0).read().split())))"]  # fd 0; the program's file closes it when collected
    for program in programs:
        assert statuses(run_on_inputs(program, ["1 2\n", "3 4\n"])) == [("ok", "3"), ("ok", "7")], program


def test_an_exception_or_exit_status_fails_that_case_only():
    program = "import sys\na, b = map(int, input().split())\nif b == 1: sys.exit(2)\nif b == 3: sys.exit(0)\nprint(a // b)"
    got = statuses(run_on_inputs(program, ["6 2\n", "6 0\n", "6 1\n", "6 3\n", "9 3\n"]))
    assert got == [("ok", "3"), ("error", None), ("error", None), ("ok", ""), ("ok", "")]


def test_a_hang_is_stopped_by_the_per_case_timer_and_the_next_case_runs():
    program = "n = int(input())\nwhile n: pass\nprint(n)"
    got = statuses(run_on_inputs(program, ["0\n", "1\n", "0\n"], case_seconds=0.3))
    assert got == [("ok", "0"), ("timeout", None), ("ok", "0")]


def test_a_sleeping_program_is_stopped_by_the_wall_clock_timer():
    # 0.2 CPU seconds per case -> 0.5 s of wall clock; sleeping uses no CPU, so only the wall timer can stop it.
    # Without it the run's own wall limit (0.2 * 2.5 * 2 + 5 = 6 s) would end it, with the same statuses: hence the clock.
    start = time.monotonic()
    got = statuses(run_on_inputs("import time\nn = int(input())\ntime.sleep(30 * n)\nprint(n)", ["1\n", "0\n"], case_seconds=0.2))
    assert got == [("timeout", None), ("ok", "0")]
    assert time.monotonic() - start < 4.0


def test_a_run_that_dies_costs_the_case_it_died_on_and_the_rest_still_run():
    program = "import os\nn = int(input())\nif n == 1: os._exit(3)\nprint(n)"  # leaves the harness with no line written
    got = statuses(run_on_inputs(program, ["0\n", "1\n", "2\n"]))
    assert got == [("ok", "0"), ("killed", None), ("ok", "2")]


def test_a_program_that_does_not_compile_fails_every_case():
    assert statuses(run_on_inputs("print(1", ["\n", "\n"])) == [("error", None), ("error", None)]


def test_globals_do_not_leak_between_cases():
    program = "try:\n    seen += 1\nexcept NameError:\n    seen = 1\nprint(seen)"
    assert statuses(run_on_inputs(program, ["\n", "\n"])) == [("ok", "1"), ("ok", "1")]


def test_the_sandbox_still_holds_inside_the_harness():
    got = run_on_inputs("import socket\nsocket.socket()\nprint('net')", ["\n"])
    assert statuses(got) == [("error", None)]


GENERATOR = """import json, random
seed, count = map(int, input().split())
rng = random.Random(seed)
print(json.dumps([f"{rng.randint(1, 9)} {rng.randint(1, 9)}\\n" for _ in range(count)]))
"""


def test_a_generator_program_gives_count_seeded_inputs():
    first = run_generator(GENERATOR, 4, seed=1)
    assert len(first) == 4 and all(len(i.split()) == 2 for i in first)
    assert run_generator(GENERATOR, 4, seed=1) == first
    assert run_generator(GENERATOR, 4, seed=2) != first
    # more than asked for is cut to the count
    assert run_generator("import json\nprint(json.dumps(['1\\n'] * 9))", 3, seed=0) == ["1\n"] * 3


@pytest.mark.parametrize("source, message", [
    ("raise RuntimeError('boom')", "ended with error: RuntimeError: boom"),
    ("print('3 4')", "did not print a JSON list"),
    ("print(" + json.dumps(json.dumps([1, 2])) + ")", "list of input strings"),
    ("print('[]')", "non-empty JSON list"),
])
def test_a_broken_generator_says_why(source, message):
    with pytest.raises(ValueError, match=message):
        run_generator(source, 3, seed=0)
