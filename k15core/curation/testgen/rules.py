"""The rules of test-case generation for code (report §2.3.5), as pure functions over run outputs.

The report, per problem: generate 50 test cases, run 10 ground-truth submissions on each; a case is
valid when at least 7 of 10 submissions print matching output; keep the problem, with its valid cases,
when at least 9 of 10 submissions pass all of them (of 1,000 problems, generators that produced at least
40 valid cases were 463, and 323 problems were kept). Generalised here to n references and any shares:

- a case is valid when at least ceil(0.7 * n) references print the same output, and that output is its
  expected output (`majority_output`);
- a problem needs at least ceil(0.8 * requested) valid cases (the report's 40 of 50; `enough_valid_cases`);
- a problem is kept when at least ceil(0.9 * n) references pass every valid case (`keeps_problem`).

"Matching" is the code verifier's equality (`k15core.tasks.code.canonical_output`: trailing spaces and
trailing blank lines do not count), because two outputs the reward cannot tell apart are the same answer.
A reference that crashed, timed out or was killed on a case has no output there (None): it votes for
nothing and fails that case.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from k15core.errors import K15Error


@dataclass(frozen=True)
class TestgenRules:
    """The three shares of report §2.3.5, checked when built (a bad `--valid-share` stops the command at once)."""

    __test__ = False  # a record, not a pytest test class (its name starts with "Test")

    valid_share: float = 0.7
    """A case is valid when at least ceil(valid_share * n) of n references print the same output (report: 7 of 10)."""
    keep_share: float = 0.9
    """A problem is kept when at least ceil(keep_share * n) references pass every valid case (report: 9 of 10)."""
    min_valid_share: float = 0.8
    """A problem needs ceil(min_valid_share * requested) valid cases (report: generators with at least 40 of 50)."""

    def __post_init__(self):
        # valid_share above one half: two different outputs can then never both be "the" majority
        if not 0.5 < self.valid_share <= 1:
            raise K15Error(f"the valid share must be above 0.5 and at most 1, got {self.valid_share}", "e.g. --valid-share 0.7 (the report's 7 of 10)")
        for name in ("keep_share", "min_valid_share"):
            if not 0 < getattr(self, name) <= 1:
                flag = "--" + name.replace("_", "-")
                raise K15Error(f"{flag} must be above 0 and at most 1, got {getattr(self, name)}", f"e.g. {flag} {getattr(TestgenRules, name)}")


def min_agreeing(n: int, share: float) -> int:
    """The least count k of n with k >= share * n, i.e. ceil(share * n). The product is rounded to 9 places first,
    so float error (0.7 * 3 = 2.0999999999999996, 0.1 * 3 = 0.30000000000000004) cannot move the ceiling.

    >>> min_agreeing(10, 0.7), min_agreeing(10, 0.9), min_agreeing(3, 0.7), min_agreeing(7, 0.9), min_agreeing(50, 0.8)
    (7, 9, 3, 7, 40)
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    return math.ceil(round(share * n, 9))


def majority_output(outputs: Sequence[str | None], share: float = 0.7) -> str | None:
    """The output at least ceil(share * n) of the n references printed, or None (the case is dropped).
    None entries (the reference failed on this case) count in n but vote for nothing. share must exceed 0.5,
    so at most one output can reach the bar and a tie never picks a winner.

    >>> majority_output(["3"] * 7 + ["4"] * 3)
    '3'
    >>> majority_output(["3"] * 6 + ["4"] * 4) is None
    True
    """
    if not 0.5 < share <= 1:
        raise ValueError(f"share must be above 0.5 (else two outputs could both win), got {share}")
    need = min_agreeing(len(outputs), share)
    votes = Counter(o for o in outputs if o is not None)
    if not votes:
        return None
    output, count = votes.most_common(1)[0]
    return output if count >= need else None


def passes_all(outputs: Sequence[str | None], expected: Sequence[str | None]) -> bool:
    """Whether one reference printed the expected output on every valid case (expected None: dropped, not checked).

    >>> passes_all(["1", "2", None], ["1", "2", None]), passes_all(["1", None], ["1", "2"])
    (True, False)
    """
    if len(outputs) != len(expected):
        raise ValueError(f"{len(outputs)} outputs for {len(expected)} cases")
    return all(out == want for out, want in zip(outputs, expected) if want is not None)


def keeps_problem(passes: Sequence[bool], share: float = 0.9) -> bool:
    """Whether at least ceil(share * n) of the n references pass every valid case (report: 9 of 10).

    >>> keeps_problem([True] * 9 + [False]), keeps_problem([True] * 8 + [False] * 2)
    (True, False)
    """
    return sum(map(bool, passes)) >= min_agreeing(len(passes), share)


def enough_valid_cases(valid: int, requested: int, share: float = 0.8) -> bool:
    """Whether `valid` cases reach ceil(share * requested) (report: at least 40 valid of 50 generated).
    Counted against the cases asked for, so a generator that prints fewer inputs cannot lower the bar.

    >>> enough_valid_cases(40, 50), enough_valid_cases(39, 50)
    (True, False)
    """
    return valid >= min_agreeing(requested, share)


@dataclass(frozen=True)
class Verdict:
    """One problem judged from its output matrix: what each case expects, who passes, and kept or why not."""

    expected: tuple[str | None, ...]
    """Per generated input: the majority output (its test case's expected output), or None (no majority: dropped)."""
    passing: tuple[bool, ...]
    """Per reference: passed every valid case."""
    kept: bool
    reason: str
    """Why the problem was dropped ("" when kept); starts with one of DROP_KINDS."""

    @property
    def valid(self) -> int:
        return sum(e is not None for e in self.expected)

    @property
    def no_majority(self) -> int:
        return sum(e is None for e in self.expected)


DROP_KINDS = ("no generator", "generator failed", "too few valid cases", "too few passing references")
"""Every reason a problem is dropped starts with one of these (the report counts them per kind)."""


def judge_problem(outputs: Sequence[Sequence[str | None]], requested: int, rules: TestgenRules = TestgenRules()) -> Verdict:
    """Apply the three rules to `outputs[r][c]`, reference r's canonical output on input c (None: it failed there).
    `requested` is how many inputs were asked of the generator. outputs: (n references, cases generated)."""
    if not outputs:
        raise ValueError("a problem needs at least one reference")
    expected = tuple(majority_output(column, rules.valid_share) for column in zip(*outputs))  # (cases,)
    passing = tuple(passes_all(row, expected) for row in outputs)  # (n,)
    valid = sum(e is not None for e in expected)
    n, need_valid = len(outputs), min_agreeing(max(requested, 1), rules.min_valid_share)
    if not enough_valid_cases(valid, max(requested, 1), rules.min_valid_share):
        reason = f"too few valid cases: {valid} of {len(expected)} have an agreed output, {need_valid} needed"
    elif not keeps_problem(passing, rules.keep_share):
        reason = f"too few passing references: {sum(passing)} of {n} pass every valid case, {min_agreeing(n, rules.keep_share)} needed"
    else:
        reason = ""
    return Verdict(expected=expected, passing=passing, kept=not reason, reason=reason)
