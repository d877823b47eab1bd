"""`k15 curate testgen` end to end on the shipped set (assets/testgen/problems.jsonl), through the real sandbox,
and its one-message errors for bad input.

Run: python -m pytest -q tests/k15core/cli/test_curate_testgen.py   (6-14 s on 2 busy cores)
"""
from __future__ import annotations

import json

import pytest

from k15core.cli import main
from k15core.tasks import CodeTask, load_checked_prompt_file

# What the shipped set is built to produce, with the default 50 random inputs per problem (+ each template's fixed ones):
SHIPPED = {
    # id: (inputs generated, dropped for no majority, kept, references passing)
    "tg-sum-two": (50, 0, True, 10),         # ten correct variants
    "tg-max-list": (51, 0, True, 9),         # + 1 fixed all-negative list; the max-starts-at-0 bug fails it
    "tg-count-vowels": (51, 0, False, 8),    # two buggy references (case, forgotten u) fail "AEIOU uu": 8 < 9
    "tg-sort-numbers": (50, 50, False, 10),  # 4 / 3 / 3 output formats on every input: none valid (0 < 40)
    "tg-floor-div": (53, 2, True, 10),       # 6 floor vs 4 truncate on "-7 2" and "7 -2": 6 < 7, dropped; "-8 2" agrees
    "tg-gcd": (53, 0, True, 9),              # one reference divides by zero on "12 0" and "0 0"
    "tg-palindrome": (52, 0, False, 7),      # "Abba": 7 NO vs 3 YES is a majority (7 >= 7); the 3 fail it: 7 < 9
    "tg-reverse-words": (50, 0, True, 10),   # a generator program (as a model writes one) runs in the sandbox
    "tg-fibonacci": (51, 0, True, 9),        # the exponential reference times out on the fixed n = 80
}


@pytest.mark.slow
def test_testgen_on_the_shipped_set_gives_the_counts_it_is_built_for(workspace, capsys):
    code = main(["curate", "testgen", "--workspace", str(workspace.root), "--quiet", "--jobs", "2", "--case-seconds", "1"])
    out = capsys.readouterr().out
    assert code == 0, out
    report = json.loads((workspace.root / "data" / "testgen-report.json").read_text())
    got = {o["id"]: (o["generated"], o["no_majority"], o["kept"], o["passing"]) for o in report["outcomes"]}
    assert got == SHIPPED
    assert (report["problems"], report["kept"], report["dropped"]) == (9, 6, 3)
    assert report["inputs_generated"] == sum(v[0] for v in SHIPPED.values()) == 461
    assert report["inputs_no_majority"] == 52
    assert report["cases_kept"] == 50 + 51 + 51 + 53 + 50 + 51 == 306  # the valid inputs of the kept six
    assert report["dropped_by_kind"] == {"too few passing references": 2, "too few valid cases": 1}
    assert "9 problems -> 6 kept, 3 dropped" in out and "52 dropped without a 70% majority" in out
    assert "tg-palindrome            too few passing references: 7 of 10 pass every valid case, 9 needed" in out

    problems = load_checked_prompt_file(workspace.root / "data" / "testgen.jsonl", "code")
    assert [p.id for p in problems] == [pid for pid, v in SHIPPED.items() if v[2]]
    floor_div = next(p for p in problems if p.id == "tg-floor-div")
    inputs = [t["input"] for t in json.loads(floor_div.reference)]
    assert "-8 2\n" in inputs and "-7 2\n" not in inputs and "7 -2\n" not in inputs  # the disputed inputs are gone
    fib = json.loads(next(p for p in problems if p.id == "tg-fibonacci").reference)
    assert {"input": "80\n", "output": "23416728348467685\n"} in fib  # F(80), from the nine that finished
    # the code task accepts a kept problem's solution on (the first three of) its generated cases
    gcd = next(p for p in problems if p.id == "tg-gcd")
    assert CodeTask().verify(f"```python\n{gcd.meta['solution']}\n```", json.dumps(json.loads(gcd.reference)[:3])) == 1.0


def test_bad_input_is_one_clear_error(workspace, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "prompt": "p", "references": "print(1)"}\n')
    cases = [
        ([str(bad)], 'line 1: "references" must be a non-empty list of programs'),
        ([str(tmp_path / "missing.jsonl")], "does not exist"),
        (["--valid-share", "0.5"], "above 0.5"),
        (["--cases", "0"], "--cases must be at least 1"),
        (["--writer", "nowhere:fn"], "cannot load the generator writer"),
        (["--out", "../x"], "is not a plain name"),
    ]
    for argv, message in cases:
        code = main(["curate", "testgen", "--workspace", str(workspace.root), "--quiet", *argv])
        err = capsys.readouterr().err
        assert code == 2 and message in err and "Traceback" not in err, (argv, err)
        assert err.count("error:") == 1
    assert not (workspace.root / "data" / "testgen.jsonl").exists()  # nothing written on bad input
