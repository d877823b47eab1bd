"""The CoT judge over a completer: a stub that returns fixed texts, and the real HF path on the tiny model."""
from __future__ import annotations

import pytest
import torch

from k15core.judge import CoTJudge, HFCompleter, JudgeConfig, VerifyItem, malformed_share
from k15core.types import Verdict

ITEMS = [VerifyItem("What is 2 + 2?", "4", "2 + 2 = 4. Answer: 4"), VerifyItem("What is 1/2 + 1/4?", "3/4", "It is 0.75"),
         VerifyItem("What is 3 * 3?", "9", "Answer: 6"), VerifyItem("What is 10 / 2?", "5", "five")]


class Stub:
    """A completer returning fixed texts, recording every batch of prompts it was given."""

    def __init__(self, outputs: list[str]):
        self.outputs, self.calls = outputs, []

    def __call__(self, prompts: list[str]) -> list[str]:
        self.calls.append(list(prompts))
        return self.outputs[: len(prompts)]


def test_each_output_is_read_strictly_in_order_in_one_batched_call():
    stub = Stub(['4 = 4.\n{"correct": true}', '0.75 = 3/4.\n{"correct": true}', "6 is not 9, so it is wrong.", '{"correct": false}'])
    verdicts = CoTJudge(stub)(ITEMS)
    assert [(v.correct, v.malformed) for v in verdicts] == [(True, False), (True, False), (False, True), (False, False)]
    assert verdicts[1].reasoning == "0.75 = 3/4." and verdicts[2].reasoning == "6 is not 9, so it is wrong."
    assert len(stub.calls) == 1 and len(stub.calls[0]) == 4  # batched: one call for all four
    assert "What is 1/2 + 1/4?" in stub.calls[0][1] and "It is 0.75" in stub.calls[0][1]  # prompt i asks about item i
    assert malformed_share(verdicts) == 0.25


def test_a_completer_that_returns_too_few_leaves_the_rest_malformed_and_none_is_asked_for_nothing():
    verdicts = CoTJudge(Stub(['{"correct": true}']))(ITEMS[:3])
    assert [v.malformed for v in verdicts] == [False, True, True]
    stub = Stub([])
    assert CoTJudge(stub)([]) == [] and stub.calls == []


def test_a_judge_that_cannot_run_raises_instead_of_scoring_everything_0():
    def broken(prompts):
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        CoTJudge(broken)(ITEMS)


def test_odd_inputs_are_asked_about_as_text():
    stub = Stub(['{"correct": false}'])
    [v] = CoTJudge(stub)([VerifyItem(None, 3, "<script>{x}</script>")])  # type: ignore[arg-type]
    assert v == Verdict(False, "judge") and "None" in stub.calls[0][0] and "<script>{x}</script>" in stub.calls[0][0]


def test_hf_completer_puts_each_answer_back_in_its_prompt_s_place(monkeypatch):
    # generate is faked to answer each prompt with its own text reversed: the completer sorts prompts by length to batch
    # them, so a slip in putting them back would hand prompt i another prompt's answer
    from k15core.rollout import hf
    from k15core.types import Generation

    def fake_generate(model, tokenizer, prompts, **kw):
        assert kw["greedy"] and kw["max_new_tokens"] == 7 and kw["batch_size"] == 2 and "seed" not in kw
        return [Generation(i, 0, p[::-1], [], [], [], True, False) for i, p in enumerate(prompts)]

    monkeypatch.setattr(hf, "generate", fake_generate)

    class NoTemplate:
        chat_template = None

    prompts = ["ccc1", "a2", "bbbb3", "dd4"]
    assert HFCompleter(torch.nn.Linear(1, 1), NoTemplate(), JudgeConfig(max_new_tokens=7, batch_size=2))(prompts) == ["1ccc", "2a", "3bbbb", "4dd"]


@pytest.mark.slow
def test_the_tiny_model_judges_with_bounded_tokens_and_its_babble_is_malformed(tiny_model_dir):
    from k15core.stages import load_judge

    completer = load_judge(tiny_model_dir, JudgeConfig(max_new_tokens=6, batch_size=3)).complete
    assert not any(p.requires_grad for p in completer.model.parameters())  # frozen: no optimiser can move a judge
    texts = completer([f"Q{i}" for i in range(4)])
    assert len(texts) == 4 and all(len(t) <= 6 for t in texts)  # one character per token: at most 6 tokens each
    verdicts = CoTJudge(completer)(ITEMS)
    assert all(v.malformed and not v.correct for v in verdicts)  # an untrained model cannot write the verdict line
