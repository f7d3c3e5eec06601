"""Unit `norm-backward`: LayerNorm and RMSNorm backward passes by hand, and LayerNorm as an autograd.Function.

No autograd inside the backward: torch.autograd.grad, torch.autograd.backward and Tensor.backward
are refused by the check. Every function takes x of shape (N, D): one row per token.
"""

import torch


def layer_norm_forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5):
    """LayerNorm over the last dim of x (N, D); weight and bias (D,).

    Returns (y (N, D), mean (N,), rstd (N,)):
        mean = x.mean over D, var = biased variance of x - mean (divide by D),
        rstd = 1 / sqrt(var + eps), y = (x - mean) * rstd * weight + bias.
    """
    raise NotImplementedError


def layer_norm_backward(dy: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, mean: torch.Tensor,
                        rstd: torch.Tensor):
    """Gradients of L given dy = dL/dy (N, D) for y = layer_norm_forward(x, weight, bias, eps).

    mean and rstd (N,) are the ones layer_norm_forward returned (they carry eps).
    Returns (dx (N, D), dweight (D,), dbias (D,)). Does not modify its arguments.
    """
    raise NotImplementedError


def rms_norm_backward(dy: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-5):
    """Gradients for y = x / sqrt(mean(x^2) + eps) * weight (mean over D), given dy (N, D).

    Returns (dx (N, D), dweight (D,)). Does not modify its arguments.
    """
    raise NotImplementedError


class LayerNormFunction(torch.autograd.Function):
    """y = LayerNormFunction.apply(x (N, D), weight (D,), bias (D,), eps=1e-5).

    forward computes y with layer_norm_forward and saves what backward needs (ctx.save_for_backward);
    backward(ctx, dy) returns one gradient per forward input: (dx, dweight, dbias, None for eps),
    computed with layer_norm_backward.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, eps=1e-5):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, dy):
        raise NotImplementedError
