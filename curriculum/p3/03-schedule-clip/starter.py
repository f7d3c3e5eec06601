"""Unit `schedule-clip`: the cosine learning-rate schedule with warmup, and global gradient-norm clipping.

Added to myllm/optim.py, next to your AdamW. Banned here: torch.nn.utils.clip_grad_norm_ and the other
ready-made clipping/norm helpers of torch.nn.utils (clip_grad_norm, clip_grads_with_norm_, get_total_norm).
"""

import math
from collections.abc import Iterable

import torch


def cosine_lr(t: int, lr_max: float, lr_min: float, warmup_iters: int, cosine_cycle_iters: int) -> float:
    """The learning rate at iteration t (0-based), as a float.

      t < warmup_iters:                        t / warmup_iters * lr_max            (linear warmup from 0)
      warmup_iters <= t <= cosine_cycle_iters: lr_min + 0.5 * (1 + cos(pi * (t - warmup_iters)
                                               / (cosine_cycle_iters - warmup_iters))) * (lr_max - lr_min)
      t > cosine_cycle_iters:                  lr_min
    """
    raise NotImplementedError


def clip_grad_norm(parameters: Iterable[torch.Tensor], max_norm: float, eps: float = 1e-6) -> float:
    """Clip the gradients of `parameters` in place by their global L2 norm; return that norm (before clipping).

    parameters: any iterable of tensors, possibly a one-shot generator such as model.parameters().
      Parameters whose .grad is None are skipped.
    The norm is over all gradients together: sqrt(sum over params of sum(grad ** 2)). If it is above
    max_norm, every gradient is multiplied by max_norm / (norm + eps); otherwise nothing changes.
    Returns the norm as a float (a 0-d tensor is accepted too).
    """
    raise NotImplementedError
