"""Unit `attention`: a stable softmax and scaled dot-product attention (PyTorch).

Banned here: torch.softmax, torch.nn.functional.softmax, torch.special.softmax, Tensor.softmax and
torch.nn.functional.scaled_dot_product_attention. Everything else in torch is fine.
"""

import math

import torch


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """exp(x) / sum(exp(x)) along `dim`; same shape and dtype as x.

    Must stay finite and exact for entries up to 1e4 in magnitude (exp(1e4) overflows), and must
    not modify x in place.
    """
    raise NotImplementedError


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v, with an optional boolean mask.

    q: (..., Tq, d)    k: (..., Tk, d)    v: (..., Tk, dv)
    mask: (..., Tq, Tk) bool, or None. mask[..., i, j] True means query i MAY attend to key j.
          It broadcasts against the scores: (Tq, Tk), (B, 1, Tq, Tk), (B, 1, 1, Tk) all work.
    Returns (..., Tq, dv), in the inputs' dtype. Tq != Tk and dv != d are allowed.
    """
    raise NotImplementedError
