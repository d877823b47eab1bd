"""Policy losses: the k1.5 loss and three baselines (GRPO, REINFORCE, ReST), pure functions behind a registry.

Every loss is minimised. `N` is the number of sampled responses in the batch, `T` the padded
response length. A response's sequence log-probability is the sum of its token log-probabilities
over the loss mask (tokens masked out, e.g. partial-rollout segments written by an older policy or
padding, contribute nothing).

Choices the report leaves open (spec §13), made here:
- Sequence-level log-probabilities, as written in the report: no per-token terms, no length
  normalisation, no importance-ratio clipping in `k15`.
- `r̄` is the mean of the group's rewards, the sample itself included (as written; not
  leave-one-out). The reward passed in is whatever the trainer calls reward: correctness plus the
  length and repeat terms when they are switched on.
- Each prompt weighs the same: the loss averages over the k samples of a group (the report's
  1/k Σ_j), then over groups.
- `rest` (the report's §3.5 baseline) keeps a response when its reward is above 0: exactly the correct ones
  under `k15core.rewards.total_reward`, where a wrong answer never scores above 0 (see `rest_weight`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from k15core.registry import Registry

LOSSES: Registry["PolicyLoss"] = Registry("loss")
LOGZ_ESTIMATES: Registry[Callable[..., torch.Tensor]] = Registry("estimate of τ log Z")
"""name -> (rewards (N,), group (N,), tau) -> (N,) the estimate of τ log Z for each sample's group."""


