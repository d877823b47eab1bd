"""The chains task: structure (no shortcut to the answer), styles, held-out split, the verifier's edge cases (its properties: test_task_contract.py)."""
from __future__ import annotations

import random

import pytest

from k15core.errors import K15Error
from k15core.tasks.chains import LEVELS, LETTERS_PER_PROBLEM, ChainsTask, make_problem, parse_prompt

TASK = ChainsTask(eval_per_level=20)


def test_hand_written_problem_and_solutions():
    # cycle a -> q -> m -> x -> a; from q, 3 steps: m, x, a
    p = make_problem(["a", "q", "m", "x"], start="q", steps=3, difficulty=3, rng=random.Random(0))
    arrows, start, steps = parse_prompt(p.prompt)
    assert arrows == {"a": "q", "q": "m", "m": "x", "x": "a"} and (start, steps) == ("q", 3)
    assert p.prompt.endswith("\nStart: q, steps: 3\n") and p.reference == "a"
    assert TASK.solution(p, "short") == "Answer: a"
    assert TASK.solution(p, "long") == "Think:\n1 q>m\n2 m>x\n3 x>a\nAnswer: a"
    assert TASK.solution(p, "medium") == "Pairs:\n2 q>>x\n3 x>a\nAnswer: a"  # two hops, then the odd one


def test_every_letter_has_one_arrow_in_and_out():
    """No local cue marks the answer: the arrows form one cycle through all the letters."""
    for p in TASK.train_problems(300, seed=2):
        arrows, start, steps = parse_prompt(p.prompt)
        assert len(arrows) == LETTERS_PER_PROBLEM and sorted(arrows) == sorted(arrows.values())
        seen, letter = set(), start
        for _ in range(LETTERS_PER_PROBLEM):
            seen.add(letter)
            letter = arrows[letter]
        assert letter == start and len(seen) == LETTERS_PER_PROBLEM
        assert steps == LEVELS[p.difficulty]


def test_styles_get_longer_with_steps():
    for p in TASK.eval_problems():
        lengths = [len(TASK.solution(p, s)) for s in TASK.styles]
        assert lengths == sorted(lengths)
    long_by_level = {lv: max(len(TASK.solution(p, "long")) for p in TASK.eval_problems() if p.difficulty == lv) for lv in LEVELS}
    assert list(long_by_level.values()) == sorted(long_by_level.values())


def test_eval_set_is_fixed():
    assert [p.id for p in ChainsTask(eval_per_level=20).eval_problems()] == [p.id for p in TASK.eval_problems()]


def test_unknown_level():
    with pytest.raises(K15Error, match="unknown chains difficulty"):
        ChainsTask(levels=(7,))


def test_verifier_edge_cases():
    assert TASK.verify("Answer: b\nAnswer: c", "c") == 1.0
    assert TASK.verify("Answer: cd", "c") == 0.0  # a word is not a letter answer
    assert TASK.verify("c", "c") == 0.0
    assert TASK.verify(None, "c") == 0.0  # type: ignore[arg-type]
