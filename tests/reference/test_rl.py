"""reference_impl.rl (answer key of unit `ppo`) against independent references.

compute_gae vs CleanRL's GAE loop written here (its convention: dones[t] flags that the
observation at t STARTS a new episode, so nextnonterminal = 1 - dones[t + 1] and the last step
uses next_done), fed by converting the contract's "episode ended at t" flags, and vs the closed
form A_t = sum_l (gamma lam)^l delta_{t+l} within an episode in NumPy float64; ppo_clip_loss vs
the piecewise formula of the PPO paper evaluated per sample in Python, and its gradient vs the
piecewise derivative; group_normalized_advantages vs NumPy (ddof=1); kl_k3 vs NumPy and, as an
estimator, vs the exact KL of two categoricals by Monte Carlo.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from reference_impl.rl import compute_gae, group_normalized_advantages, kl_k3, ppo_clip_loss


def _cleanrl_gae(rewards, values, dones_contract, gamma, lam):
    """CleanRL ppo.py's loop, verbatim in structure, with its own done convention."""
    num_steps = len(rewards)
    # CleanRL stores dones[t] = "obs[t] is the first of a new episode" = the contract's done[t - 1];
    # next_done (for the state after the rollout) = the contract's done[T - 1].
    dones = np.concatenate([[0.0], dones_contract[:-1]])
    next_done = dones_contract[-1]
    next_value = values[-1]
    advantages = np.zeros(num_steps)
    lastgaelam = 0.0
    for t in reversed(range(num_steps)):
        if t == num_steps - 1:
            nextnonterminal = 1.0 - next_done
            nextvalues = next_value
        else:
            nextnonterminal = 1.0 - dones[t + 1]
            nextvalues = values[t + 1]
        delta = rewards[t] + gamma * nextvalues * nextnonterminal - values[t]
        advantages[t] = lastgaelam = delta + gamma * lam * nextnonterminal * lastgaelam
    return advantages, advantages + values[:-1]


def _closed_form_gae(rewards, values, dones, gamma, lam):
    T = len(rewards)
    nd = 1.0 - dones
    delta = rewards + gamma * values[1:] * nd - values[:-1]
    adv = np.zeros(T)
    for t in range(T):
        w = 1.0
        for s in range(t, T):
            adv[t] += w * delta[s]
            if dones[s]:
                break
            w *= gamma * lam
    return adv


def _rollout(seed: int, T: int, p_done: float = 0.15):
    rng = np.random.default_rng(seed)
    rewards = rng.normal(size=T)
    values = rng.normal(size=T + 1)
    dones = (rng.random(T) < p_done).astype(np.float64)
    return rewards, values, dones


@pytest.mark.parametrize("T", [1, 7, 64])
@pytest.mark.parametrize("gamma,lam", [(0.99, 0.95), (0.9, 0.0), (1.0, 1.0), (0.0, 0.7)])
def test_gae_matches_cleanrl_and_closed_form(T, gamma, lam):
    rewards, values, dones = _rollout(T, T)
    if T > 1:
        dones[-1] = 1.0 if T == 7 else dones[-1]  # a done on the last step too
    adv, ret = compute_gae(torch.tensor(rewards), torch.tensor(values), torch.tensor(dones), gamma, lam)
    want_adv, want_ret = _cleanrl_gae(rewards, values, dones, gamma, lam)
    np.testing.assert_allclose(adv.numpy(), want_adv, atol=1e-12)
    np.testing.assert_allclose(ret.numpy(), want_ret, atol=1e-12)
    np.testing.assert_allclose(adv.numpy(), _closed_form_gae(rewards, values, dones, gamma, lam), atol=1e-10)


def test_gae_float32_and_bool_dones():
    rewards, values, dones = _rollout(3, 20)
    adv32, _ = compute_gae(torch.tensor(rewards, dtype=torch.float32), torch.tensor(values, dtype=torch.float32),
                           torch.tensor(dones, dtype=torch.bool))
    assert adv32.dtype == torch.float32
    np.testing.assert_allclose(adv32.numpy(), _cleanrl_gae(rewards, values, dones, 0.99, 0.95)[0], atol=1e-5)