def group_mean(values: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
    """values (N,), group (N,) ints -> (N,): each sample gets the mean of its group's values."""
    _, inverse, counts = torch.unique(group, return_inverse=True, return_counts=True)
    sums = torch.zeros(len(counts), dtype=values.dtype, device=values.device).index_add_(0, inverse, values)
    return (sums / counts.to(values.dtype))[inverse]


def group_logmeanexp(rewards: torch.Tensor, group: torch.Tensor, tau: float) -> torch.Tensor:
    """(N,) -> (N,): tau * log(mean_j exp(r_j / tau)) over each sample's group (the consistent τ log Z)."""
    _, inverse, counts = torch.unique(group, return_inverse=True, return_counts=True)
    scaled = rewards / tau
    peak = torch.full((len(counts),), -torch.inf, dtype=rewards.dtype, device=rewards.device).scatter_reduce(0, inverse, scaled, "amax")
    sums = torch.zeros(len(counts), dtype=rewards.dtype, device=rewards.device).index_add_(0, inverse, torch.exp(scaled - peak[inverse]))
    return (tau * (peak + torch.log(sums / counts.to(rewards.dtype))))[inverse]


def mean_over_groups(per_sample: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
    """(N,) -> scalar: the mean within each group, then the mean over groups (every prompt weighs the same)."""
    _, inverse, counts = torch.unique(group, return_inverse=True, return_counts=True)
    weights = 1.0 / (counts[inverse].to(per_sample.dtype) * len(counts))  # (N,)
    return (per_sample * weights).sum()


LOGZ_ESTIMATES.register("mean")(lambda rewards, group, tau: group_mean(rewards, group))
LOGZ_ESTIMATES.register("logmeanexp")(group_logmeanexp)


def k15_baseline(rewards: torch.Tensor, group: torch.Tensor, tau: float, logz: str = "mean") -> torch.Tensor:
    """The estimate of τ log Z for each sample's group: the group's mean reward (the report's
    practical choice) or the log-mean-exp (`logz="logmeanexp"`, consistent; tends to the mean as τ → ∞)."""
    return LOGZ_ESTIMATES.get(logz)(rewards, group, tau)


def k15_advantage(rewards: torch.Tensor, group: torch.Tensor, tau: float, logz: str = "mean") -> torch.Tensor:
    """(N,) -> (N,): A_j = r_j − τ log Z, with τ log Z estimated per group by `k15_baseline` (a constant)."""
    return (rewards - k15_baseline(rewards, group, tau, logz)).detach()


def k15_per_sample(logp: torch.Tensor, logp_old: torch.Tensor, advantage: torch.Tensor, tau: float) -> torch.Tensor:
    """(N,) -> (N,): −A_j · log π_θ(y_j, z_j | x) + (τ/2) (log π_θ − log π_θi)², one term per response."""
    return -advantage * logp + 0.5 * tau * (logp - logp_old.detach()).pow(2)


def k15_loss(
    logp: torch.Tensor,
    logp_old: torch.Tensor,
    rewards: torch.Tensor,
    group: torch.Tensor,
    tau: float,
    logz: str = "mean",
) -> torch.Tensor:
    """The k1.5 policy loss (report §2.3.2; spec §2.5, form `loss_A`).

    logp      (N,) log π_θ(y, z | x): sequence log-probs under the policy being trained (grad flows)
    logp_old  (N,) log π_θi(y, z | x): the same under the policy at the start of the iteration
    rewards   (N,) r(x, y, y*) (plus any length / repeat terms)
    group     (N,) index of the prompt each sample belongs to (its k samples share it)
    -> scalar

        loss = mean_groups (1/k) Σ_j [ −A_j · log π_θ(y_j, z_j | x) + (τ/2) (log π_θ − log π_θi)² ],
        A_j = r_j − r̄  (a constant: no gradient flows through it)

    Its gradient is minus the report's update direction (3). At θ = θ_i the second term has zero
    gradient and the loss is REINFORCE with the group-mean baseline.
    """
    return mean_over_groups(k15_per_sample(logp, logp_old, k15_advantage(rewards, group, tau, logz), tau), group)


def tau_share(advantage: torch.Tensor, logratio: torch.Tensor, tau: float) -> float:
    """The τ term's share of the k1.5 gradient over a set of responses, in [0, 1] (the `rl/tau_share` metric).

    advantage (N,) A_j = r_j − r̄; logratio (N,) ρ_j = log π_θ(y_j | x) − log π_θi(y_j | x) (sequence level);
    tau the loss's τ (0 for a loss with no τ term) -> float

    The loss's gradient is Σ_j w_j (−A_j + τ ρ_j) ∇ log π_θ(y_j | x), w_j = 1/(k · groups): each response's
    score ∇ log π_j is scaled by a reward part −A_j and a τ part τ ρ_j. (In the report's squared form
    L = (r − r̄ − τρ)², ∂L/∂ρ = −2τ(r − r̄ − τρ): the same two parts times 2τ, so the share is the same.)
        share = Σ_j |τ ρ_j| / (Σ_j |A_j| + Σ_j |τ ρ_j|)      (0 when both sums are 0)
    Why these coefficients and not the norms of the two gradient parts: the scores of different responses point
    in different directions, so those norms need a backward per response; the coefficients cost nothing and say
    how hard the penalty pulls back against how hard the rewards push. Absolute values per response, so pulls
    of opposite sign on different responses do not cancel. 0 at θ = θ_i (ρ = 0: plain REINFORCE), 1/2 when
    the two pull equally hard. Every response counts once: the trainer's weights w_j are equal within a step
    (every group has k members).
    """
    reward_part = float(advantage.abs().sum())
    tau_part = float((tau * logratio).abs().sum())
    total = reward_part + tau_part
    return tau_part / total if total > 0 else 0.0


def reinforce_advantage(rewards: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
    """(N,) -> (N,): r_j − r̄, the group-mean baseline (a constant)."""
    return (rewards - group_mean(rewards, group)).detach()


def reinforce_loss(logp: torch.Tensor, rewards: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
    """REINFORCE with the group-mean baseline: mean_groups (1/k) Σ_j −(r_j − r̄) log π_θ(y_j | x).
    logp, rewards, group: (N,) -> scalar. Equals `k15_loss` with τ = 0."""
    return mean_over_groups(-reinforce_advantage(rewards, group) * logp, group)


REST_THRESHOLD = 0.0
"""`rest` fits the responses whose reward is above this. Why 0: in `k15core.rewards.total_reward` a wrong answer
scores 0 plus terms that are never positive (w · min(0, λ), the repeat penalty), a correct one 1 + w · λ ≥ 1 − w/2
(a looping response never reaches an answer), so for any length weight w < 2 "r > 0" is "correct". Not "the best
of its group": in a group with no correct answer that would fit wrong ones."""


def rest_weight(rewards: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
    """(N,) -> (N,): 1 for a response whose reward is above `REST_THRESHOLD` (a correct one), else 0 (a constant).
    `group` is unused: ReST filters each response on its own reward, with no baseline."""
    return (rewards > REST_THRESHOLD).to(rewards.dtype).detach()


def rest_loss(logp: torch.Tensor, rewards: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
    """ReST (Gulcehre et al. 2023; the report's §3.5 / Figure 10 baseline): likelihood on the correct responses
    only, no negative gradient on the wrong ones.

    logp, rewards, group: (N,) -> scalar
        loss = mean_groups (1/k) Σ_j −1[r_j > 0] · log π_θ(y_j | x)
    Normalised like `k15` and `reinforce`: sequence log-prob (summed over tokens, no length normalisation), each
    response weighs 1/(k · groups) whether kept or not, so a wrong response adds exactly 0 and a correct one the
    negative log-likelihood gradient −∇ log π_θ(y_j | x) / (k · groups). Unlike SFT on the kept set (which
    divides by the number kept), a prompt with few correct answers pulls less: it is REINFORCE's update with
    A_j = 1[r_j > 0] in place of r_j − r̄ (`reinforce_loss` with that advantage).
    """
    return mean_over_groups(-rest_weight(rewards, group) * logp, group)


def grpo_advantage(rewards: torch.Tensor, group: torch.Tensor, std_eps: float = 1e-6) -> torch.Tensor:
    """(N,) -> (N,): A_j = (r_j − mean_group r) / (std_group r + std_eps), population std within the group."""
    mean = group_mean(rewards, group)
    std = group_mean((rewards - mean).pow(2), group).sqrt()
    return ((rewards - mean) / (std + std_eps)).detach()


def grpo_per_sample(token_logp: torch.Tensor, token_logp_old: torch.Tensor, mask: torch.Tensor, advantage: torch.Tensor,
                    clip_eps: float = 0.2) -> torch.Tensor:
    """(N, T) token inputs and A (N,) -> (N,): the clipped surrogate averaged over each response's unmasked tokens."""
    ratio = torch.exp(token_logp - token_logp_old.detach())  # (N, T)
    a = advantage[:, None]
    surrogate = torch.minimum(ratio * a, ratio.clamp(1 - clip_eps, 1 + clip_eps) * a)  # (N, T)
    mask = mask.to(token_logp.dtype)
    return -(surrogate * mask).sum(1) / mask.sum(1).clamp(min=1)


def grpo_loss(
    token_logp: torch.Tensor,
    token_logp_old: torch.Tensor,
    mask: torch.Tensor,
    rewards: torch.Tensor,
    group: torch.Tensor,
    clip_eps: float = 0.2,
    std_eps: float = 1e-6,
) -> torch.Tensor:
    """GRPO (DeepSeekMath): per-token PPO clipping with group-normalised advantages, no KL term.

    token_logp, token_logp_old, mask (N, T); rewards, group (N,) -> scalar
        A_j = (r_j − mean_group r) / (std_group r + std_eps)
        per token: −min(ρ A, clip(ρ, 1 − ε, 1 + ε) A),  ρ = exp(logp − logp_old)
    averaged over each response's unmasked tokens, then over responses within a group, then groups.
    """
    return mean_over_groups(grpo_per_sample(token_logp, token_logp_old, mask, grpo_advantage(rewards, group, std_eps), clip_eps), group)


def dpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    ref_chosen: torch.Tensor,
    ref_rejected: torch.Tensor,
    beta: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """DPO (Rafailov et al. 2023), used by long2short (report §2.4) with shorter-correct as chosen.

    Inputs (P,): sequence log-probabilities (sums over response tokens) of each pair's chosen and
    rejected response under the policy and under the frozen reference model.
        margin_i = β [(log π(c_i) − log π_ref(c_i)) − (log π(r_i) − log π_ref(r_i))]
        loss     = mean_i −log σ(margin_i)
    Returns (loss, margins); the margins (detached) say how far each pair is already ranked right.
    d loss / d log π(c_i) = −β σ(−margin_i) / P: every pair pushes its chosen response up, the most
    when the policy still prefers the rejected one.
    """
    margins = beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected))
    return -torch.nn.functional.logsigmoid(margins).mean(), margins.detach()


# The registry. Every loss above is mean_groups (1/k) Σ_j term_j, where term_j needs only response j's own
# log-probs and its advantage A_j, and A_j needs only the group's rewards. So each entry is split in those two
# parts: the trainer computes the advantages once for the whole batch, then sums weighted terms over
# micro-batches of any rows (sorted by length, groups split: less padding), and gets the same loss and gradient.
# Called whole, an entry is the loss itself:
#   token_logp, token_logp_old, mask (N, T); rewards, group (N,); cfg: an object with `tau`, `logz`, `clip_eps`.
# `tau` says how much of an entry's gradient is its (τ/2)·ρ² term: the trainer logs that share (`tau_share`).

@dataclass(frozen=True)
class PolicyLoss:
    advantage: Callable[..., torch.Tensor]
    """(rewards, group, cfg) -> A (N,), a constant."""
    per_sample: Callable[..., torch.Tensor]
    """(token_logp, token_logp_old, mask, advantage, cfg) -> (N,) the term each response adds."""
    tau: Callable[..., float] = lambda cfg: 0.0
    """cfg -> the τ of the loss's (τ/2)·(log π_θ − log π_θi)² term on sequence log-probs (0: it has none)."""

    def __call__(self, token_logp, token_logp_old, mask, rewards, group, cfg) -> torch.Tensor:
        return mean_over_groups(self.per_sample(token_logp, token_logp_old, mask, self.advantage(rewards, group, cfg), cfg), group)


def _sequence(token_logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (token_logp * mask.to(token_logp.dtype)).sum(1)


LOSSES.register("k15")(PolicyLoss(
    advantage=lambda rewards, group, cfg: k15_advantage(rewards, group, cfg.tau, cfg.logz),
    per_sample=lambda tl, old, mask, adv, cfg: k15_per_sample(_sequence(tl, mask), _sequence(old, mask), adv, cfg.tau),
    tau=lambda cfg: cfg.tau,
))
LOSSES.register("reinforce")(PolicyLoss(
    advantage=lambda rewards, group, cfg: reinforce_advantage(rewards, group),
    per_sample=lambda tl, old, mask, adv, cfg: -adv * _sequence(tl, mask),
))
LOSSES.register("grpo")(PolicyLoss(
    advantage=lambda rewards, group, cfg: grpo_advantage(rewards, group),
    per_sample=lambda tl, old, mask, adv, cfg: grpo_per_sample(tl, old, mask, adv, cfg.clip_eps),
))
LOSSES.register("rest")(PolicyLoss(
    advantage=lambda rewards, group, cfg: rest_weight(rewards, group),
    per_sample=lambda tl, old, mask, adv, cfg: -adv * _sequence(tl, mask),  # REINFORCE's term with A_j = 1[correct]
))
