"""Sampling that spends no compute on finished responses: the batch shrinks as they end.

`model.generate` keeps every row of a batch in every step until the longest response ends (a finished row
is fed padding). Chain-of-thought lengths are long-tailed, a few long answers among many short ones, so
most of that compute is wasted. `compact_continue` runs the decode loop itself: whenever rows end (EOS,
their token allowance, or the repeat detector) they leave the batch and the KV cache
(`DynamicCache.batch_select_indices`), and the next step computes only the rows still going. Rows with
different allowances share one batch (generate needs one `max_new_tokens` per call).

Same distribution as `generate`: each step samples from softmax(logits / temperature), restricted to the
top-p nucleus when top_p < 1 (the smallest set of most likely tokens whose probability reaches top_p), no
top-k; greedy takes the argmax and gives `generate`'s tokens (tested). A vision-language model's image
placeholder token is never chosen (`placeholder_tokens`). Each row's positions come from its
own left padding, as `generate` computes them. Log-probs and entropies are at temperature 1, as in
`k15core.rollout.hf`. The random stream is consumed differently from `generate`'s, so the same seed gives
different (equally likely) samples.
"""
from __future__ import annotations

import inspect

import torch

from k15core.rollout.repeat import RepeatRule, detect_repeat
from k15core.tokens import left_pad, token_stats
from k15core.types import Continuation
from k15core.vlm.inputs import pixel_inputs


def nucleus(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """(B, V) logits with every token outside the top-p nucleus set to -inf (top_p >= 1: unchanged)."""
    if top_p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = sorted_logits.softmax(-1)
    before = probs.cumsum(-1) - probs  # probability of the more likely tokens
    drop_sorted = before >= top_p  # the most likely token always stays (before = 0)
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def next_tokens(logits: torch.Tensor, greedy: bool, temperature: float, top_p: float) -> torch.Tensor:
    """(B, V) raw logits -> (B,) chosen token ids."""
    if greedy:
        return logits.argmax(-1)
    scores = nucleus(logits.float() / temperature, top_p)
    return torch.multinomial(scores.softmax(-1), 1).squeeze(-1)


def placeholder_tokens(model) -> list[int]:
    """Token ids the model must never write: a vision-language model's image placeholder (its config's
    `image_token_id`), which stands for pixels, not text (an untrained tiny VLM samples it, and a response holding
    it breaks the next forward's image-feature count). Empty for a text model."""
    token = getattr(getattr(model, "config", None), "image_token_id", None)
    return [token] if isinstance(token, int) else []


def cache_keyword(model) -> str:
    """The keyword the model's forward takes its KV cache by: `cache` in newer transformers 5 releases (where
    `past_key_values` still works but warns), `past_key_values` in older ones (the GPU extra pins transformers<5.18)."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else getattr(model, "module", model)
    return "cache" if "cache" in inspect.signature(type(inner).forward).parameters else "past_key_values"


@torch.no_grad()
def compact_continue(model, contexts: list[list[int]], max_new_tokens: list[int], *, eos: int, pad: int, greedy: bool = False,
                     temperature: float = 1.0, top_p: float = 1.0, repeat_rule: RepeatRule | None = None,
                     response_starts: list[int] | None = None, pixel_values: list[torch.Tensor | None] | None = None) -> list[Continuation]:
    """Continue each sequence by at most `max_new_tokens[i]` tokens; the contract of `hf.continue_ids`.

    `pixel_values[i]`: the images of context i (a vision-language model's image prompt: `Trajectory.pixel_values`),
    given to the prefill only. The prefill puts the images' features into the KV cache at their image tokens, so
    each decode step after it feeds text tokens alone, exactly as for a text model.
    """
    from transformers import DynamicCache

    device = next(model.parameters()).device
    starts = response_starts or [len(c) for c in contexts]
    out = [Continuation([], [], False, False, []) for _ in contexts]
    rows = [i for i, n in enumerate(max_new_tokens) if n > 0]  # original index of each batch row, in batch order
    if not rows:
        return out
    was_training = model.training
    model.eval()
    ids, mask = (x.to(device) for x in left_pad([contexts[i] for i in rows], pad))
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache()
    with_cache = {cache_keyword(model): cache, "use_cache": True}
    # logits_to_keep=1: only the last column's logits, not (B, T, V) floats for the whole prompt
    images = pixel_inputs([pixel_values[i] for i in rows], device) if pixel_values else {}
    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=1, **images, **with_cache).logits[:, -1]
    next_position = mask.sum(-1)  # (B,) position of each row's next token
    new: dict[int, list[int]] = {i: [] for i in rows}
    banned = placeholder_tokens(model)
    while rows:
        # placeholders are left out of the choice only: the log-probs below stay the model's own, as with top-p
        token = next_tokens(logits.index_fill(-1, torch.tensor(banned, device=device), float("-inf")) if banned else logits,
                            greedy, temperature, top_p)
        chosen, entropy = (x.tolist() for x in token_stats(logits, token))  # (B,) each
        keep = []
        for r, (i, t) in enumerate(zip(rows, token.tolist())):
            new[i].append(t)
            out[i].logprobs.append(chosen[r])
            out[i].entropies.append(entropy[r])
            ended = t == eos or len(new[i]) >= max_new_tokens[i]
            if not ended and repeat_rule is not None and detect_repeat(contexts[i][starts[i]:] + new[i], repeat_rule):
                out[i].repeated = True
                ended = True
            out[i].eos = t == eos
            if not ended:
                keep.append(r)
        if len(keep) < len(rows):  # finished rows leave the batch and the cache: no more compute on them
            index = torch.tensor(keep, dtype=torch.long, device=device)
            cache.batch_select_indices(index)
            mask, token, next_position = mask[index], token[index], next_position[index]
            rows = [rows[r] for r in keep]
        if not rows:
            break
        mask = torch.cat([mask, torch.ones((len(rows), 1), dtype=mask.dtype, device=device)], dim=1)
        logits = model(input_ids=token[:, None], attention_mask=mask, position_ids=next_position[:, None],
                       **with_cache).logits[:, -1]
        next_position = next_position + 1
    for i, tokens in new.items():
        out[i].token_ids = tokens
    model.train(was_training)
    return out
