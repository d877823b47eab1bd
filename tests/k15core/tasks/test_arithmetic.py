"""The arithmetic task: generator, solution styles, held-out split, and the verifier's properties."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k15core.errors import K15Error
from k15core.tasks.arithmetic import LEVELS, ArithmeticTask, make_problem

TASK = ArithmeticTask(eval_per_level=20)


def test_hand_written_solutions():
    p = make_problem([4732, 8915], difficulty=3)
    assert p.prompt == "Q: 4732+8915\n" and p.reference == "13647"
    assert TASK.solution(p, "short") == "Answer: 13647"
    # peel one digit per line off each operand: 2+5=7, 3+1=4, 7+9=16 (carry 1), 4+8+1=13
    assert TASK.solution(p, "long") == (
        "Think:\n473+891 2+5=7 7\n47+89 3+1=4 47\n4+8 7+9=16 647\n4+8+1=13 13647\nAnswer: 13647"
    )
    # two digits at a time: 32+15=47, then 47+89=136
    assert TASK.solution(p, "medium") == "Pairs:\n47+89 32+15=47 47\n47+89=136 13647\nAnswer: 13647"


def test_three_operands_carry_two():
    p = make_problem([99, 99, 99], difficulty=5)
    # 9+9+9=27 leaves a carry of 2, which joins the next line's sum
    assert TASK.solution(p, "long") == "Think:\n9+9+9 9+9+9=27 7\n9+9+9+2=29 297\nAnswer: 297"


def test_styles_get_longer():
    for p in TASK.eval_problems():
        lengths = [len(TASK.solution(p, s)) for s in TASK.styles]
        assert lengths == sorted(lengths) and lengths[0] < lengths[-1]


def test_levels_match_their_spec():
    for p in TASK.train_problems(200, seed=1):
        spec = LEVELS[p.difficulty]
        numbers = p.meta["numbers"]
        assert len(numbers) == spec.operands and all(len(str(n)) == spec.digits for n in numbers)


def test_generator_is_seeded_and_levels_balanced():
    a, b = TASK.train_problems(100, seed=7), TASK.train_problems(100, seed=7)
    assert [p.id for p in a] == [p.id for p in b]
    assert [p.id for p in a] != [p.id for p in TASK.train_problems(100, seed=8)]
    counts = {lv: sum(p.difficulty == lv for p in a) for lv in LEVELS}
    assert set(counts.values()) == {20}


def test_eval_set_is_fixed_and_disjoint_from_training():
    again = ArithmeticTask(eval_per_level=20)
    assert [p.id for p in again.eval_problems()] == [p.id for p in TASK.eval_problems()]
    eval_ids = {p.id for p in TASK.eval_problems()}
    assert len(eval_ids) == 20 * len(LEVELS)
    # level 1 has only 8,100 distinct problems, so 5,000 draws would hit the eval set often if not excluded
    small = ArithmeticTask(levels=(1,), eval_per_level=200)
    train_ids = {p.id for p in small.train_problems(5000, seed=0)}  # 5,000 draws from 7,900 non-eval problems
    assert len(train_ids) > 4900 and not train_ids & {p.id for p in small.eval_problems()}  # nearly all distinct


def test_more_problems_than_a_level_holds():
    # level 1 has 90 * 90 = 8,100 problems; asking for 10,000 must terminate, repeat some, and still avoid the eval set
    small = ArithmeticTask(levels=(1,), eval_per_level=100)
    problems = small.train_problems(10_000, seed=0)
    ids = [p.id for p in problems]
    assert len(ids) == 10_000 and 7_000 < len(set(ids)) <= 8_000
    assert not set(ids) & {p.id for p in small.eval_problems()}


def test_unknown_level_is_a_clear_error():
    with pytest.raises(K15Error, match="unknown arithmetic difficulty"):
        ArithmeticTask(levels=(9,))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10**7), min_size=2, max_size=3), st.sampled_from(TASK.styles))
def test_references_always_verify(numbers, style):
    p = make_problem(numbers, difficulty=1)
    assert TASK.verify(TASK.solution(p, style), p.reference) == 1.0
    assert TASK.extract_answer(TASK.solution(p, style)) == str(sum(numbers))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10**7), min_size=2, max_size=3), st.sampled_from(TASK.styles), st.integers(-10**6, 10**6).filter(lambda d: d != 0))
def test_altered_answers_never_verify(numbers, style, delta):
    p = make_problem(numbers, difficulty=1)
    text = TASK.solution(p, style)
    wrong = text[: text.rindex("Answer:")] + f"Answer: {sum(numbers) + delta}"
    assert TASK.verify(wrong, p.reference) == 0.0


@settings(max_examples=500, deadline=None)
@given(st.text(), st.text())
def test_random_text_never_raises(response, reference):
    assert TASK.verify(response, reference) in (0.0, 1.0)
    TASK.extract_answer(response)


def test_verifier_edge_cases():
    assert TASK.verify("Answer: 12\nAnswer: 13", "13") == 1.0  # the last marker counts
    assert TASK.verify("Answer: 123", "12") == 0.0  # no prefix matches
    assert TASK.verify("Answer: " + "9" * 5000, "9") == 0.0  # int() refuses 5000 digits: 0, not a crash
    assert TASK.verify("13", "13") == 0.0  # no marker, no credit
    assert TASK.verify(None, "1") == 0.0  # type: ignore[arg-type]
