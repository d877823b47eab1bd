"""Math word problems and expressions from a file, verified with math-verify (`task.name=math`).

Problems come from a JSONL/CSV/Parquet prompt file (`prompt`, `reference`, optional `difficulty`,
`id` and `solution`); the default is the sample shipped in assets/tasks/math_sample.jsonl (40 problems
written for this project, levels 1-5). The held-out split is `FileTask`'s (1 in 4 of each level).

Verification: the final answer is the last ``\\boxed{...}``, else the rest of the line after the last
``Answer:`` / ``The answer is:`` / ``the answer is`` (instruct models say it that way), else (choice: the
"flexible" extraction of GSM8K evaluations, because small instruct models often end on a sentence such
as "Mia read 45 + 38 = 83 pages.") the last number on the last non-empty line;
math-verify decides whether it equals the reference (0.5 = \\frac{1}{2}, 2\\sqrt{2} = \\sqrt{8}, ...).
math-verify's own timeouts use `signal.alarm`, which raises outside the main thread (studio handlers,
thread pools). Choice: in the main thread its timeouts stay on; elsewhere they are off and the answer
is cut to `MAX_ANSWER_CHARS` first, since sympy's slow cases come from long expressions.
"""
from __future__ import annotations

import logging
import re
import threading
from fractions import Fraction
from pathlib import Path

from k15core.tasks.base import FileTask, Problem

SAMPLE = Path(__file__).resolve().parents[2] / "assets" / "tasks" / "math_sample.jsonl"
MAX_ANSWER_CHARS = 200
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?")  # 83, -4, 1,250, 0.75, 3/4
_MARKER = re.compile(r"\banswer(?:\s+is\s*:?|\s*:)", re.I)  # "Answer: 5", "The answer is: 5", "the answer is 5"
logging.getLogger("math_verify").setLevel(logging.ERROR)  # it warns on every call whose timeout is off


def last_boxed(text: str) -> str | None:
    """Contents of the last \\boxed{...}, braces balanced; None if there is none (or it is unclosed)."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, i = 0, start + len("\\boxed")
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1: j]
    return None


class MathTask(FileTask):
    name = "math"
    styles = ("short", "long")
    STYLE_PREFIX = {"short": "Answer:", "long": "Solution:"}
    SAMPLE = SAMPLE

    def solution(self, problem: Problem, style: str) -> str:
        answer = f"Answer: {problem.reference}"
        if style == "short":
            return answer
        steps = problem.meta.get("solution") if problem.meta else None
        return f"Solution: {steps}\n{answer}" if steps else answer

    def extract_answer(self, response: str) -> str | None:
        boxed = last_boxed(response)
        if boxed is not None:
            return boxed.strip()
        if "\\boxed{" in response:  # a box left open: the response was cut off before its answer
            return None
        markers = list(_MARKER.finditer(response))
        if not markers:
            lines = [line for line in response.strip().splitlines() if line.strip()]
            numbers = _NUMBER.findall(lines[-1]) if lines else []
            return numbers[-1].replace(",", "") if numbers else None
        line = response[markers[-1].end():].strip().splitlines()
        answer = line[0].strip().strip("'\"`*").rstrip(".").strip() if line else ""
        return answer or None

    def rule_decides(self, response: str) -> bool:
        """Whether math-verify alone may decide this response (`rl.verifier=rule_then_judge`; else the judge does): its
        answer is marked (the last \\boxed{}, or an "answer" marker), not the last-number guess, and reads as mathematics
        with no letters left over ("seven", "40 cm^2" and "x = 7" do not). Never raises.

        >>> t = MathTask()
        >>> [t.rule_decides(r) for r in ("Answer: 1/2", "\\\\boxed{2\\\\sqrt{2}}", "The answer is seven.", "so 3 + 4 = 7", "Answer: 40 cm^2")]
        [True, True, False, False, False]
        """
        try:
            marked = last_boxed(response) is not None or (_MARKER.search(response) is not None and "\\boxed{" not in response)
            answer = self.extract_answer(response) if marked else None
            return bool(answer) and reads_as_math(answer[:MAX_ANSWER_CHARS])
        except Exception:
            return False

    def verify(self, response: str, reference: str) -> float:
        """1.0 if the final answer is mathematically equal to the reference (math-verify), else 0.0; never raises."""
        try:
            answer = self.extract_answer(response)
            if not answer:
                return 0.0
            return float(same_value(answer[:MAX_ANSWER_CHARS], str(reference).strip()))
        except Exception:
            return 0.0


_PLAIN = re.compile(r"-?\d+(?:\.\d+)?(?:/\d+)?")  # 5, -4, 0.75, 3/4: numbers whose value needs no parser


def exactly_equal_numbers(answer: str, reference: str) -> bool:
    """True when both are plain numbers of exactly the same value ("2" and "2.0", "0.5" and "1/2").

    A fast path only: math-verify agrees wherever this says True, and is asked wherever it says False (it
    also accepts values within its tolerance, LaTeX, sets and so on). It spares the parser on the common case,
    a bare number, in every reward and in every reference check of a large import.

    >>> exactly_equal_numbers("2", "2.0"), exactly_equal_numbers("0.5", "1/2"), exactly_equal_numbers("1/3", "0.333")
    (True, True, False)
    """
    if not (_PLAIN.fullmatch(answer) and _PLAIN.fullmatch(reference)):
        return False
    try:
        return Fraction(answer) == Fraction(reference)
    except (ValueError, ZeroDivisionError):
        return False


def reads_as_math(answer: str) -> bool:
    """A plain number, or what math-verify parses into an expression without free symbols (letters it could only read
    as unknowns: words, units, a variable)."""
    if _PLAIN.fullmatch(answer):
        return True
    from math_verify import parse

    timeout = 5 if threading.current_thread() is threading.main_thread() else None
    parsed = parse(f"${answer}$", parsing_timeout=timeout)
    return bool(parsed) and not isinstance(parsed[0], str) and not getattr(parsed[0], "free_symbols", set())


def same_value(answer: str, reference: str) -> bool:
    if exactly_equal_numbers(answer, reference):
        return True
    from math_verify import parse, verify

    in_main = threading.current_thread() is threading.main_thread()
    timeout = 5 if in_main else None
    gold = parse(f"${reference}$", parsing_timeout=timeout)  # math-verify reads LaTeX between $ ... $ most reliably
    pred = parse(f"${answer}$", parsing_timeout=timeout)
    return bool(gold and pred and verify(gold, pred, timeout_seconds=timeout))
