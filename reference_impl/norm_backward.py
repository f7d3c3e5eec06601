"""LayerNorm and RMSNorm backward passes written by hand, and LayerNorm as a torch.autograd.Function.

Per row x (D,) of an (N, D) input, with g = dy * weight and xhat the normalised row:

    LayerNorm   mean = sum(x) / D      rstd = 1 / sqrt(sum((x - mean)^2) / D + eps)
                xhat = (x - mean) * rstd                     y = xhat * weight + bias
                dx = rstd * (g - mean(g) - xhat * mean(g * xhat))
                dweight = sum_rows(dy * xhat)                 dbias = sum_rows(dy)

    RMSNorm     rstd = 1 / sqrt(sum(x^2) / D + eps)           xhat = x * rstd
                dx = rstd * (g - xhat * mean(g * xhat))       dweight = sum_rows(dy * xhat)

Both dx formulas are exact with eps included (eps only enters through rstd). The backward needs
x, weight and two numbers per row (mean, rstd): xhat is recomputed from them instead of being
stored, which is what fused kernels (Apex, Triton's layer-norm tutorial, PyTorch's native
kernel) save for backward. No autograd is used anywhere in the backward.

Sources: Ba et al. 2016 (LayerNorm), Zhang & Sennrich 2019 (RMSNorm), the Triton "Layer
Normalization" tutorial, PyTorch's native_layer_norm (which returns mean and rstd the same way).
Leaves out: inputs other than 2-D (N, D) in the functions (the Function flattens leading dims),
low-precision compute policies (this module computes in the input's dtype), fused kernels.
"""

from __future__ import annotations

import torch


def _check(x: torch.Tensor, weight: torch.Tensor) -> None:
    assert x.dim() == 2, f"x must be (N, D), got shape {tuple(x.shape)}"
    assert weight.shape == (x.shape[1],), f"weight must be ({x.shape[1]},), got {tuple(weight.shape)}"


def layer_norm_forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5):
    """y = (x - mean) * rstd * weight + bias per row; returns (y (N, D), mean (N,), rstd (N,))."""
    _check(x, weight)
    mean = x.mean(dim=1)  # (N,)
    xc = x - mean[:, None]  # (N, D) centred: two passes, so a large common offset does not cancel
    var = (xc * xc).mean(dim=1)  # (N,) biased variance (divide by D)
    rstd = torch.rsqrt(var + eps)  # (N,) eps inside the root
    y = xc * rstd[:, None] * weight + bias  # (N, D)
    return y, mean, rstd


def layer_norm_backward(dy: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, mean: torch.Tensor,
                        rstd: torch.Tensor):
    """Gradients of sum(y * dy) for y = layer_norm_forward(x, ...): (dx (N, D), dweight (D,), dbias (D,))."""
    _check(x, weight)
    assert dy.shape == x.shape and mean.shape == rstd.shape == (x.shape[0],)
    xhat = (x - mean[:, None]) * rstd[:, None]  # (N, D) recomputed, not stored
    g = dy * weight  # (N, D) gradient w.r.t. xhat
    c1 = g.mean(dim=1, keepdim=True)  # (N, 1) the mean's path: y moves with every x_j through mean
    c2 = (g * xhat).mean(dim=1, keepdim=True)  # (N, 1) the variance's path
    dx = (g - c1 - xhat * c2) * rstd[:, None]  # (N, D)
    dweight = (dy * xhat).sum(dim=0)  # (D,) summed over rows (tokens)
    dbias = dy.sum(dim=0)  # (D,)
    return dx, dweight, dbias


def rms_norm_backward(dy: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-5):
    """Gradients of sum(y * dy) for y = x / sqrt(mean(x^2) + eps) * weight: (dx (N, D), dweight (D,))."""
    _check(x, weight)
    assert dy.shape == x.shape
    rstd = torch.rsqrt((x * x).mean(dim=1, keepdim=True) + eps)  # (N, 1) one row statistic, recomputed
    xhat = x * rstd  # (N, D)
    g = dy * weight  # (N, D)
    dx = (g - xhat * (g * xhat).mean(dim=1, keepdim=True)) * rstd  # (N, D) no mean term: no centring
    dweight = (dy * xhat).sum(dim=0)  # (D,)
    return dx, dweight


class LayerNormFunction(torch.autograd.Function):
    """LayerNormFunction.apply(x (..., D), weight (D,), bias (D,), eps=1e-5) -> y (..., D).

    Saves x, weight, mean and rstd for backward: x and weight are tensors the caller holds anyway,
    mean and rstd cost 2 numbers per row; no (N, D) intermediate is kept.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
        shape = x.shape
        x2 = x.reshape(-1, shape[-1])  # (N, D) leading dims flattened
        y, mean, rstd = layer_norm_forward(x2, weight, bias, eps)
        ctx.save_for_backward(x2, weight, mean, rstd)
        return y.reshape(shape)

    @staticmethod
    def backward(ctx, dy: torch.Tensor):
        x2, weight, mean, rstd = ctx.saved_tensors
        dx, dweight, dbias = layer_norm_backward(dy.reshape(x2.shape), x2, weight, mean, rstd)
        return dx.reshape(dy.shape), dweight, dbias, None  # no gradient for eps
