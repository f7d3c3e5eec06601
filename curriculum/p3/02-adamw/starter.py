"""Unit `adamw`: the AdamW optimizer, written on top of torch.optim.Optimizer (PyTorch).

Banned here: torch.optim.AdamW, torch.optim.Adam (and their functional forms) and every
torch._foreach_* / torch._fused_adam* kernel. Plain tensor ops (mul_, lerp_, addcmul_, addcdiv_,
sqrt) are what the update is made of.
"""

import torch


class AdamW(torch.optim.Optimizer):
    """Adam with decoupled weight decay (Loshchilov & Hutter), matching torch.optim.AdamW.

    AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
      params: an iterable of tensors, or of param-group dicts {"params": [...], "lr": ..., ...};
        a group's missing hyperparameters come from the constructor's values. Put them in a
        defaults dict and call super().__init__(params, defaults): the base class then builds
        self.param_groups (a list of dicts) and self.state (a dict per parameter).

    step(): for every parameter p with p.grad not None, in each group, with that group's lr,
      betas = (beta1, beta2), eps, weight_decay, and t = this parameter's own step count (1 first):
        p <- p * (1 - lr * weight_decay)              decoupled weight decay, on p before this step
        m <- beta1 * m + (1 - beta1) * g              state["exp_avg"]    (zeros at first)
        v <- beta2 * v + (1 - beta2) * g * g          state["exp_avg_sq"] (zeros at first)
        p <- p - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
      state["step"] holds t. Parameters whose grad is None are skipped (no decay, no state change).
      Update p in place under torch.no_grad(); never modify p.grad. Return None (or closure()'s loss).
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.01) -> None:
        raise NotImplementedError

    @torch.no_grad()
    def step(self, closure=None):
        raise NotImplementedError
