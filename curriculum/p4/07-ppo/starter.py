"""Unit `ppo`: GAE, PPO's clipped loss, GRPO's group-normalised advantages and the k3 KL estimate (PyTorch)."""

import torch


def compute_gae(rewards: torch.Tensor, values: torch.Tensor, dones: torch.Tensor,
                gamma: float = 0.99, lam: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over one rollout.

    rewards (T,), values (T + 1,) (values[T]: the value of the state after the last step),
    dones (T,) with 1.0 where the episode ended at step t. Returns (advantages (T,), returns (T,)):
        delta_t = r_t + gamma * V_{t+1} * (1 - done_t) - V_t
        A_t     = delta_t + gamma * lam * (1 - done_t) * A_{t+1},   A_T = 0
        returns = advantages + values[:T]
    The inputs are not modified.
    """
    raise NotImplementedError


def ppo_clip_loss(logp_new: torch.Tensor, logp_old: torch.Tensor, advantages: torch.Tensor,
                  clip_eps: float = 0.2) -> torch.Tensor:
    """PPO's clipped surrogate loss, a 0-d tensor to minimise.

    All inputs have the same shape (one entry per sampled action/token):
        r = exp(logp_new - logp_old)
        loss = -mean(min(r * A, clip(r, 1 - clip_eps, 1 + clip_eps) * A))
    Differentiable w.r.t. logp_new.
    """
    raise NotImplementedError


def group_normalized_advantages(rewards: torch.Tensor, group_size: int, eps: float = 1e-6) -> torch.Tensor:
    """GRPO advantages. rewards (N * G,): group i (the G completions of prompt i) is
    rewards[i * G:(i + 1) * G]. Returns (N * G,): (r - group mean) / (group std + eps), with the
    unbiased std (divide by G - 1)."""
    raise NotImplementedError


def kl_k3(logp: torch.Tensor, logp_ref: torch.Tensor) -> torch.Tensor:
    """The k3 estimate of KL(pi || pi_ref) from log-probs of samples drawn from pi, a 0-d tensor:
    mean(exp(logp_ref - logp) - (logp_ref - logp) - 1). Differentiable w.r.t. logp."""
    raise NotImplementedError
