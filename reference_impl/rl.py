"""The pieces of PPO and GRPO for language models: GAE, the clipped surrogate, group-normalised
advantages and the k3 KL estimator.

compute_gae: generalised advantage estimation over one rollout of T steps,

    delta_t = r_t + gamma * V_{t+1} * (1 - done_t) - V_t
    A_t     = delta_t + gamma * lam * (1 - done_t) * A_{t+1},     A_T = 0,    returns = A + V[:T]

where done_t = 1 means the episode ended at step t: the value after it is not bootstrapped AND
the recursion does not carry advantages across the boundary. lam interpolates between the
one-step TD error (lam = 0: low variance, biased by V) and the Monte Carlo return minus V
(lam = 1: unbiased, high variance).

ppo_clip_loss: the negated clipped surrogate of PPO, -mean(min(r A, clip(r, 1 - eps, 1 + eps) A))
with r = pi_new / pi_old = exp(logp_new - logp_old). The min makes it a pessimistic bound: the
objective stops rewarding a move once r leaves [1 - eps, 1 + eps] in the advantage's favour, so
those samples get zero gradient, while moves in the unfavourable direction stay fully penalised.

group_normalized_advantages: GRPO's replacement for the value network. G completions are sampled
per prompt; each reward is standardised within its group (mean, unbiased std + eps), so the
baseline is the group's own mean reward. Rewards are laid out prompt-major: group i is
rewards[i * G:(i + 1) * G] (as TRL's GRPOTrainer views them with .view(-1, G)).

kl_k3: Schulman's k3 estimator of KL(pi || pi_ref) from samples of pi: with
log_ratio = logp_ref - logp, k3 = exp(log_ratio) - log_ratio - 1 >= 0 per sample, unbiased
because E_pi[pi_ref / pi] = 1, and of lower variance than the naive -log_ratio (k1).

Sources: Schulman et al. 2015 (GAE), 2017 (PPO); CleanRL's ppo.py; Shao et al. 2024
(DeepSeekMath, GRPO); Schulman 2020, "Approximating KL Divergence" (k1, k2, k3).
Leaves out: rollouts and the value loss, value clipping, entropy bonus, batched (N, T) GAE,
token-level masking of padded completions, dual-clip PPO, Dr. GRPO's unscaled variant.
"""

from __future__ import annotations

import torch


def compute_gae(rewards: torch.Tensor, values: torch.Tensor, dones: torch.Tensor,
                gamma: float = 0.99, lam: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages and returns of one rollout.

    rewards (T,), values (T + 1,) (values[T] is the value of the state after the last step),
    dones (T,) with 1 where the episode ended at that step (0/1 floats or bools).
    Returns (advantages (T,), returns (T,)) with returns = advantages + values[:T].
    """
    T = rewards.shape[0]
    assert rewards.dim() == 1 and values.shape == (T + 1,) and dones.shape == (T,), \
        f"rewards (T,), values (T + 1,), dones (T,) expected, got {tuple(rewards.shape)}, {tuple(values.shape)}, {tuple(dones.shape)}"
    not_done = 1.0 - dones.to(rewards.dtype)  # (T,) 0 where the episode ended at step t
    advantages = torch.zeros_like(rewards)  # (T,)
    next_adv = torch.zeros((), dtype=rewards.dtype)  # A_T = 0
    for t in reversed(range(T)):  # the recursion runs backwards in time
        delta = rewards[t] + gamma * values[t + 1] * not_done[t] - values[t]  # TD error, no bootstrap past a done
        next_adv = delta + gamma * lam * not_done[t] * next_adv  # and no credit carried across it
        advantages[t] = next_adv
    return advantages, advantages + values[:T]


def ppo_clip_loss(logp_new: torch.Tensor, logp_old: torch.Tensor, advantages: torch.Tensor,
                  clip_eps: float = 0.2) -> torch.Tensor:
    """-mean(min(r * A, clip(r, 1 - clip_eps, 1 + clip_eps) * A)), r = exp(logp_new - logp_old).

    All inputs the same shape (any, e.g. (N,) samples or (B, T) tokens); logp_old and the
    advantages are constants from the rollout. Returns a 0-d tensor, differentiable w.r.t. logp_new.
    """
    assert logp_new.shape == logp_old.shape == advantages.shape, "logp_new, logp_old and advantages must have one shape"
    ratio = torch.exp(logp_new - logp_old)  # pi_new / pi_old, computed from log-probs
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantages
    return -torch.min(unclipped, clipped).mean()  # pessimistic bound, negated for descent


def group_normalized_advantages(rewards: torch.Tensor, group_size: int, eps: float = 1e-6) -> torch.Tensor:
    """GRPO advantages: each reward standardised within its group of group_size completions.

    rewards: (N * G,), group i = rewards[i * G:(i + 1) * G]. Returns (N * G,):
    (r - group mean) / (group std + eps), the std unbiased (divides by G - 1). G >= 2.
    """
    assert rewards.dim() == 1 and group_size >= 2 and rewards.numel() % group_size == 0, \
        f"rewards (N * G,) with G = group_size >= 2 expected, got shape {tuple(rewards.shape)} and G = {group_size}"
    r = rewards.view(-1, group_size)  # (N, G): one row per prompt
    mean = r.mean(dim=-1, keepdim=True)  # (N, 1)
    std = r.std(dim=-1, keepdim=True)  # (N, 1), unbiased: sum of squares / (G - 1)
    return ((r - mean) / (std + eps)).reshape(-1)  # (N * G,); an all-equal group gives zeros


def kl_k3(logp: torch.Tensor, logp_ref: torch.Tensor) -> torch.Tensor:
    """Mean k3 estimate of KL(pi || pi_ref) from log-probs of samples drawn from pi.

    logp, logp_ref: same shape (log pi and log pi_ref of the sampled tokens). Returns a 0-d
    tensor: mean(exp(logp_ref - logp) - (logp_ref - logp) - 1), every term >= 0.
    """
    assert logp.shape == logp_ref.shape, "logp and logp_ref must have one shape"
    log_ratio = logp_ref - logp  # log(pi_ref / pi) per sample
    return (torch.exp(log_ratio) - log_ratio - 1.0).mean()
