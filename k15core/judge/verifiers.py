"""Verifiers: who decides whether a response is correct, chosen by `rl.verifier` from the `VERIFIERS` registry.

    rule              the task's own verifier (math-verify for `math`, the digit after "Answer:" for `recurrence`,
                      test cases for `code`): the default, and the only one that needs no model
    judge             the chain-of-thought reward model (k15core.judge.model, report §2.3.5) on every response
    rule_then_judge   the rule decides every response it can read an answer in (`readable`: the task's own
                      `rule_decides` where it has one, e.g. math: a marked answer that math-verify reads as mathematics;
                      else `extract_answer` is not None); the judge decides the rest. The rule is exact and cheap where it
                      applies; the judge's time goes to the responses it cannot read (an answer in words or with units,
                      one buried in the text, none marked)

Each is a class built from (task, judge): `judge` is None for those that do not use it (`uses_judge`), so no judge
model is loaded for `rule`. Every verifier maps `VerifyItem`s to `Verdict`s, in order, and never raises on a
response's text.
"""
from __future__ import annotations

from typing import Callable, Protocol

from k15core.judge.model import CoTJudge, VerifyItem
from k15core.registry import Registry
from k15core.types import Verdict


class Verifier(Protocol):
    uses_judge: bool

    def __call__(self, items: list[VerifyItem]) -> list[Verdict]:
        """One verdict per item, in order."""


VERIFIERS: Registry[type] = Registry("verifier")


def rule_verdict(task, item: VerifyItem) -> Verdict:
    """The task's own verdict (its `verify` never raises; full marks only count as correct)."""
    return Verdict(task.verify(item.response, item.reference) >= 1.0, "rule")


def readable(task, response: str) -> bool:
    """Whether the task's rule can decide the response (where `rule_then_judge` lets it): the task's `rule_decides` if it
    has one (math: a marked answer math-verify reads as mathematics), else whether it finds a final answer at all."""
    try:
        decides = getattr(task, "rule_decides", None)
        return bool(decides(response)) if decides is not None else task.extract_answer(response) is not None
    except Exception:  # extract_answer is not meant to raise; if one does, the judge reads the response instead
        return False


def route(use_rule: list[bool], by_rule: list[Verdict], by_judge: list[Verdict]) -> list[Verdict]:
    """Merge two verifiers' verdicts back into the items' order: item i takes the next of `by_rule` where
    use_rule[i], else the next of `by_judge`.

    >>> r, j = Verdict(True, "rule"), Verdict(False, "judge")
    >>> [v.by for v in route([True, False, True], [r, r], [j])]
    ['rule', 'judge', 'rule']
    """
    rule, judge = iter(by_rule), iter(by_judge)
    return [next(rule) if u else next(judge) for u in use_rule]


@VERIFIERS.register("rule")
class RuleVerifier:
    uses_judge = False

    def __init__(self, task, judge: CoTJudge | None = None):
        self.task = task

    def __call__(self, items: list[VerifyItem]) -> list[Verdict]:
        return [rule_verdict(self.task, i) for i in items]


@VERIFIERS.register("judge")
class JudgeVerifier:
    uses_judge = True

    def __init__(self, task, judge: CoTJudge):
        self.task, self.judge = task, judge

    def __call__(self, items: list[VerifyItem]) -> list[Verdict]:
        return self.judge(items)


@VERIFIERS.register("rule_then_judge")
class RuleThenJudge:
    uses_judge = True

    def __init__(self, task, judge: CoTJudge):
        self.task, self.judge = task, judge

    def __call__(self, items: list[VerifyItem]) -> list[Verdict]:
        use_rule = [readable(self.task, i.response) for i in items]
        by_rule = [rule_verdict(self.task, i) for i, u in zip(items, use_rule) if u]
        by_judge = self.judge([i for i, u in zip(items, use_rule) if not u])  # one batched call for all the rest
        return route(use_rule, by_rule, by_judge)


def make_verifier(name: str, task, load_judge: Callable[[], CoTJudge]) -> Verifier:
    """The verifier registered as `name` for `task`; `load_judge()` is called only when that verifier uses the judge."""
    cls = VERIFIERS.get(name)
    return cls(task, load_judge() if cls.uses_judge else None)


UNFINISHED = Verdict(False, "unfinished")
"""The verdict of a response cut at the length limit or stopped as a loop: 0 whatever it says (rewards.correctness)."""


def verify_finished(verifier: Verifier, items: list[VerifyItem], finished: list[bool]) -> list[Verdict]:
    """The verifier's verdicts on the responses that ended by themselves, `UNFINISHED` for the others, in order.

    Why not verify them all: a cut or loop-stopped response scores 0 whatever its text says, and a judge's time is
    the costliest part of a reward, so it is spent only where it can change one."""
    done = verifier([i for i, f in zip(items, finished) if f])
    return route(finished, done, [UNFINISHED] * (len(items) - len(done)))
