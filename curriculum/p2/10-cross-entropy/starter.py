"""Unit `cross-entropy`: the next-token loss (PyTorch)."""

import torch


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """Mean cross-entropy of integer targets under softmax(logits).

    logits: (..., V) float, e.g. (B, T, V) or (N, V); targets: (...) long, e.g. (B, T) or (N,),
    each in [0, V) or equal to ignore_index.
    Returns a 0-d tensor: the mean of -log softmax(logits)[..., target] over the positions whose
    target != ignore_index (ignored positions count neither in the sum nor in the divisor).
    Stable for logits up to 1e4 in magnitude; differentiable with autograd.
    """
    raise NotImplementedError
