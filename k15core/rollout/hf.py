"""Generation on any causal LM, CPU or GPU, recording every token.

`generate` samples text prompts (evaluation, long2short, curation) on `compact_continue`'s decode loop;
`continue_ids` continues token sequences with Hugging Face `model.generate`, the reference path the compact
loop is tested against. Each response comes back with its token ids and the model's log-probability of
each token (at temperature 1, i.e. the log pi(token | context) the k1.5 loss needs), whether it finished
with EOS, and whether it was cut by the token limit.
"""
from __future__ import annotations

import torch

from k15core.tokens import left_pad, token_stats
from k15core.types import Continuation, Generation


def sampling_kwargs(greedy: bool, temperature: float, top_p: float) -> dict:
    """`generate` arguments for greedy decoding or plain temperature/top-p sampling (no top-k)."""
    return {"do_sample": not greedy, "temperature": None if greedy else temperature, "top_p": None if greedy else top_p, "top_k": None}


@torch.no_grad()
def generate(
    model,
    tokenizer,
    prompts: list[str],
    *,
    k: int = 1,
    max_new_tokens: int = 128,
    greedy: bool = False,
    temperature: float = 1.0,
    top_p: float = 1.0,
    prefixes: list[str] | None = None,
    batch_size: int = 64,
    seed: int | None = None,
    progress=None,
    encoded: list | None = None,
) -> list[Generation]:
    """Sample `k` responses for each prompt (or one greedy response); prompts are batched by `batch_size`.

    `prefixes[i]`, if given, is prefilled at the start of prompt i's response (used to force a style);
    it counts as part of the response. `progress` is an optional callable(n_done) for progress bars.
    Decoding is `compact_continue`'s (finished rows leave the batch; no (batch, tokens, vocab) logits are
    kept), so greedy answers are `model.generate`'s and samples come from the same distribution.
    `encoded[i]` (a `vlm.inputs.EncodedPrompt`), if given, is prompt i already encoded, with its images' pixel
    values (image prompts of a vision-language model): its ids are used instead of tokenising `prompts[i]`.
    """
    from k15core.rollout.compact import compact_continue

    if seed is not None:
        torch.manual_seed(seed)
    prefixes = prefixes or [""] * len(prompts)
    prefix_ids = [tokenizer(p, add_special_tokens=False)["input_ids"] if p else [] for p in prefixes]
    if encoded is not None:
        prompt_ids, pixels = [e.ids for e in encoded], [e.pixel_values for e in encoded]
    else:
        prompt_ids, pixels = (tokenizer(list(prompts), add_special_tokens=False)["input_ids"] if prompts else []), None
    jobs = [(i, j) for i in range(len(prompts)) for j in range(1 if greedy else k)]
    out: list[Generation] = []
    for start in range(0, len(jobs), batch_size):
        chunk = jobs[start: start + batch_size]
        contexts = [prompt_ids[i] + prefix_ids[i] for i, _ in chunk]
        conts = compact_continue(model, contexts, [max_new_tokens] * len(chunk), eos=tokenizer.eos_token_id, pad=tokenizer.pad_token_id,
                                 greedy=greedy, temperature=temperature, top_p=top_p,
                                 pixel_values=[pixels[i] for i, _ in chunk] if pixels is not None else None)
        for (i, j), c in zip(chunk, conts):
            out.append(
                Generation(
                    prompt_index=i,
                    sample_index=j,
                    text=prefixes[i] + tokenizer.decode(c.token_ids, skip_special_tokens=True),
                    token_ids=prefix_ids[i] + c.token_ids,
                    logprobs=[0.0] * len(prefix_ids[i]) + c.logprobs,
                    entropies=[0.0] * len(prefix_ids[i]) + c.entropies,
                    finished=c.eos,
                    truncated=not c.eos,
                )
            )
        if progress is not None:
            progress(len(chunk))
    return out


@torch.no_grad()
def continue_ids(
    model,
    tokenizer,
    contexts: list[list[int]],
    *,
    max_new_tokens: list[int],
    greedy: bool = False,
    temperature: float = 1.0,
    top_p: float = 1.0,
    repeat_rule=None,
    response_starts: list[int] | None = None,
    batch_size: int = 256,
) -> list[Continuation]:
    """Continue each token sequence in `contexts` (prompt + response so far) by up to `max_new_tokens[i]` tokens.

    Token ids go in and come out as they are (never re-tokenised), so a response generated in
    segments is the same sequence as one generated in one go. Sequences are batched (left-padded)
    with others of the same token allowance. With `repeat_rule`, a sequence whose response
    (the part after `response_starts[i]`) ends in a loop is stopped and marked `repeated`.
    """
    from transformers import StoppingCriteria, StoppingCriteriaList

    from k15core.rollout.repeat import detect_repeat

    device = next(model.parameters()).device
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    starts = response_starts or [len(c) for c in contexts]
    out: list[Continuation | None] = [None] * len(contexts)
    was_training = model.training
    model.eval()
    # batch sequences with the same allowance together (generate takes one max_new_tokens per call)
    order = sorted(range(len(contexts)), key=lambda i: (max_new_tokens[i], len(contexts[i])))
    chunks, current = [], []
    for i in order:
        if current and (len(current) >= batch_size or max_new_tokens[current[0]] != max_new_tokens[i]):
            chunks.append(current)
            current = []
        current.append(i)
    if current:
        chunks.append(current)
    for chunk in chunks:
        allowance = max_new_tokens[chunk[0]]
        if allowance <= 0:
            for i in chunk:
                out[i] = Continuation([], [], False, False)
            continue
        ids, mask = left_pad([contexts[i] for i in chunk], pad)
        width = ids.shape[1]
        criteria = StoppingCriteriaList()
        if repeat_rule is not None:
            offsets = [width - len(contexts[i]) + starts[i] for i in chunk]  # column where each response starts

            class _StopOnRepeat(StoppingCriteria):
                def __call__(self, input_ids, scores, **kwargs):
                    return torch.tensor(
                        [detect_repeat(input_ids[r, offsets[r]:].tolist(), repeat_rule) for r in range(input_ids.shape[0])],
                        device=input_ids.device,
                    )

            criteria.append(_StopOnRepeat())
        res = model.generate(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            max_new_tokens=allowance,
            **sampling_kwargs(greedy, temperature, top_p),
            eos_token_id=eos,
            pad_token_id=pad,
            stopping_criteria=criteria,
            return_dict_in_generate=True,
            output_logits=True,
        )
        new = res.sequences[:, width:]  # (B, T_new)
        logp, entropy = token_stats(torch.stack(res.logits, dim=1), new)  # (B, T_new) each
        for row, i in enumerate(chunk):
            row_ids = new[row].tolist()
            n = len(row_ids)
            if eos in row_ids:
                n = row_ids.index(eos) + 1
            else:
                # a sequence stopped by the criterion is padded after its last real token
                while n > 0 and row_ids[n - 1] == pad and pad != eos:
                    n -= 1
            gen = row_ids[:n]
            response = contexts[i][starts[i]:] + gen
            repeated = repeat_rule is not None and eos not in gen and detect_repeat(response, repeat_rule)
            out[i] = Continuation(gen, logp[row, :n].tolist(), eos in gen, repeated, entropy[row, :n].tolist())
    model.train(was_training)
    return out  # type: ignore[return-value]
