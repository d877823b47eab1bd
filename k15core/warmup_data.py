"""The long-CoT warm-up set of a real model, by rejection sampling (report §2.3.1).

The report warms its model up on "a small yet high-quality long-CoT warmup dataset containing accurately
verified reasoning paths", made by prompt engineering. For the tiny model the task writes those paths itself
(`Task.solution`); a pretrained model writes its own: `rejection_sample` asks the base model each training
problem with an instruction to reason step by step (`REASONING_INSTRUCTION`), samples several answers, and keeps
only those the task's verifier accepts (rejection sampling). The kept answers become `SFTExample`s that
`k15 sft --data FILE` fine-tunes on.

Choices (the report leaves them open):
- Only answers that ended by themselves (EOS) are kept: a cut-off answer that happens to end on the right
  number teaches the model to stop mid-sentence.
- At most `per_problem` distinct correct answers per problem, drawn at random (seeded) among the correct ones,
  so the easy problems the model solves every time do not fill the set.
- The examples are stored with the task's own instruction (`Task.instruction`), the one RL asks with, not the
  reasoning instruction: the warm-up teaches the model to reason when asked the RL question.
"""
from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from k15core.errors import K15Error
from k15core.prompting import render_prompt
from k15core.rollout.hf import generate
from k15core.sft import SFTExample
from k15core.tasks.base import Task
from k15core.tasks.problem import Problem
from k15core.types import Generation

REASONING_INSTRUCTION = " Think it through step by step, then end your reply with the answer."
STYLE = "sampled"
"""The `style` of a rejection-sampled example (the task's own styles name the answers it writes itself)."""


@dataclass
class WarmupData:
    """What a rejection-sampling pass kept, and what it took."""

    examples: list[SFTExample]
    problems: int
    sampled: int
    correct: int
    """Correct answers that ended by themselves (before the per-problem cap)."""
    kept_by_level: dict[int, int] = field(default_factory=dict)
    solved_by_level: dict[int, float] = field(default_factory=dict)
    """Share of each level's problems with at least one kept answer."""


def keep_verified(problems: list[Problem], generations: list[Generation], verify: Callable[[str, str], float], instruction: str,
                  per_problem: int, seed: int) -> list[SFTExample]:
    """The warm-up examples among `generations` (each with `prompt_index` into `problems`): finished, verified
    correct, distinct per problem, at most `per_problem` of them drawn at random with `seed`.

    >>> p = [Problem(id="a", prompt="1+1?", reference="2", difficulty=1)]
    >>> g = [Generation(0, i, t, [], [], [], fin, not fin) for i, (t, fin) in enumerate([("2", True), ("3", True), ("2", True), ("1+1=2", False)])]
    >>> [e.response for e in keep_verified(p, g, lambda r, ref: float(r.endswith(ref)), "", 5, 0)]
    ['2']
    """
    right: dict[int, list[str]] = defaultdict(list)
    for g in generations:
        problem = problems[g.prompt_index]
        if g.finished and g.text not in right[g.prompt_index] and verify(g.text, problem.reference) > 0:
            right[g.prompt_index].append(g.text)
    rng = random.Random(seed)
    examples = []
    for index in sorted(right):
        p = problems[index]
        for text in rng.sample(right[index], min(per_problem, len(right[index]))):
            examples.append(SFTExample(p.prompt, text, p.id, STYLE, p.difficulty, instruction))
    return examples


def rejection_sample(model, tokenizer, task: Task, problems: list[Problem], *, samples: int = 4, per_problem: int = 1,
                     temperature: float = 0.7, max_new_tokens: int = 128, batch_size: int = 64, seed: int = 0, progress=None) -> WarmupData:
    """Sample `samples` answers per problem with the reasoning instruction; keep the verified ones (see the module docstring)."""
    if not problems:
        raise K15Error("there are no training problems to sample", "check the task (task.name, task.levels) or the prompt file")
    prompts = [render_prompt(tokenizer, p.prompt, REASONING_INSTRUCTION) for p in problems]
    gens = generate(model, tokenizer, prompts, k=samples, temperature=temperature, max_new_tokens=max_new_tokens, batch_size=batch_size,
                    seed=seed, progress=progress)
    examples = keep_verified(problems, gens, task.verify, task.instruction, per_problem, seed)
    correct = sum(1 for g in gens if g.finished and task.verify(g.text, problems[g.prompt_index].reference) > 0)
    levels = Counter(p.difficulty for p in problems)
    solved = Counter(e.difficulty for e in {e.problem_id: e for e in examples}.values())
    return WarmupData(examples, len(problems), len(gens), correct, dict(Counter(e.difficulty for e in examples)),
                      {level: solved.get(level, 0) / n for level, n in sorted(levels.items())})


def write_examples(examples: list[SFTExample], path: Path) -> Path:
    """One JSON object per line (the SFTExample's fields)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for e in examples:
            f.write(json.dumps(asdict(e), ensure_ascii=False) + "\n")
    return path


def read_examples(path: str | Path) -> list[SFTExample]:
    """The examples `write_examples` wrote; a missing file, a bad line or an empty file is one K15Error."""
    path = Path(path)
    if not path.is_file():
        raise K15Error(f"no warm-up data at {str(path)!r}", "k15 warmup-data writes it (see k15 warmup-data --help)")
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            out.append(SFTExample(str(row["prompt"]), str(row["response"]), str(row.get("problem_id", "")), str(row.get("style", "")),
                                  int(row.get("difficulty", 0)), str(row.get("instruction", ""))))
        except (ValueError, KeyError, TypeError) as err:
            raise K15Error(f"{path}: line {n} is not a warm-up example ({err})", "each line: {\"prompt\": ..., \"response\": ...}") from err
    if not out:
        raise K15Error(f"{path} holds no warm-up examples", "sample more answers (--samples) or more problems (--problems)")
    return out
