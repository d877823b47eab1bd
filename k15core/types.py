"""Typed records that travel between the engine's parts (no positional tuples, no string-keyed dicts).

One name per concept of a sampled response:
- `Continuation`: what a rollout engine added to one sequence in one call (a segment, not yet a response);
- `Trajectory`: one RL response while it is generated, segment by segment (partial rollouts), and trained on;
  the k of one drawn prompt form a `Group`;
- `TrajectoryRecord`: a response as the run store keeps it (RL and evaluation alike), with its `Verdict`;
- `Generation`: one finished response of `rollout.hf.generate` (evaluation, curation, long2short sampling);
- `long2short.selection.Sample`: a Generation reduced to what the long2short rules read (text, length, verdict),
  so those rules are tested on hand-made inputs.
And the batch of one RL iteration: `ScoredBatch` (after the verifier) -> `PolicyInputs` (the padded tensors).
Shapes: N responses, T the padded length of prompt + response.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import torch

from k15core.tasks.problem import Problem

REWARD_PARTS = ("correct", "length", "repeat")
"""The named terms of a response's reward (stored as its `reward_parts`); their sum is `total`."""


@dataclass(frozen=True)
class Verdict:
    """Whether a response's final answer matches the reference, and who decided (k15core.judge.verifiers).

    >>> Verdict.from_json(Verdict(True, "judge", "5 = 5").to_json()) == Verdict(True, "judge", "5 = 5")
    True
    """

    correct: bool
    by: str
    """'rule' (the task's own verifier), 'judge' (the chain-of-thought reward model, report §2.3.5) or 'unfinished'
    (a response cut or stopped as a loop: never verified, since it scores 0 whatever it says)."""
    reasoning: str = ""
    """The judge's step-by-step reasoning; its whole output when no verdict could be read; empty for the rule."""
    malformed: bool = False
    """The judge's output had no strict JSON verdict on its last line, so the response scored 0."""

    def to_json(self) -> dict:
        return {"correct": self.correct, "by": self.by, "reasoning": self.reasoning, "malformed": self.malformed}

    @staticmethod
    def from_json(data: dict) -> "Verdict":
        return Verdict(bool(data["correct"]), str(data["by"]), str(data.get("reasoning", "")), bool(data.get("malformed", False)))


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
    verdict: Verdict | None = None
    """Who judged its correctness and why (RL samples); None where the store has no verdict (older rows, evaluation)."""


@dataclass
class Continuation:
    """What one call of `continue_ids` added to one sequence."""

    token_ids: list[int]
    """New tokens (EOS included when the model emitted it)."""
    logprobs: list[float]
    """log pi(token | context) at temperature 1 for each new token."""
    eos: bool
    """The model emitted EOS."""
    repeated: bool
    """Stopped early by the repeat detector."""
    entropies: list[float] = field(default_factory=list)
    """Entropy (nats) of pi(. | context) at temperature 1 for each new token (the studio colours tokens by it)."""


@dataclass
class Generation:
    """One finished response that `rollout.hf.generate` sampled for a prompt (evaluation, curation, long2short)."""

    prompt_index: int
    """Index into the `prompts` list passed to `generate`."""
    sample_index: int
    """0..k-1: which of the k samples of this prompt."""
    text: str
    """The response text (prefix included, EOS excluded)."""
    token_ids: list[int] = field(repr=False)
    """Response tokens (prefix included, EOS included when the response finished)."""
    logprobs: list[float] = field(repr=False)
    """log pi(token | context) per response token; 0.0 for prefilled prefix tokens (not sampled)."""
    entropies: list[float] = field(repr=False)
    """Entropy (nats) of pi(. | context) at each response token; 0.0 for prefilled prefix tokens."""
    finished: bool
    """True if the model emitted EOS."""
    truncated: bool
    """True if the response hit `max_new_tokens` without EOS."""

    @property
    def length(self) -> int:
        return len(self.token_ids)


