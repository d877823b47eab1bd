"""The k1.5 loss and its baselines: hand-derived numbers, the report's gradient, and its limits."""
from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from k15core.losses import (LOSSES, group_logmeanexp, group_mean, grpo_loss, k15_loss, k15_per_sample, reinforce_loss, rest_loss,
                            tau_share)


def test_k15_hand_numbers():
    # One group of two samples, rewards 1 and 0 -> r̄ = 0.5, A = (+0.5, −0.5).
    # logp = (−1, −2), logp_old = (−1.5, −2): log ratios (0.5, 0); τ = 2.
    # per sample: −A·logp + τ/2·ratio² = (0.5 + 1·0.25, −1 + 0) = (0.75, −1.0); mean = −0.125
    logp = torch.tensor([-1.0, -2.0])
    loss = k15_loss(logp, torch.tensor([-1.5, -2.0]), torch.tensor([1.0, 0.0]), torch.tensor([0, 0]), tau=2.0)
    assert loss.item() == pytest.approx(-0.125)


def test_groups_weigh_the_same():
    # group 0: 1 sample (A = 0), group 1: 3 samples; every prompt weighs 1/2, its samples 1/k each.
    # group 1: rewards (1, 0, 0), r̄ = 1/3, A = (2/3, −1/3, −1/3), logp = (−1, −1, −4), τ = 0 terms vanish
    # at logp == logp_old: mean of (2/3, −1/3, −4/3) = −1/3; group 0 gives 0 -> loss = −1/6
    logp = torch.tensor([-3.0, -1.0, -1.0, -4.0])
    loss = k15_loss(logp, logp.clone(), torch.tensor([1.0, 1.0, 0.0, 0.0]), torch.tensor([0, 1, 1, 1]), tau=1.0)
    assert loss.item() == pytest.approx(-1 / 6)


def _report_direction(logp, logp_old, rewards, group, tau):
    """Expression (3) of the report, per group (1/k) Σ_j [∇logπ·(r − r̄) − τ/2 ∇(logπ − logπ_old)²],
    averaged over groups, written as coefficients on ∇logπ_j (the chain rule does the rest)."""
    coef = torch.zeros_like(logp)
    for g in group.unique():
        idx = (group == g).nonzero().flatten()
        rbar = rewards[idx].mean()
        k = len(idx)
        coef[idx] = ((rewards[idx] - rbar) - tau * (logp[idx] - logp_old[idx])) / k
    return coef / len(group.unique())


def test_gradient_equals_minus_the_reports_update_direction():
    torch.manual_seed(0)
    # A toy policy: a softmax over 6 whole sequences for each of 3 prompts, parameters θ (3, 6).
    theta = torch.randn(3, 6, requires_grad=True)
    theta_old = (theta.detach() + 0.3 * torch.randn(3, 6))
    group = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    seq = torch.randint(0, 6, (12,))
    rewards = torch.randint(0, 2, (12,)).float()
    tau = 0.7
    logp = torch.log_softmax(theta, -1)[group, seq]
    logp_old = torch.log_softmax(theta_old, -1)[group, seq]
    k15_loss(logp, logp_old, rewards, group, tau).backward()
    # expected: −Σ_j coef_j ∇θ logπ_j
    coef = _report_direction(logp.detach(), logp_old, rewards, group, tau)
    theta2 = theta.detach().clone().requires_grad_(True)
    logp2 = torch.log_softmax(theta2, -1)[group, seq]
    (-(coef * logp2).sum()).backward()
    assert torch.allclose(theta.grad, theta2.grad, atol=1e-6)
    assert theta.grad.abs().sum() > 0


def test_at_the_reference_it_is_reinforce_with_mean_baseline():
    torch.manual_seed(1)
    theta = torch.randn(10, requires_grad=True)
    group = torch.tensor([0] * 5 + [1] * 5)
    rewards = torch.rand(10)
    logp = torch.log_softmax(theta, -1)
    k15_loss(logp, logp.detach(), rewards, group, tau=5.0).backward()
    g_k15 = theta.grad.clone()
    theta.grad = None
    reinforce_loss(torch.log_softmax(theta, -1), rewards, group).backward()
    assert torch.allclose(g_k15, theta.grad, atol=1e-7)


def test_equal_rewards_in_a_group_give_zero_gradient_at_the_reference():
    theta = torch.randn(8, requires_grad=True)
    logp = torch.log_softmax(theta, -1)
    k15_loss(logp, logp.detach(), torch.ones(8), torch.zeros(8, dtype=torch.long), tau=1.0).backward()
    assert theta.grad.abs().max().item() == 0.0


