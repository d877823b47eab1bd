"""The digit-recurrence task (the default): hand-checked solutions, fixed-width steps, held-out
split, and the verifier's edge cases (its properties: test_task_contract.py)."""
from __future__ import annotations

import pytest

from k15core.errors import K15Error
from k15core.tasks.recurrence import LEVELS, RecurrenceTask, extend, make_problem, parse_prompt

TASK = RecurrenceTask(eval_per_level=20)


def test_hand_written_problem_and_solutions():
    # seed 3 7 2; new digits: 2+3 = 5, 5+7 = 12 -> 2, 2+2 = 4, 4+5 = 9
    p = make_problem([3, 7, 2], steps=4, difficulty=4)
    assert p.prompt == "Seq 372, steps: 4\n" and p.reference == "9"
    assert parse_prompt(p.prompt) == ([3, 7, 2], 4)
    assert extend([3, 7, 2], 4) == [3, 7, 2, 5, 2, 4, 9]
    assert TASK.solution(p, "short") == "Answer: 9"
    assert TASK.solution(p, "long") == "x=3 y=7 z=2 d=2+3=05 c=5+7=12 b=2+2=04 a=4+5=09\nAnswer: 9"
    assert TASK.solution(p, "medium") == ">d=2+3=05 c=5+7=12 b=2+2=04 a=4+5=09\nAnswer: 9"


def test_every_step_has_the_same_width_so_inputs_sit_at_fixed_offsets():
    for p in TASK.eval_problems():
        body = TASK.solution(p, "long").split("\n")[0]
        items = body.split(" ")
        assert [len(i) for i in items[:3]] == [3, 3, 3] and {len(i) for i in items[3:]} == {8}
        seq = [int(i[2]) for i in items[:3]] + [int(i[-1]) for i in items[3:]]
        assert seq == extend(parse_prompt(p.prompt)[0], LEVELS[p.difficulty])
        assert items[-1].startswith("a=")  # the letters count down to a


def test_styles_get_longer_and_long_grows_with_difficulty():
    for p in TASK.eval_problems():
        lengths = [len(TASK.solution(p, s)) for s in TASK.styles]
        assert lengths == sorted(lengths)
        assert all(TASK.solution(p, s).startswith(TASK.style_prefix(s)) for s in TASK.styles)
    long_by_level = {lv: max(len(TASK.solution(p, "long")) for p in TASK.eval_problems() if p.difficulty == lv) for lv in LEVELS}
    assert list(long_by_level.values()) == sorted(long_by_level.values())


def test_unknown_level():
    with pytest.raises(K15Error, match="unknown recurrence difficulty"):
        RecurrenceTask(levels=(9,))


def test_verifier_edge_cases():
    assert TASK.verify("Answer: 3\nAnswer: 4", "4") == 1.0  # the last answer counts
    assert TASK.verify("Answer: 45", "4") == 0.0  # a number is not a digit answer
    assert TASK.verify("no answer", "4") == 0.0


def test_recheck_writes_every_step_again():
    p = make_problem([3, 7, 2], 6, 5)
    long, recheck = TASK.solution(p, "long"), TASK.solution(p, "recheck")
    work, check, answer = recheck.split("\n")
    assert work == long.split("\n")[0] and answer == long.split("\n")[1]
    assert check == "check f=2+3=05 e=5+7=12 d=2+2=04 c=4+5=09 b=9+2=11 a=1+4=05"
    assert len(recheck) - len(long) == 6 + 9 * 6  # "check " and each step with its space: 60 tokens on level 5
    one = make_problem([3, 7, 2], 1, 1)
    assert len(TASK.solution(one, "recheck")) - len(TASK.solution(one, "long")) == 15
    assert TASK.verify(recheck, p.reference) == 1.0


def test_overthink_layer_swaps_long_for_recheck_in_every_mix():
    from k15core.config import DEMO_CONFIG, load_config

    plain = load_config(DEMO_CONFIG)
    over = load_config(DEMO_CONFIG, layers=[DEMO_CONFIG.parent / "overthink.yaml"])
    for level, mix in plain.sft.style_mix_by_level.items():
        assert over.sft.style_mix_by_level[level]["recheck"] == mix["long"] and over.sft.style_mix_by_level[level]["long"] == 0
    assert over.sft.style_mix["recheck"] == plain.sft.style_mix["long"]
