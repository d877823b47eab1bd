"""Partial rollouts (report §2.6.2): a per-iteration token budget, and a replay buffer of the rest.

Each response may generate at most `segment_tokens` new tokens per iteration. One that hits the
budget without finishing waits in the `ReplayBuffer` and continues next iteration from where it
stopped, with its earlier tokens as context. A response ends when the model emits EOS, when the
repeat detector stops it, or when it reaches `max_response_tokens` (truncated).

The k samples of a prompt stay together as a group: the group is scored and trained on only
when all of its members have ended, so the baseline r̄ is always over all k.

Choices the report leaves open (spec §13), made here:
- Scheduling: groups waiting in the buffer are continued first; new prompts fill the rest of the
  iteration's `prompts_per_iter` (slime's `_buffer_filter_pop_first`).
- Which segments leave the loss (the report: "some segments may be left out"): with
  `mask_old_segments` (the default), each response's own last segment is trained on and its earlier
  segments stay as context with loss mask 0 (`context_only_tokens`). "Last" is the response's, not the
  iteration's: a response that ended an iteration or more before the rest of its group is trained on
  its last segment whole. Masking by "made in this iteration" instead would zero every such response
  while it still counts in r̄, so the short answers of any group with a long member (the ones the
  length penalty favours) would never be trained. No importance correction is applied to any segment:
  the last one of a response that ended early also came from an older policy than π_θi.
- No limit on resumptions beyond `max_response_tokens` (a response needs at most
  ceil(max_response_tokens / segment_tokens) iterations).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from k15core.types import Group, Trajectory


@dataclass
class ReplayBuffer:
    """Groups with at least one unfinished member, waiting for the next iteration."""

    groups: list[Group] = field(default_factory=list)

    def pop_all(self) -> list[Group]:
        out, self.groups = self.groups, []
        return out

    def push(self, groups: list[Group]) -> None:
        self.groups += groups

    def __len__(self) -> int:
        return len(self.groups)


def segment_allowance(trajectory: Trajectory, segment_tokens: int, max_response_tokens: int) -> int:
    """How many tokens `trajectory` may generate this iteration (0 when it has ended)."""
    if trajectory.done:
        return 0
    room = max_response_tokens - len(trajectory.token_ids)
    return max(0, min(room, segment_tokens) if segment_tokens > 0 else room)


def rollout_step(
    groups: list[Group],
    iteration: int,
    generate_fn,
    segment_tokens: int,
    max_response_tokens: int,
) -> int:
    """Generate this iteration's segment for every unfinished member of `groups`, in place.

    `generate_fn(contexts, allowances, response_starts)` returns one `Continuation` per context
    (a `RolloutEngine.continue_ids`, see `k15core.rollout.engine`); when members carry images it also gets
    `pixel_values=` and `images=` (the pictures' addresses; one entry each per context), so a response continued in a later iteration is prefilled with its
    picture again. Returns the number of tokens generated.
    """
    todo = [t for g in groups for t in g.members if not t.done]
    allowances = [segment_allowance(t, segment_tokens, max_response_tokens) for t in todo]
    contexts = [t.prompt_ids + t.token_ids for t in todo]
    # image prompts: each context's pixel values go with it, and its pictures' addresses (what the vLLM engine sends);
    # a text batch calls generate_fn exactly as before
    images = {"pixel_values": [t.pixel_values for t in todo], "images": [tuple(t.problem.images) for t in todo]} \
        if any(t.pixel_values is not None for t in todo) else {}
    results = generate_fn(contexts, allowances, [len(t.prompt_ids) for t in todo], **images)
    generated = 0
    for t, allowance, res in zip(todo, allowances, results):
        assert len(res.token_ids) <= allowance, "the engine generated more than the segment budget"
        t.add_segment(iteration, res.token_ids, res.logprobs, getattr(res, "entropies", ()))
        generated += len(res.token_ids)
        t.eos, t.repeated = res.eos, res.repeated
        t.truncated = not t.done and len(t.token_ids) >= max_response_tokens
    return generated


def context_only_tokens(token_iteration: list[int], mask_old: bool) -> int:
    """How many of a response's first tokens stay as context only, out of the loss: those made before its own
    last segment (the iteration of its last token) when `mask_old`, else none. Segments are appended in
    iteration order, so the trained tokens are the response's tail.

    >>> context_only_tokens([3, 3, 4, 4, 4], True), context_only_tokens([2, 2], True), context_only_tokens([3, 4], False)
    (2, 0, 0)
    """
    if not mask_old or not token_iteration:
        return 0
    return len(token_iteration) - token_iteration.count(token_iteration[-1])


def masked_token_share(trajectories: list[Trajectory], mask_old: bool) -> float:
    """Share of the response tokens of `trajectories` kept as context only (`context_only_tokens`): 0.0 when
    there are no response tokens."""
    total = sum(len(t.token_iteration) for t in trajectories)
    return sum(context_only_tokens(t.token_iteration, mask_old) for t in trajectories) / total if total else 0.0
