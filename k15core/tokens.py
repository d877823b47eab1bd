"""Token helpers every stage shares: padding, span masks, next-token log-probs and entropies.

A causal LM's logits at position t predict token t + 1, so every "next-token" tensor has width T - 1: its
position t refers to the prediction of token t + 1. The rollout engines, the RL step, the warm-up and DPO all
build their batches with these, so a padding or shift rule is written once.

>>> ids, attention = right_pad([[5, 6, 7], [8]], pad=0)
>>> ids.tolist(), attention.tolist()
([[5, 6, 7], [8, 0, 0]], [[1, 1, 1], [1, 0, 0]])
>>> next_token_mask([(1, 3), (1, 1)], width=3).tolist()  # row 0's tokens 1 and 2 are predicted at positions 0, 1
[[1.0, 1.0], [0.0, 0.0]]
"""
from __future__ import annotations

import torch


def left_pad(contexts: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id lists -> left-padded ids (B, T) and attention mask (B, T), T the longest (generation appends on the right)."""
    width = max(len(c) for c in contexts)
    ids = torch.full((len(contexts), width), pad, dtype=torch.long)
    mask = torch.zeros((len(contexts), width), dtype=torch.long)
    for row, c in enumerate(contexts):
        ids[row, width - len(c):] = torch.tensor(c, dtype=torch.long)
        mask[row, width - len(c):] = 1
    return ids, mask


def right_pad(sequences: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id lists -> right-padded ids (N, T) and attention mask (N, T), T the longest (for training passes)."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad, dtype=torch.long)
    attention = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, s in enumerate(sequences):
        ids[row, : len(s)] = torch.tensor(s, dtype=torch.long)
        attention[row, : len(s)] = 1
    return ids, attention


def span_mask(spans: list[tuple[int, int]], width: int) -> torch.Tensor:
    """(N, width) float mask: 1 at positions start <= t < end of each row's (start, end) span, else 0."""
    mask = torch.zeros((len(spans), width))
    for row, (start, end) in enumerate(spans):
        mask[row, max(start, 0): max(end, 0)] = 1
    return mask


def next_token_mask(token_spans: list[tuple[int, int]], width: int) -> torch.Tensor:
    """(N, width - 1) mask over next-token predictions: 1 where position t predicts a token of the row's
    (start, end) span of token positions, i.e. at t = start - 1 .. end - 2."""
    return span_mask([(start - 1, end - 1) for start, end in token_spans], width - 1)


def token_logprobs(model, ids: torch.Tensor, attention: torch.Tensor, keep_from: int = 0,
                   extra: dict[str, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, T) ids -> token log-probs (N, T-1) of ids[:, 1:], and the logits (N, T-1-keep_from, V) that gave them.

    `keep_from` > 0: the model's head runs only at next-token positions keep_from .. T-2 (the responses; the
    prompt's predictions are never trained on), and log-probs before it are 0. With SmolLM2's 49k-token
    vocabulary the head's logits are most of a training micro-batch's memory, and a prompt is most of a row.
    `extra`: more forward inputs, the rows' pixel values for a vision-language model (`vlm.inputs.pixel_inputs`).
    """
    width = ids.shape[1]
    keep_from = min(max(keep_from, 0), width - 1)
    out = model(input_ids=ids, attention_mask=attention, **(extra or {}), **({"logits_to_keep": width - keep_from} if keep_from else {}))
    logits = out.logits[:, -(width - keep_from):-1].float()
    logp = chosen_logprobs(logits, ids[:, keep_from + 1:])
    return (torch.nn.functional.pad(logp, (keep_from, 0)) if keep_from else logp), logits


def chosen_logprobs(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """log softmax(logits)[token] for each position: (N, T, V), (N, T) -> (N, T).

    Computed as logit[token] - logsumexp(logits), a few rows at a time (`_row_chunks`): no (N, T, V) log-softmax
    is kept for the backward pass or made at all. With a 49k-token vocabulary (SmolLM2) each such copy of a
    64 x 150-token batch is 1.9 GB; the result equals the full log-softmax's to float rounding.
    """
    lse = torch.cat([torch.logsumexp(chunk, dim=-1) for chunk in _row_chunks(logits)])  # (N, T)
    return logits.gather(-1, tokens.unsqueeze(-1)).squeeze(-1) - lse


TEMPORARY_ELEMENTS = 2**24
"""Largest temporary the row-wise helpers make at once: 16 M floats, 64 MiB (a tiny model's whole batch)."""


def _row_chunks(x: torch.Tensor) -> list[torch.Tensor]:
    """`x` (N, ...) cut along its first dimension into pieces of at most TEMPORARY_ELEMENTS elements (one row at least)."""
    per_row = max(1, x[0].numel()) if len(x) else 1
    step = max(1, TEMPORARY_ELEMENTS // per_row)
    return list(x.split(step)) if len(x) else []


def token_stats(logits: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-prob of each chosen token and the entropy of each next-token distribution, at temperature 1.

    logits (..., V) raw scores; tokens (...) chosen ids -> ((...) log-probs, (...) entropies in nats).
    """
    logp_all = torch.log_softmax(logits.float(), dim=-1)  # (..., V)
    entropy = -(logp_all.exp() * logp_all).sum(-1)  # (...)
    return logp_all.gather(-1, tokens.unsqueeze(-1)).squeeze(-1), entropy


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """(N, ..., V) raw scores -> (N, ...) entropy (nats) of each distribution at temperature 1, a few rows at a
    time (`_row_chunks`: its three temporaries stay small with a large vocabulary)."""
    out = []
    for chunk in _row_chunks(logits):
        logp_all = torch.log_softmax(chunk.float(), dim=-1)
        out.append(-(logp_all.exp() * logp_all).sum(-1))
    return torch.cat(out) if out else logits.new_zeros(logits.shape[:-1])