def test_logmeanexp_limits_match_the_spec():
    r = torch.tensor([1.0, 0, 0, 1, 0])
    g = torch.zeros(5, dtype=torch.long)
    assert group_logmeanexp(r, g, 1.0)[0].item() == pytest.approx(math.log((2 * math.e + 3) / 5), abs=1e-6)  # ≈ 0.523
    assert group_logmeanexp(r, g, 1.0)[0].item() == pytest.approx(0.523, abs=1e-3)
    assert group_logmeanexp(r, g, 1e4)[0].item() == pytest.approx(0.400, abs=1e-3)  # -> mean as τ -> ∞
    assert group_logmeanexp(r, g, 1e-3)[0].item() == pytest.approx(1.0 - 1e-3 * math.log(2.5), abs=1e-6)  # -> max as τ -> 0


def test_fixed_point_is_the_reports_closed_form():
    # Population surrogate on a discrete policy over 5 answers with exact τ log Z: gradient descent on
    # E_{π_old}[(r − τ log Z − τ log(π/π_old))²] converges to π_old · exp(r/τ) / Z.
    tau = 0.5
    r = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0])
    old = torch.log_softmax(torch.tensor([0.2, 1.0, -0.5, 0.0, 0.3]), -1)
    logz = tau * torch.logsumexp(old + r / tau, -1)
    theta = old.clone().requires_grad_(True)
    opt = torch.optim.SGD([theta], lr=2.0)
    for _ in range(3000):
        logp = torch.log_softmax(theta, -1)
        loss = (old.exp() * (r - logz - tau * (logp - old)).pow(2)).sum()
        opt.zero_grad(); loss.backward(); opt.step()
    target = torch.softmax(old + r / tau, -1)
    assert torch.allclose(torch.softmax(theta, -1), target, atol=1e-4)


def test_grpo_hand_numbers_and_clipping():
    # Two samples, rewards (1, 0): mean 0.5, std 0.5 -> A = (+1, −1).
    # Sample 0: one token with ratio e^{0.5} ≈ 1.65 > 1.2: clipped, term −1.2·1 = −1.2 (min of 1.65, 1.2)
    # Sample 1: one token with ratio 1: term −(1·−1) = +1.  Mean: (−1.2 + 1)/2 = −0.1
    tl = torch.tensor([[-0.5], [-1.0]])
    old = torch.tensor([[-1.0], [-1.0]])
    loss = grpo_loss(tl, old, torch.ones(2, 1), torch.tensor([1.0, 0.0]), torch.tensor([0, 0]), clip_eps=0.2, std_eps=0.0)
    assert loss.item() == pytest.approx(-0.1, abs=1e-6)


def test_masked_tokens_have_exactly_zero_gradient():
    cfg = SimpleNamespace(tau=1.0, logz="mean", clip_eps=0.2)
    torch.manual_seed(2)
    for name in LOSSES.names():
        token_logp = torch.randn(4, 6, requires_grad=True)
        mask = torch.ones(4, 6)
        mask[:, :2] = 0  # e.g. a segment from an earlier policy
        mask[3, 4:] = 0  # padding
        LOSSES.get(name)(token_logp, token_logp.detach() + 0.1, mask, torch.tensor([1.0, 0, 1, 0]), torch.tensor([0, 0, 1, 1]), cfg).backward()
        assert token_logp.grad[mask == 0].abs().max().item() == 0.0, name
        assert token_logp.grad[mask == 1].abs().max().item() > 0.0, name


def test_group_mean():
    assert group_mean(torch.tensor([1.0, 3.0, 10.0]), torch.tensor([5, 5, 2])).tolist() == [2.0, 2.0, 10.0]


def test_rest_hand_numbers():
    # Two groups of k = 2 (G = 2): rewards (1, 0 | 0.5, −0.25). Kept (r > 0): rows 0 and 2 (0.5 is a correct answer
    # under a length penalty, −0.25 a wrong one). logp = (−1, −2, −3, −4):
    # group 0: (1/2)(1 + 0) = 0.5, group 1: (1/2)(3 + 0) = 1.5 -> mean over groups 1.0
    loss = rest_loss(torch.tensor([-1.0, -2.0, -3.0, -4.0]), torch.tensor([1.0, 0.0, 0.5, -0.25]), torch.tensor([0, 0, 1, 1]))
    assert loss.item() == pytest.approx(1.0)
    # a reward of exactly 0 (a wrong answer, no penalty) is not kept
    assert rest_loss(torch.tensor([-1.0]), torch.tensor([0.0]), torch.tensor([0])).item() == 0.0


