"""The chain-of-thought judge: a local Hugging Face causal LM asked about many responses at once (report §2.3.5).

    judge = stages.load_judge("path/to/model", JudgeConfig())     # CoTJudge(HFCompleter(model, tokenizer, cfg))
    verdicts = judge([VerifyItem("What is 1/4 + 1/4?", "1/2", "1/4 + 1/4 = 0.5")])   # [Verdict(correct=..., ...)]

`CoTJudge` only builds the questions (`verdict.judge_prompt`) and reads the answers (`verdict.read_verdict`); the
generating is a `Completer`'s, a callable from prompts to texts. `HFCompleter` is the real one: the model's own
chat template (`k15core.prompting.render_prompt`, as the policy is prompted; the tiny model has none and gets the
plain text), greedy by default, at most `max_new_tokens` per judgement, `batch_size` judgements per forward.
Tests put a stub in its place that returns fixed texts.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from k15core.judge.config import JudgeConfig
from k15core.judge.verdict import judge_prompt, read_verdict
from k15core.types import Verdict


@dataclass(frozen=True)
class VerifyItem:
    """What a verifier reads about one response: the question, the reference answer, the response's text."""

    question: str
    reference: str
    response: str


class Completer(Protocol):
    def __call__(self, prompts: list[str]) -> list[str]:
        """One completion per prompt, in order."""


class HFCompleter:
    """Completions from a Hugging Face causal LM through its chat template (see the module docstring)."""

    def __init__(self, model, tokenizer, cfg: JudgeConfig):
        self.model, self.tokenizer, self.cfg = model, tokenizer, cfg
        model.eval().requires_grad_(False)  # a judge is never trained here; no optimiser may ever see its weights

    def __call__(self, prompts: list[str]) -> list[str]:
        from k15core.prompting import render_prompt
        from k15core.rollout.hf import generate

        rendered = [render_prompt(self.tokenizer, p) for p in prompts]
        # Similar lengths batched together: left padding to the longest prompt of a batch costs compute on every row.
        order = sorted(range(len(rendered)), key=lambda i: len(rendered[i]))
        greedy = self.cfg.temperature == 0
        # No seed here: seeding would reset the global generator the trainer's rollouts draw from, every iteration.
        gens = generate(self.model, self.tokenizer, [rendered[i] for i in order], max_new_tokens=self.cfg.max_new_tokens, greedy=greedy,
                        temperature=self.cfg.temperature if not greedy else 1.0, batch_size=self.cfg.batch_size)
        out = [""] * len(prompts)
        for g in gens:
            out[order[g.prompt_index]] = g.text
        return out


class CoTJudge:
    """Verdicts on many responses: one batched call of the completer, each output read strictly."""

    def __init__(self, complete: Completer, max_response_chars: int = 4000):
        self.complete, self.max_response_chars = complete, max_response_chars

    def __call__(self, items: list[VerifyItem]) -> list[Verdict]:
        """One `Verdict` per item, by 'judge'. A missing or malformed answer is a wrong verdict marked malformed.

        Errors of the model itself (out of memory, a broken folder) are raised, not scored 0: a judge that cannot run
        would otherwise turn every reward into 0 and the run would train on nothing without a word."""
        if not items:
            return []
        outputs = list(self.complete([judge_prompt(i.question, i.reference, i.response, self.max_response_chars) for i in items]))
        outputs += [""] * (len(items) - len(outputs))  # a completer that returned too few: the rest have no verdict
        return [read_verdict(text) for text in outputs[: len(items)]]


def malformed_share(verdicts: list[Verdict]) -> float | None:
    """Share of the judge's verdicts that were malformed (scored 0); None when the judge decided none.

    >>> malformed_share([Verdict(True, "judge"), Verdict(False, "judge", malformed=True), Verdict(True, "rule")])
    0.5
    """
    judged = [v for v in verdicts if v.by == "judge"]
    return sum(v.malformed for v in judged) / len(judged) if judged else None