@dataclass
class Trajectory:
    """One response being generated (possibly over several iterations)."""

    problem: Problem
    group: int
    """Id of the group of k samples it belongs to (unique over the run)."""
    sample_index: int
    prompt_ids: list[int] = field(repr=False)
    token_ids: list[int] = field(default_factory=list, repr=False)
    logprobs: list[float] = field(default_factory=list, repr=False)
    """Behaviour log-probs, one per response token."""
    entropies: list[float] = field(default_factory=list, repr=False)
    """Entropy of the behaviour policy at each response token (for inspection only)."""
    token_iteration: list[int] = field(default_factory=list, repr=False)
    """The iteration that generated each response token."""
    eos: bool = False
    repeated: bool = False
    truncated: bool = False
    pixel_values: torch.Tensor | None = field(default=None, repr=False)
    """(images, C, H, W) pixel values of the prompt's images, in the order of their image tokens in `prompt_ids`
    (a vision-language model's image prompt, `vlm.inputs.encode_prompt`); None for a text prompt. The sampler's
    prefill and the training forward get them with the ids."""

    @property
    def done(self) -> bool:
        return self.eos or self.repeated or self.truncated

    @property
    def segments(self) -> int:
        return len(set(self.token_iteration)) or 1

    def add_segment(self, iteration: int, token_ids: list[int], logprobs: list[float], entropies: list[float] = ()) -> None:
        self.token_ids += token_ids
        self.logprobs += logprobs
        self.entropies += list(entropies) if len(entropies) == len(token_ids) else [float("nan")] * len(token_ids)
        self.token_iteration += [iteration] * len(token_ids)


@dataclass
class Group:
    """The k samples of one drawn prompt."""

    id: int
    problem: Problem
    members: list[Trajectory]
    started: int
    """Iteration in which it was drawn."""

    @property
    def done(self) -> bool:
        return all(t.done for t in self.members)


@dataclass
class ScoredBatch:
    """The finished groups of one iteration with their rewards (report §2.3): response i is `trajectories[i]`."""

    trajectories: list[Trajectory]
    group: torch.Tensor
    """(N,) long: the group (the k samples of one drawn prompt) of each response."""
    correct: torch.Tensor
    """(N,) float: the correctness reward, the verifier's verdict (1 or 0) for a response that ended by itself and
    0 for a truncated or repeat-stopped one (`rewards.correctness`)."""
    length: torch.Tensor
    """(N,) float: the length reward (§2.3.3), already weighted by the schedule (0 while it is off)."""
    repeat: torch.Tensor
    """(N,) float: minus the repeat penalty for a response the repeat detector stopped, else 0."""
    total: torch.Tensor
    """(N,) float: the reward the loss sees, correct + length + repeat."""
    texts: list[str] = field(default_factory=list)
    """The decoded response of each (decoded once, for the verifier and the store)."""
    verdicts: list[Verdict] = field(default_factory=list)
    """The verifier's verdict on each (rule or judge, with the judge's reasoning), kept with the trajectory."""

    @staticmethod
    def concat(batches: list[ScoredBatch]) -> ScoredBatch:
        """One batch of several (the ranks' batches in rank order)."""
        if len(batches) == 1:
            return batches[0]
        return ScoredBatch(
            [t for b in batches for t in b.trajectories], *(torch.cat([getattr(b, k) for b in batches]) for k in ("group", *REWARD_PARTS, "total")),
            texts=[x for b in batches for x in b.texts], verdicts=[v for b in batches for v in b.verdicts],
        )


@dataclass
class PolicyInputs:
    """Right-padded prompt + response tokens of N responses and the masks of a training pass."""

    ids: torch.Tensor
    """(N, T) long: prompt + response ids, right-padded."""
    attention: torch.Tensor
    """(N, T) long: 1 on real tokens."""
    loss_mask: torch.Tensor
    """(N, T-1) float: 1 where position t predicts a response token the loss trains on."""
    response_mask: torch.Tensor
    """(N, T-1) float: 1 where position t predicts any response token (trained or kept as context)."""
    pixel_values: list[torch.Tensor | None] = field(default_factory=list)
    """Row i's prompt images, (images, C, H, W), or None (a text row); empty when no row has images. Moved to the
    device per micro-batch (`vlm.inputs.pixel_inputs`), not here."""

    def to(self, device) -> PolicyInputs:
        return PolicyInputs(*(x.to(device) for x in (self.ids, self.attention, self.loss_mask, self.response_mask)), self.pixel_values)


@dataclass
class TrainState:
    """Everything about an RL run's progress besides the weights that `--resume` needs to continue exactly."""

    iteration: int = 0
    """Iterations completed."""
    next_group: int = 0
    """The id the next drawn group gets (group ids are unique over the run)."""
    label_seq: int = 0
    """Last label event applied."""
    run_id: int = 0

