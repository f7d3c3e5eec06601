"""AdamW, the cosine learning-rate schedule with warmup, and global gradient-norm clipping (PyTorch).

AdamW (Loshchilov & Hutter 2019) is Adam (Kingma & Ba 2015) with the weight decay taken out of the
gradient and applied to the parameters directly ("decoupled"). For each parameter p with gradient
g, at step t = 1, 2, ... (PyTorch's formulation, which this module reproduces):

    p   <- p * (1 - lr * weight_decay)                 decoupled decay, on p_{t-1}
    m   <- beta1 * m + (1 - beta1) * g                 first moment  (exp_avg)
    v   <- beta2 * v + (1 - beta2) * g^2               second moment (exp_avg_sq)
    m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)          bias correction
    p   <- p - lr * m_hat / (sqrt(v_hat) + eps)        eps added after the square root

The paper's equivalent "alpha_t" form folds both corrections into the step size,
alpha_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t), and adds eps to sqrt(v); it differs from the above
only in where eps sits (a factor sqrt(1 - beta2^t) on eps), which is why checks compare
trajectories to 1e-4 relative rather than bit for bit.

cosine_lr is the schedule of SGDR (Loshchilov & Hutter 2017) without restarts, preceded by a linear
warmup; clip_grad_norm rescales all gradients together when their global L2 norm exceeds max_norm
(Pascanu, Mikolov, Bengio 2013), as torch.nn.utils.clip_grad_norm_ does.

Sources: the two papers above; torch.optim.AdamW (_single_tensor_adamw); torch.nn.utils.clip_grad_norm_.
Leaves out: amsgrad, maximize, capturable/fused/foreach kernels, sparse gradients, closures that
need grad enabled beyond calling them, restarts of the cosine schedule, norm types other than L2.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


class AdamW(torch.optim.Optimizer):
    """AdamW with decoupled weight decay and bias correction; state per parameter: step, exp_avg, exp_avg_sq."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.01) -> None:
        assert lr >= 0.0, f"lr must be >= 0, got {lr}"
        assert 0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0, f"betas must be in [0, 1), got {betas}"
        assert eps >= 0.0 and weight_decay >= 0.0, f"eps and weight_decay must be >= 0, got {eps}, {weight_decay}"
        # The base class turns params (tensors, or dicts of param groups) into self.param_groups, each group a
        # dict holding its params and every key of `defaults` it does not set itself; self.state is a
        # defaultdict(dict) keyed by parameter, which state_dict() / load_state_dict() save and restore.
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure() if one is given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            # read the hyperparameters from the group every step: a schedule changes group["lr"] between steps
            lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue  # frozen or unused this step: no decay, no state update, step count unchanged
                g = p.grad  # same shape as p; read only, never modified
                assert not g.is_sparse, "AdamW does not support sparse gradients"
                state = self.state[p]
                if not state:  # lazily, on the first step with a gradient
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                m, v = state["exp_avg"], state["exp_avg_sq"]  # same shape and dtype as p
                state["step"] += 1
                t = state["step"]  # this parameter's own count: 1 on its first update

                p.mul_(1.0 - lr * wd)  # decoupled: shrink p_{t-1}, independent of the gradient
                m.lerp_(g, 1.0 - beta1)  # m + (1 - beta1) (g - m) = beta1 m + (1 - beta1) g
                v.mul_(beta2).addcmul_(g, g, value=1.0 - beta2)  # beta2 v + (1 - beta2) g^2

                bias_correction1 = 1.0 - beta1 ** t  # Python floats (double precision)
                bias_correction2 = 1.0 - beta2 ** t
                step_size = lr / bias_correction1
                denom = (v.sqrt() / math.sqrt(bias_correction2)).add_(eps)  # sqrt(v_hat) + eps
                p.addcdiv_(m, denom, value=-step_size)  # p - lr * m_hat / (sqrt(v_hat) + eps)
        return loss


def cosine_lr(t: int, lr_max: float, lr_min: float, warmup_iters: int, cosine_cycle_iters: int) -> float:
    """Learning rate at iteration t: linear warmup from 0, cosine decay to lr_min, then constant lr_min."""
    if t < warmup_iters:
        return t / warmup_iters * lr_max
    if t <= cosine_cycle_iters:
        assert cosine_cycle_iters > warmup_iters, (
            f"cosine_cycle_iters ({cosine_cycle_iters}) must exceed warmup_iters ({warmup_iters})")
        progress = (t - warmup_iters) / (cosine_cycle_iters - warmup_iters)  # 0 at the end of warmup, 1 at the cycle's end
        return lr_min + 0.5 * (1.0 + math.cos(math.pi * progress)) * (lr_max - lr_min)
    return lr_min


def clip_grad_norm(parameters: Iterable[torch.Tensor], max_norm: float, eps: float = 1e-6) -> float:
    """Scale all gradients in place so their global L2 norm is at most max_norm; returns the norm before clipping.

    The norm is over every gradient at once, sqrt(sum over params of sum(g^2)), not per tensor, so the
    direction of the full update is kept. Parameters whose grad is None are skipped. `parameters` may
    be a one-shot iterator (model.parameters() is a generator): it is read once, into a list.
    """
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]  # the only pass over `parameters`
    if not grads:
        return 0.0
    # per-tensor norms in float32 (or better), then the norm of those norms: the same value as one norm of
    # the concatenation, without materialising it
    norms = torch.stack([torch.linalg.vector_norm(g.detach(), dtype=torch.promote_types(g.dtype, torch.float32))
                         for g in grads])  # (n_tensors,)
    total = float(torch.linalg.vector_norm(norms))
    if total > max_norm:
        scale = max_norm / (total + eps)
        for g in grads:
            g.detach().mul_(scale)  # in place: p.grad keeps its identity for the optimizer
    return total
