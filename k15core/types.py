"""Typed records that travel between the engine's parts (no positional tuples, no string-keyed dicts)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TrajectoryRecord:
    """One sampled response, as the run store keeps it (every token, its log-prob, reward and length)."""

    prompt_id: str
    sample_index: int
    prompt: str
    response: str
    token_ids: list[int] = field(repr=False)
    logprobs: list[float] = field(repr=False)
    reward: float
    correct: float
    length: int
    """Response length in tokens."""
    reward_parts: dict[str, float] = field(default_factory=dict)
    """Named components of `reward` (correctness, length penalty, repeat penalty, ...)."""
    finished: bool = True
    truncated: bool = False
    repeated: bool = False
    segments: int = 1
    """Number of partial-rollout segments the response was generated in."""
    difficulty: int = 0
    tag: str = ""
    """Free label, e.g. the forced style in an evaluation ('free', 'short', 'long')."""
    entropies: list[float] = field(default_factory=list, repr=False)
    """Entropy (nats) of the sampling policy at each response token; empty when not recorded."""
    group: int | None = None
    """The RL group (the k samples of one drawn prompt, unique over the run) it was trained in; None for
    samples that were never trained on (evaluation, curation)."""
