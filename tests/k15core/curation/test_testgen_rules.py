"""The test-case generation rules of report §2.3.5 at their boundaries, numbers derived by hand.

Run: python -m pytest -q tests/k15core/curation/test_testgen_rules.py
"""
from __future__ import annotations

import pytest

from k15core.curation.testgen.rules import (TestgenRules, enough_valid_cases, judge_problem, keeps_problem, majority_output, min_agreeing,
                                            passes_all)
from k15core.errors import K15Error


@pytest.mark.parametrize("n, share, need", [
    (10, 0.7, 7),   # the report's 7 of 10
    (10, 0.9, 9),   # the report's 9 of 10
    (50, 0.8, 40),  # the report's 40 valid of 50
    (3, 0.7, 3),    # 2.1 -> 3 (float: 2.0999999999999996)
    (7, 0.9, 7),    # 6.3 -> 7
    (5, 0.7, 4),    # 3.5 -> 4
    (20, 0.7, 14),  # exactly 14.0 stays 14
    (25, 0.28, 7),  # float: 0.28 * 25 = 7.000000000000001, whose plain ceiling would be 8
    (50, 0.14, 7),  # likewise 7.000000000000001
    (1, 0.9, 1),
])
def test_min_agreeing_is_the_ceiling_of_share_times_n(n, share, need):
    assert min_agreeing(n, share) == need


def test_min_agreeing_rejects_nonsense():
    for n, share in ((0, 0.7), (10, 0.0), (10, 1.5)):
        with pytest.raises(ValueError):
            min_agreeing(n, share)


def test_seven_of_ten_agreeing_is_a_case_six_is_not():
    assert majority_output(["42"] * 7 + ["41"] * 3) == "42"
    assert majority_output(["42"] * 6 + ["41"] * 4) is None
    # the minority may be spread out: 6 agree, 4 all different -> still only 6
    assert majority_output(["42"] * 6 + ["1", "2", "3", "4"]) is None


def test_failed_runs_count_in_n_but_vote_for_nothing():
    # 7 outputs agree, 3 references crashed: 7 of 10 -> valid
    assert majority_output(["5"] * 7 + [None] * 3) == "5"
    # 6 agree, 4 crashed: 6 of 10 -> dropped (crashes do not shrink n)
    assert majority_output(["5"] * 6 + [None] * 4) is None
    # every reference crashed: there is no output to expect
    assert majority_output([None] * 10) is None


def test_a_tie_never_wins():
    assert majority_output(["a"] * 5 + ["b"] * 5) is None
    assert majority_output(["a", "b"], share=0.7) is None  # n = 2: need 2 (1.4 -> 2)
    with pytest.raises(ValueError):  # at one half two outputs could both reach the bar
        majority_output(["a"] * 5 + ["b"] * 5, share=0.5)


@pytest.mark.parametrize("outputs, expected", [
    (["x", "x", "y"], None),        # n = 3: ceil(2.1) = 3, two of three is not enough
    (["x", "x", "x"], "x"),
    (["x"] * 4 + ["y"], "x"),       # n = 5: ceil(3.5) = 4
    (["x"] * 3 + ["y"] * 2, None),
    (["x"] * 14 + ["y"] * 6, "x"),  # n = 20: exactly 14
    (["x"] * 13 + ["y"] * 7, None),
])
def test_majority_when_n_is_not_ten(outputs, expected):
    assert majority_output(outputs) == expected


def test_nine_of_ten_passing_keeps_a_problem_eight_does_not():
    assert keeps_problem([True] * 9 + [False])
    assert not keeps_problem([True] * 8 + [False] * 2)
    assert keeps_problem([True] * 10)


@pytest.mark.parametrize("passing, n, kept", [
    (7, 7, True), (6, 7, False),    # n = 7: ceil(6.3) = 7, every reference must pass
    (5, 5, True), (4, 5, False),    # n = 5: ceil(4.5) = 5
    (18, 20, True), (17, 20, False),  # n = 20: exactly 18
    (1, 1, True), (0, 1, False),
])
def test_keep_when_n_is_not_ten(passing, n, kept):
    assert keeps_problem([True] * passing + [False] * (n - passing)) is kept


def test_passing_means_every_valid_case_and_dropped_cases_do_not_count():
    expected = ["1", None, "3"]
    assert passes_all(["1", "junk", "3"], expected)  # case 2 was dropped: whatever it printed is fine
    assert not passes_all(["1", "2", "4"], expected)
    assert not passes_all(["1", "2", None], expected)  # a crash on a valid case fails it
    with pytest.raises(ValueError):
        passes_all(["1"], expected)


def test_enough_valid_cases_counts_against_the_cases_asked_for():
    assert enough_valid_cases(40, 50) and not enough_valid_cases(39, 50)
    assert enough_valid_cases(8, 10) and not enough_valid_cases(7, 10)
    assert not enough_valid_cases(0, 1)


def test_judge_keeps_a_problem_with_one_buggy_reference_and_drops_its_disputed_input():
    # 10 references x 3 inputs. Input 0: all print "1". Input 1: 6 print "2", 4 print "9" -> no majority, dropped.
    # Input 2: 9 print "3", reference 9 prints "0" -> valid, and reference 9 fails it.
    outputs = [["1", "2" if r < 6 else "9", "3" if r < 9 else "0"] for r in range(10)]
    v = judge_problem(outputs, requested=3, rules=TestgenRules(min_valid_share=0.5))
    assert v.expected == ("1", None, "3")
    assert v.valid == 2 and v.no_majority == 1
    assert v.passing == (True,) * 9 + (False,)  # the 4 who printed "9" on input 1 still pass: it was dropped
    assert v.kept and v.reason == ""


def test_judge_drops_with_the_reason_of_the_first_rule_that_fails():
    # two buggy references out of 10 fail the only input: 8 of 10 pass, 9 needed
    outputs = [["1"] if r < 8 else ["0"] for r in range(10)]
    v = judge_problem(outputs, requested=1)
    assert not v.kept and v.reason == "too few passing references: 8 of 10 pass every valid case, 9 needed"
    # references split 5/5 on 10 inputs: no input valid, which is checked first
    outputs = [["a" if r < 5 else "b"] * 10 for r in range(10)]
    v = judge_problem(outputs, requested=10)
    assert not v.kept and v.reason == "too few valid cases: 0 of 10 have an agreed output, 8 needed"
    assert v.no_majority == 10


def test_judge_counts_valid_cases_against_the_request_not_what_was_generated():
    # a generator asked for 10 printed 2 inputs, both valid: 2 < ceil(0.8 * 10) = 8
    v = judge_problem([["1", "2"]] * 10, requested=10)
    assert not v.kept and v.reason.startswith("too few valid cases: 2 of 2")


def test_rules_check_their_shares():
    with pytest.raises(K15Error, match="above 0.5"):
        TestgenRules(valid_share=0.5)
    with pytest.raises(K15Error, match="--keep-share"):
        TestgenRules(keep_share=0)
    with pytest.raises(K15Error, match="--min-valid-share"):
        TestgenRules(min_valid_share=1.2)
