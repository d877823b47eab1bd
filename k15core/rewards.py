"""Reward terms: correctness, the report's length penalty and its schedule, and a repeat penalty. Pure functions.

Choices the report leaves open (spec §13), made here:
- Correctness (`correctness`): the verifier's verdict only for a response that ended by itself (EOS); a
  response cut at `max_response_tokens` or stopped by the repeat detector gets 0, whatever its text says.
  Why: partial rollouts continue a response cut by the per-iteration budget (report §2.6.2), so one still
  cut when the score is taken reached the response limit and is final: it never finished, and a number it
  wrote on the way is not its final answer. A loop stopped by the detector never finished either. Crediting
  the text of either would pay the policy to write an answer and then not stop.
- Length is the response's token count (CoT plus answer, prompt excluded; every segment of a
  partial rollout counts). A truncated or repeat-stopped response is scored like any incorrect one:
  its length term is min(0, λ), so it can only push the response down.
- The length term is added with weight `w` to the correctness reward, and the group mean `r̄` of
  the loss is taken over this total (see `k15core.losses`).
- Repeat penalty: the report says repeat-stopped responses "may get an extra penalty": a constant
  −`weight`, on top of their correctness of 0. The report gives neither detector nor size.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


def correctness(verdict: torch.Tensor, truncated: torch.Tensor, repeated: torch.Tensor) -> torch.Tensor:
    """The correctness reward r(x, y, y*) of finished responses: the verifier's verdict where the response ended
    by itself, 0 where it was cut at the response limit or stopped by the repeat detector (module docstring).

    verdict (N,) the verifier's score of each response's text; truncated, repeated (N,) bool -> (N,) float

    >>> verdict = torch.tensor([1.0, 1.0, 1.0, 0.0])  # every text verifies but the last
    >>> correctness(verdict, torch.tensor([True, False, False, False]), torch.tensor([False, True, False, False])).tolist()
    [0.0, 0.0, 1.0, 0.0]
    """
    return torch.where(truncated | repeated, 0.0, verdict.to(torch.float32))


def length_penalty(lengths: torch.Tensor, correct: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
    """The length reward of report §2.3.3 for every sample, computed within each prompt's group.

    lengths (N,) response lengths; correct (N,) 1.0 / 0.0; group (N,) prompt index -> (N,) in [−0.5, 0.5]

        λ_i = 0.5 − (len_i − min_len) / (max_len − min_len)     (min, max over the sample's group)
        correct: λ_i;   wrong: min(0, λ_i);   0 for the whole group when all its lengths are equal.
    """
    lengths = lengths.to(torch.float64)
    _, inverse = torch.unique(group, return_inverse=True)
    n_groups = int(inverse.max()) + 1 if len(inverse) else 0
    lo = torch.full((n_groups,), torch.inf, dtype=torch.float64).scatter_reduce(0, inverse, lengths, "amin")[inverse]
    hi = torch.full((n_groups,), -torch.inf, dtype=torch.float64).scatter_reduce(0, inverse, lengths, "amax")[inverse]
    span = hi - lo
    lam = torch.where(span > 0, 0.5 - (lengths - lo) / torch.where(span > 0, span, 1.0), torch.zeros_like(lengths))
    out = torch.where(correct.to(torch.bool), lam, lam.clamp(max=0.0))
    return out.to(torch.float32)


@dataclass
class LengthPenaltySchedule:
    """The report's 'warm-up': no length penalty for the first `warmup_iters` iterations, then a
    constant weight `weight` (a two-phase step; the report gives neither number)."""

    warmup_iters: int = 0
    weight: float = 0.0

    def weight_at(self, iteration: int) -> float:
        return self.weight if iteration >= self.warmup_iters else 0.0


def repeat_penalty(repeated: torch.Tensor, weight: float) -> torch.Tensor:
    """(N,) bools -> (N,): −weight where the repeat detector stopped the response, else 0."""
    return -weight * repeated.to(torch.float32)


def total_reward(
    correct: torch.Tensor,
    lengths: torch.Tensor,
    repeated: torch.Tensor,
    group: torch.Tensor,
    length_weight: float,
    repeat_weight: float,
) -> dict[str, torch.Tensor]:
    """The reward parts and their sum, each (N,): correctness + w · length reward + repeat penalty."""
    parts = {"correct": correct.to(torch.float32)}
    parts["length"] = length_weight * length_penalty(lengths, correct, group) if length_weight else torch.zeros_like(parts["correct"])
    parts["repeat"] = repeat_penalty(repeated, repeat_weight)
    parts["total"] = parts["correct"] + parts["length"] + parts["repeat"]
    return parts