def _ppo_piecewise(r: float, a: float, eps: float) -> float:
    """L^CLIP of one sample (PPO paper eq. 7), written out by cases."""
    if a >= 0:
        return min(r, 1 + eps) * a
    return max(r, 1 - eps) * a


@pytest.mark.parametrize("eps", [0.1, 0.2])
def test_ppo_clip_loss_matches_piecewise_formula_and_gradient(eps):
    g = torch.Generator().manual_seed(0)
    n = 400
    logp_old = -torch.rand(n, generator=g, dtype=torch.float64) * 3
    logp_new = (logp_old + torch.randn(n, generator=g, dtype=torch.float64) * 0.3).requires_grad_(True)
    adv = torch.randn(n, generator=g, dtype=torch.float64)
    loss = ppo_clip_loss(logp_new, logp_old, adv, eps)
    r = torch.exp(logp_new.detach() - logp_old)
    want = -sum(_ppo_piecewise(float(r[i]), float(adv[i]), eps) for i in range(n)) / n
    assert abs(float(loss.detach()) - want) < 1e-12
    loss.backward()
    clipped = ((adv >= 0) & (r > 1 + eps)) | ((adv < 0) & (r < 1 - eps))
    want_grad = torch.where(clipped, torch.zeros_like(r), -r * adv / n)  # d(r A)/d logp_new = r A
    torch.testing.assert_close(logp_new.grad, want_grad, atol=1e-15, rtol=1e-12)
    assert 50 < int(clipped.sum()) < 350  # both regimes exercised


@pytest.mark.parametrize("N,G", [(1, 2), (3, 4), (5, 16)])
def test_group_normalized_advantages_matches_numpy(N, G):
    rng = np.random.default_rng(N * G)
    rewards = rng.integers(0, 2, size=N * G).astype(np.float64) + rng.normal(size=N * G) * 0.1
    got = group_normalized_advantages(torch.tensor(rewards), G)
    r = rewards.reshape(N, G)
    want = (r - r.mean(1, keepdims=True)) / (r.std(1, ddof=1, keepdims=True) + 1e-6)
    np.testing.assert_allclose(got.numpy(), want.reshape(-1), atol=1e-12)


def test_group_normalized_advantages_constant_group_is_zero():
    got = group_normalized_advantages(torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0]), 4)
    assert torch.equal(got[:4], torch.zeros(4)) and torch.isfinite(got).all()


def test_kl_k3_matches_numpy_nonnegative_and_zero_at_equality():
    rng = np.random.default_rng(5)
    lp, lr = -rng.random(100) * 4, -rng.random(100) * 4
    d = lr - lp
    assert abs(float(kl_k3(torch.tensor(lp), torch.tensor(lr))) - float(np.mean(np.exp(d) - d - 1))) < 1e-12
    assert float(kl_k3(torch.tensor(lp), torch.tensor(lp))) == 0.0
    assert float(kl_k3(torch.tensor(lp), torch.tensor(lr))) >= 0


def test_kl_k3_is_an_unbiased_estimate_of_kl():
    g = torch.Generator().manual_seed(1)
    p = torch.softmax(torch.randn(10, generator=g, dtype=torch.float64), -1)
    q = torch.softmax(torch.randn(10, generator=g, dtype=torch.float64), -1)
    exact = float((p * (p.log() - q.log())).sum())  # KL(p || q)
    x = torch.multinomial(p, 200_000, replacement=True, generator=g)
    terms = torch.exp(q.log()[x] - p.log()[x]) - (q.log()[x] - p.log()[x]) - 1
    est = float(kl_k3(p.log()[x], q.log()[x]))
    assert abs(est - exact) < 6 * float(terms.std()) / math.sqrt(len(x))
