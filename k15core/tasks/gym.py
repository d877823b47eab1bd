"""reasoning-gym's procedural generators as a prompt source, scored by their own scorers (`task.name=gym`).

`task.gym_dataset` names one of reasoning-gym's offline generators (`basic_arithmetic`, `gsm_symbolic`,
`countdown`, `chain_sum`, ... about a hundred; `reasoning_gym.factory.DATASETS` lists them). Nothing
is downloaded: the generators are seeded code. reasoning-gym is an optional dependency
(`pip install 'k15-studio[gym]'`, included in the dev install) and is imported only when this task is built.

Choices (the report leaves them open):
- The reference is the generator's entry as JSON ({"answer", "metadata"}), because several scorers
  need more than the answer (countdown accepts any expression that reaches the target with the given
  numbers, so it needs the numbers and the target).
- The final answer is the last ``<answer>...</answer>`` (reasoning-gym's convention), else the rest of
  the line after the last ``Answer:``.
- Reward is 1.0 only when the scorer gives full marks. reasoning-gym gives small partial scores
  (0.01, 0.05) to well-formed wrong answers; counting those would reward a wrong answer.
- Difficulty is 0 (unknown) until `k15 curate difficulty` measures it by pass rate: the generators'
  own knobs differ from dataset to dataset and do not map onto one 1-5 scale.
- The held-out set is `eval_per_level` problems drawn with `eval_seed`; training draws never repeat
  one of them (a problem's id is a hash of its question).
"""
from __future__ import annotations

import hashlib
import json
import re

from k15core.errors import K15Error
from k15core.tasks.base import HeldOutSet, Problem, last_match

_TAG = re.compile(r"<answer>\s?(.*?)\s?</answer>", re.S)
_LINE = re.compile(r"Answer:[ \t]*([^\n]*)")
DEFAULT_DATASET = "basic_arithmetic"


def _reasoning_gym():
    try:
        import reasoning_gym
    except ImportError:
        raise K15Error("the gym task needs the reasoning-gym package", "pip install 'k15-studio[gym]' (or: pip install reasoning-gym)") from None
    return reasoning_gym


class GymTask(HeldOutSet):
    name = "gym"
    final_answer = False  # the reference is not an answer to compare (k15 curate formats skips it)
    styles = ("short", "long")
    STYLE_PREFIX = {"short": "Answer:", "long": "Solution:"}

    def __init__(self, levels: tuple[int, ...] | None = None, eval_per_level: int = 40, eval_seed: int = 20250122,
                 dataset: str = DEFAULT_DATASET):
        rg = _reasoning_gym()
        from reasoning_gym.factory import DATASETS

        dataset = dataset or DEFAULT_DATASET
        if dataset not in DATASETS:
            close = [d for d in sorted(DATASETS) if dataset.split("_")[0] in d][:8]
            raise K15Error(f"reasoning-gym has no dataset {dataset!r}", f"pick one of reasoning_gym.factory.DATASETS, e.g. {close or sorted(DATASETS)[:8]}")
        self._rg = rg
        self.dataset = dataset
        self.levels = (0,)
        self._scorer = rg.create_dataset(dataset, size=1, seed=eval_seed)  # scoring does not depend on size or seed
        self._eval = self._generate(eval_per_level, eval_seed)
        self._eval_ids = {p.id for p in self._eval}

    def _generate(self, n: int, seed: int) -> list[Problem]:
        if n <= 0:
            return []
        data = self._rg.create_dataset(self.dataset, size=n, seed=seed)
        out = []
        for entry in data:
            question = str(entry["question"])
            reference = json.dumps({"answer": entry["answer"], "metadata": entry.get("metadata", {})}, default=str)
            pid = f"gym:{self.dataset}:" + hashlib.sha1(question.encode()).hexdigest()[:12]
            out.append(Problem(id=pid, prompt=question, reference=reference, difficulty=0, task=self.name,
                               meta={"answer": str(entry["answer"])}))
        return out

    def train_problems(self, n: int, seed: int) -> list[Problem]:
        """`n` fresh problems from the generator (seed shifted off the held-out seed), none held out."""
        if n <= 0:
            return []
        out: list[Problem] = []
        attempt = 0
        while len(out) < n and attempt < 5:  # a tiny generator space may collide with the held-out set
            batch = self._generate(2 * (n - len(out)) + 8, seed=seed * 7919 + 1 + attempt)
            out += [p for p in batch if p.id not in self._eval_ids][: n - len(out)]
            attempt += 1
        return out

    def solution(self, problem: Problem, style: str) -> str:
        answer = problem.meta.get("answer") or json.loads(problem.reference)["answer"]
        return f"Answer: {answer}" if style == "short" else f"Solution: work it out step by step.\nAnswer: {answer}"

    def extract_answer(self, response: str) -> str | None:
        tagged = last_match(_TAG, response)
        if tagged is not None:
            return tagged.strip() or None
        line = last_match(_LINE, response)
        return line.strip() or None if line is not None else None

    def check_reference(self, reference: str) -> str | None:
        shape = 'a gym reference is JSON: {"answer": ..., "metadata": {...}}'
        try:
            entry = json.loads(reference)
        except (TypeError, json.JSONDecodeError):
            return shape
        if not isinstance(entry, dict):
            return shape
        if "answer" not in entry:
            return 'a gym reference needs an "answer" field'
        return None

    def verify(self, response: str, reference: str) -> float:
        """1.0 if reasoning-gym's scorer gives the extracted answer full marks, else 0.0; never raises."""
        try:
            answer = self.extract_answer(response)
            if answer is None:
                return 0.0
            entry = json.loads(reference)
            return float(self._scorer.score_answer(answer, entry) >= 1.0)
        except Exception:
            return 0.0
