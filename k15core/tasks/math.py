"""Math word problems and expressions from a file, verified with math-verify (`task.name=math`).

Problems come from a JSONL/CSV/Parquet prompt file (`prompt`, `reference`, optional `difficulty`,
`id` and `solution`); the default is the sample shipped in assets/tasks/math_sample.jsonl (40 problems
written for this project, levels 1-5). A fixed share of each level (choice: 1 in 4, by a seeded
shuffle) is held out for evaluation; training draws come from the rest.

Verification: the final answer is the last ``\\boxed{...}``, else the rest of the line after the last
``Answer:`` / ``The answer is:`` / ``the answer is`` (instruct models say it that way);
math-verify decides whether it equals the reference (0.5 = \\frac{1}{2}, 2\\sqrt{2} = \\sqrt{8}, ...).
math-verify's own timeouts use `signal.alarm`, which raises outside the main thread (studio handlers,
thread pools). Choice: in the main thread its timeouts stay on; elsewhere they are off and the answer
is cut to `MAX_ANSWER_CHARS` first, since sympy's slow cases come from long expressions.
"""
from __future__ import annotations

import logging
import random
import re
import threading
from pathlib import Path

from k15core.tasks.base import Problem

SAMPLE = Path(__file__).resolve().parents[2] / "assets" / "tasks" / "math_sample.jsonl"
MAX_ANSWER_CHARS = 200
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


class MathTask:
    name = "math"
    styles = ("short", "long")
    STYLE_PREFIX = {"short": "Answer:", "long": "Solution:"}

    def __init__(self, levels: tuple[int, ...] | None = None, eval_per_level: int = 0, eval_seed: int = 20250122, path: str | Path | None = None):
        from k15core.tasks.prompt_file import load_prompt_file

        problems = load_prompt_file(path or SAMPLE, default_task=self.name)
        if levels:
            problems = [p for p in problems if p.difficulty in set(levels)]
        by_level: dict[int, list[Problem]] = {}
        for p in problems:
            by_level.setdefault(p.difficulty, []).append(p)
        rng = random.Random(eval_seed)
        self._eval, self._train = [], []
        for level in sorted(by_level):
            items = sorted(by_level[level], key=lambda p: p.id)
            rng.shuffle(items)
            k = max(1, len(items) // 4) if len(items) > 1 else 0
            self._eval += items[:k]
            self._train += items[k:]
        self._eval_ids = {p.id for p in self._eval}
        self.levels = tuple(sorted(by_level))

    def train_problems(self, n: int, seed: int) -> list[Problem]:
        """`n` training problems: the training split shuffled, repeated when n is larger than it."""
        rng = random.Random(seed)
        out: list[Problem] = []
        while len(out) < n and self._train:
            batch = list(self._train)
            rng.shuffle(batch)
            out += batch[: n - len(out)]
        return out

    def eval_problems(self) -> list[Problem]:
        return list(self._eval)

    def is_eval(self, problem_id: str) -> bool:
        return problem_id in self._eval_ids

    def style_prefix(self, style: str) -> str:
        return self.STYLE_PREFIX[style]

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
        markers = list(_MARKER.finditer(response))
        if not markers:
            return None
        line = response[markers[-1].end():].strip().splitlines()
        answer = line[0].strip().strip("'\"`*").rstrip(".").strip() if line else ""
        return answer or None

    def verify(self, response: str, reference: str) -> float:
        """1.0 if the final answer is mathematically equal to the reference (math-verify), else 0.0; never raises."""
        try:
            answer = self.extract_answer(response)
            if not answer:
                return 0.0
            return float(same_value(answer[:MAX_ANSWER_CHARS], str(reference).strip()))
        except Exception:
            return 0.0


def same_value(answer: str, reference: str) -> bool:
    from math_verify import parse, verify

    in_main = threading.current_thread() is threading.main_thread()
    timeout = 5 if in_main else None
    gold = parse(f"${reference}$", parsing_timeout=timeout)  # math-verify reads LaTeX between $ ... $ most reliably
    pred = parse(f"${answer}$", parsing_timeout=timeout)
    return bool(gold and pred and verify(gold, pred, timeout_seconds=timeout))
