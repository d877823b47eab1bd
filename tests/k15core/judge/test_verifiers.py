"""The VERIFIERS registry (rl.verifier): rule, judge, rule_then_judge; the order they ask in; unfinished responses skipped."""
from __future__ import annotations

import pytest

from k15core.errors import K15Error
from k15core.judge import VERIFIERS, VerifyItem, make_verifier, verify_finished
from k15core.judge.verifiers import UNFINISHED, readable
from k15core.tasks.math import MathTask
from k15core.types import Verdict


class DigitTask:
    """A task whose rule reads a digit after 'A:' and checks it against the reference."""

    def extract_answer(self, response):
        return response.split("A:")[-1].strip() if "A:" in response else None

    def verify(self, response, reference):
        return float(self.extract_answer(response) == reference)


class RecordingJudge:
    """A judge that says `correct` for every item and records the batches it was asked."""

    def __init__(self, correct=True):
        self.correct, self.calls = correct, []

    def __call__(self, items):
        self.calls.append([i.response for i in items])
        return [Verdict(self.correct, "judge", f"judged {i.response}") for i in items]


ITEMS = [VerifyItem("q", "4", "A: 4"), VerifyItem("q", "4", "four"), VerifyItem("q", "4", "A: 5"), VerifyItem("q", "4", "it is 4")]


def test_the_registry_holds_the_three_and_refuses_others():
    assert VERIFIERS.names() == ["judge", "rule", "rule_then_judge"]
    with pytest.raises(K15Error, match="unknown verifier 'llm'"):
        make_verifier("llm", DigitTask(), RecordingJudge)


def test_rule_never_loads_a_judge():
    def load():
        raise AssertionError("the rule verifier must not load a judge model")

    verdicts = make_verifier("rule", DigitTask(), load)(ITEMS)
    assert [(v.correct, v.by) for v in verdicts] == [(True, "rule"), (False, "rule"), (False, "rule"), (False, "rule")]


def test_judge_asks_the_judge_about_every_response_in_one_batch():
    judge = RecordingJudge()
    verdicts = make_verifier("judge", DigitTask(), lambda: judge)(ITEMS)
    assert judge.calls == [["A: 4", "four", "A: 5", "it is 4"]]
    assert all(v.by == "judge" and v.correct for v in verdicts)


def test_rule_then_judge_lets_the_rule_decide_what_it_can_read_and_the_judge_the_rest_in_order():
    judge = RecordingJudge(correct=True)
    verdicts = make_verifier("rule_then_judge", DigitTask(), lambda: judge)(ITEMS)
    # items 0 and 2 have an "A:" answer: the rule decides them (4 right, 5 wrong), even where the judge would say correct;
    # items 1 and 3 have none: the judge decides them, asked once, in their order
    assert [(v.by, v.correct) for v in verdicts] == [("rule", True), ("judge", True), ("rule", False), ("judge", True)]
    assert judge.calls == [["four", "it is 4"]]
    assert verdicts[3].reasoning == "judged it is 4"  # each judge verdict lands on its own item


def test_rule_then_judge_with_nothing_for_the_judge_still_asks_it_for_nothing():
    judge = RecordingJudge()
    verdicts = make_verifier("rule_then_judge", DigitTask(), lambda: judge)([ITEMS[0], ITEMS[2]])
    assert [v.by for v in verdicts] == ["rule", "rule"] and judge.calls in ([], [[]])


def test_math_hands_the_judge_words_units_and_unmarked_answers():
    task = MathTask()
    assert readable(task, "Answer: 0.5") and readable(task, "so $\\boxed{\\frac{1}{2}}$")
    for response in ("The answer is one half.", "Answer: 40 cm^2", "3/4 - 1/4 = 2/4 = 1/2", "", "\\boxed{1/2"):
        assert not readable(task, response), response


def test_a_task_whose_rule_raises_sends_the_response_to_the_judge():
    class Broken(DigitTask):
        def extract_answer(self, response):
            raise ValueError("boom")

    assert readable(Broken(), "A: 4") is False


def test_unfinished_responses_are_never_verified_and_keep_their_place():
    judge = RecordingJudge()
    verifier = make_verifier("judge", DigitTask(), lambda: judge)
    verdicts = verify_finished(verifier, ITEMS, [True, False, True, False])
    assert judge.calls == [["A: 4", "A: 5"]]  # the cut ones cost no judge time
    assert verdicts[1] == verdicts[3] == UNFINISHED == Verdict(False, "unfinished")
    assert [v.by for v in verdicts] == ["judge", "unfinished", "judge", "unfinished"]
