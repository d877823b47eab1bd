"""The Hugging Face rollout path: recorded log-probs equal a teacher-forced forward pass; flags; prefixes."""
from __future__ import annotations

import torch

from k15core.models import load_model
from k15core.rollout.hf import generate


def _teacher_forced_logprobs(model, tok, prompt: str, response_ids: list[int]) -> list[float]:
    prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt_ids + response_ids])
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits.float(), -1)  # (1, T, V)
    return [logp[0, len(prompt_ids) + i - 1, t].item() for i, t in enumerate(response_ids)]


def test_logprobs_match_a_forward_pass(tiny_model_dir):
    model, tok = load_model(tiny_model_dir)
    prompts = ["Q: 12+34\n", "Q: 5+6\n", "Q: 123+456+789\n"]  # different lengths: left padding must not matter
    gens = generate(model, tok, prompts, k=2, max_new_tokens=12, temperature=1.0, seed=0)
    assert [(g.prompt_index, g.sample_index) for g in gens] == [(i, j) for i in range(3) for j in range(2)]
    for g in gens:
        expected = _teacher_forced_logprobs(model, tok, prompts[g.prompt_index], g.token_ids)
        torch.testing.assert_close(torch.tensor(g.logprobs), torch.tensor(expected), atol=2e-4, rtol=0)
        assert g.length == len(g.token_ids) <= 12
        assert g.finished == (g.token_ids[-1] == tok.eos_token_id) and g.truncated == (not g.finished)


def test_greedy_is_deterministic_and_truncation_is_flagged(tiny_model_dir):
    model, tok = load_model(tiny_model_dir)
    a = generate(model, tok, ["Q: 1+2\n"] * 3, greedy=True, max_new_tokens=3)
    b = generate(model, tok, ["Q: 1+2\n"], greedy=True, max_new_tokens=3)
    assert len({g.text for g in a}) == 1 and a[0].token_ids == b[0].token_ids
    assert all(g.truncated and g.length == 3 for g in a if not g.finished)


def test_prefix_is_part_of_the_response(tiny_model_dir):
    model, tok = load_model(tiny_model_dir)
    (g,) = generate(model, tok, ["Q: 1+2\n"], greedy=True, max_new_tokens=4, prefixes=["Answer:"])
    assert g.text.startswith("Answer:")
    assert g.logprobs[: len("Answer:")] == [0.0] * len("Answer:")  # prefilled, not sampled
    assert tok.decode(g.token_ids, skip_special_tokens=True) == g.text


def _teacher_forced_entropies(model, tok, context_ids: list[int], response_ids: list[int]) -> list[float]:
    ids = torch.tensor([context_ids + response_ids])
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits.float(), -1)[0]  # (T, V)
    ent = -(logp.exp() * logp).sum(-1)  # (T,)
    return [ent[len(context_ids) + i - 1].item() for i in range(len(response_ids))]


def test_entropies_match_a_forward_pass_in_both_engines(tiny_model_dir):
    from k15core.rollout.hf import continue_ids
    from k15core.tokens import token_stats

    uniform = torch.zeros(1, 1, 7)
    logp, ent = token_stats(uniform, torch.tensor([[3]]))
    assert abs(logp.item() + torch.log(torch.tensor(7.0)).item()) < 1e-6 and abs(ent.item() - torch.log(torch.tensor(7.0)).item()) < 1e-6
    model, tok = load_model(tiny_model_dir)
    [g] = generate(model, tok, ["Q: 12+34\n"], k=1, max_new_tokens=10, temperature=1.0, seed=1)
    prompt_ids = tok("Q: 12+34\n", add_special_tokens=False)["input_ids"]
    expected = _teacher_forced_entropies(model, tok, prompt_ids, g.token_ids)
    torch.testing.assert_close(torch.tensor(g.entropies), torch.tensor(expected), atol=2e-4, rtol=0)
    contexts = [prompt_ids, tok("Q: 5+6\n", add_special_tokens=False)["input_ids"]]
    for ctx, cont in zip(contexts, continue_ids(model, tok, contexts, max_new_tokens=[8, 8], temperature=1.0)):
        assert len(cont.entropies) == len(cont.token_ids)
        torch.testing.assert_close(torch.tensor(cont.entropies), torch.tensor(_teacher_forced_entropies(model, tok, ctx, cont.token_ids)),
                                   atol=2e-4, rtol=0)


def test_batched_generation_pads_on_the_left_whatever_the_tokenizer_says(tiny_model_dir):
    """SmolLM2's tokenizer pads on the right; generating a batch must still equal generating one at a time."""
    model, tok = load_model(tiny_model_dir)
    tok.padding_side = "right"
    prompts = ["Q: 1+2\n", "Q: 123+456+789+1\n"]
    together = generate(model, tok, prompts, greedy=True, max_new_tokens=8)
    alone = [generate(model, tok, [p], greedy=True, max_new_tokens=8)[0] for p in prompts]
    assert [g.token_ids for g in together] == [g.token_ids for g in alone]
    for g, prompt in zip(together, prompts):
        expected = _teacher_forced_logprobs(model, tok, prompt, g.token_ids)
        torch.testing.assert_close(torch.tensor(g.logprobs), torch.tensor(expected), atol=2e-4, rtol=0)