def test_rest_gradient_is_zero_on_wrong_answers_and_the_nll_gradient_on_right_ones():
    # Token level through the registry: d loss / d token_logp[j, t] = −1[r_j > 0] · mask[j, t] / (k · G) = −1/4 on the
    # unmasked tokens of rows 0 and 2, exactly 0 on rows 1 and 3 (wrong) and on masked tokens.
    cfg = SimpleNamespace(tau=1.0, logz="mean", clip_eps=0.2)
    token_logp = torch.randn(4, 3, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    mask = torch.ones(4, 3)
    mask[2, 2] = 0
    LOSSES.get("rest")(token_logp, token_logp.detach(), mask, torch.tensor([1.0, 0.0, 0.5, -0.25]), torch.tensor([0, 0, 1, 1]), cfg).backward()
    expected = torch.tensor([[-0.25] * 3, [0.0] * 3, [-0.25, -0.25, 0.0], [0.0] * 3])
    assert torch.equal(token_logp.grad, expected)
    # A toy policy (softmax over 5 whole answers for each of 3 prompts): ReST's gradient equals the gradient of the
    # negative log-likelihood of the correct answers, each weighted 1/(k · G) = 1/6; prompt 1 has no correct answer,
    # so its parameters get exactly zero gradient (no push down on wrong answers).
    theta = torch.randn(3, 5, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
    group, answer = torch.tensor([0, 0, 1, 1, 2, 2]), torch.tensor([0, 3, 1, 2, 4, 4])
    rewards = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0])
    rest_loss(torch.log_softmax(theta, -1)[group, answer], rewards, group).backward()
    theta2 = theta.detach().clone().requires_grad_(True)
    nll = -torch.log_softmax(theta2, -1)[group, answer]
    (nll[rewards > 0].sum() / 6).backward()
    assert torch.allclose(theta.grad, theta2.grad, atol=1e-7)
    assert theta.grad[1].abs().max().item() == 0.0 and theta.grad[0].abs().max().item() > 0


def test_tau_share_hand_numbers():
    # A = (0.5, −0.5, 0, 0), ρ = (2, −1, 0, 4), τ = 0.1: Σ|τρ| = 0.2 + 0.1 + 0 + 0.4 = 0.7, Σ|A| = 1.0 -> 0.7 / 1.7
    a, rho = torch.tensor([0.5, -0.5, 0.0, 0.0]), torch.tensor([2.0, -1.0, 0.0, 4.0])
    assert tau_share(a, rho, 0.1) == pytest.approx(0.7 / 1.7)
    assert tau_share(a, torch.zeros(4), 0.1) == 0.0  # θ = θ_i: plain REINFORCE
    assert tau_share(a, rho, 0.0) == 0.0  # no τ term
    assert tau_share(torch.zeros(4), rho, 0.1) == 1.0  # no reward signal, only the pull back to π_θi
    assert tau_share(torch.zeros(0), torch.zeros(0), 0.1) == 0.0  # nothing trained
    # The same share as the squared form's ∂L/∂ρ = −2τ(A − τρ) split into −2τA and 2τ²ρ
    tau = 0.1
    assert tau_share(a, rho, tau) == pytest.approx(float((2 * tau**2 * rho).abs().sum() / ((2 * tau * a).abs().sum() + (2 * tau**2 * rho).abs().sum())))


def test_tau_share_splits_the_k15_gradient():
    # d k15_per_sample / d logp_j = −A_j + τ ρ_j: the two parts tau_share weighs. Where they have the same sign
    # (no cancellation within a response) Σ_j |gradient_j| = Σ|A| + Σ|τρ|, so the share is Σ|τρ| / Σ|gradient|.
    a = torch.tensor([-0.5, 0.25, 0.0])
    logp_old = torch.tensor([-3.0, -2.0, -1.0])
    logp = torch.tensor([-1.0, -6.0, -0.5], requires_grad=True)  # ρ = (2, −4, 0.5): −A and τρ agree in sign
    tau = 0.2
    k15_per_sample(logp, logp_old, a, tau).sum().backward()
    rho = (logp - logp_old).detach()
    assert torch.allclose(logp.grad, -a + tau * rho)
    assert tau_share(a, rho, tau) == pytest.approx(float((tau * rho).abs().sum() / logp.grad.abs().sum()))


def test_only_k15_has_a_tau_term():
    cfg = SimpleNamespace(tau=0.3, logz="mean", clip_eps=0.2)
    assert {name: LOSSES.get(name).tau(cfg) for name in LOSSES.names()} == {"k15": 0.3, "grpo": 0.0, "reinforce": 0.0, "rest": 0.0}
