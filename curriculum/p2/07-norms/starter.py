"""Unit `norms`: LayerNorm and RMSNorm as nn.Modules (PyTorch)."""

import torch
import torch.nn as nn


class LayerNorm(nn.Module):
    """Layer normalisation over the last dimension.

    Parameters: `weight` (d_model,) initialised to ones, `bias` (d_model,) initialised to zeros,
    both nn.Parameter. forward(x (..., d_model)) -> (..., d_model):

        y = (x - mean) / sqrt(var + eps) * weight + bias

    mean and var over the last dim only; var is the BIASED variance (divide by d_model).
    """

    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class RMSNorm(nn.Module):
    """Root-mean-square normalisation over the last dimension (no centring, no bias).

    Parameter: `weight` (d_model,) initialised to ones, an nn.Parameter.
    forward(x (..., d_model)) -> (..., d_model) in x's dtype:

        y = x / sqrt(mean(x^2) + eps) * weight

    Computed in at least float32 (the weight multiply included), then cast back to x.dtype once.
    """

    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError
