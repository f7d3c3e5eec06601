"""LayerNorm and RMSNorm, the two normalisations of the transformer block (PyTorch).

LayerNorm (Ba, Kiros, Hinton 2016) centres and scales each feature vector over its last
dimension, then applies a learned per-feature gain and bias:

    y = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias      var biased (divide by d)

RMSNorm (Zhang & Sennrich 2019), used by Llama and by the GPT of this course, drops the centring
and the bias; it only rescales by the root mean square:

    y = x / sqrt(mean(x^2) + eps) * weight

Numerics: both compute in at least float32 and return the input's dtype. In bf16/fp16 the sum of
squares loses precision (bf16 keeps 8 significant bits) and in fp16 x^2 overflows once |x| > 255
(fp16 max is 65504), so the input is upcast first; the weight multiply happens in float32 too and
the result is rounded to the input dtype exactly once.

Sources: Ba et al. 2016, "Layer Normalization"; Zhang & Sennrich 2019, "Root Mean Square Layer
Normalization"; PyTorch's nn.LayerNorm / nn.RMSNorm semantics; Llama's RMSNorm.
Leaves out: elementwise_affine=False, normalising over several trailing dims, fused kernels, the
hand-written backward pass (unit `norm-backward` in Phase 3).
"""

from __future__ import annotations

import torch
import torch.nn as nn


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """At least float32: bf16/fp16 -> float32, float32 -> float32, float64 -> float64."""
    return torch.promote_types(dtype, torch.float32)


class LayerNorm(nn.Module):
    """y = (x - mean) / sqrt(biased var + eps) * weight + bias over the last dim (size d_model)."""

    def __init__(self, d_model: int, eps: float = 1e-5) -> None:
        super().__init__()
        assert d_model > 0, f"d_model must be positive, got {d_model}"
        self.d_model = d_model
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))  # (d,) gain
        self.bias = nn.Parameter(torch.zeros(d_model))  # (d,) shift

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-1] == self.d_model, f"last dim of x is {x.shape[-1]}, expected d_model={self.d_model}"
        in_dtype = x.dtype
        ct = _compute_dtype(in_dtype)
        xf = x.to(ct)  # (..., d)
        mean = xf.mean(dim=-1, keepdim=True)  # (..., 1)
        xc = xf - mean  # (..., d) centred
        var = (xc * xc).mean(dim=-1, keepdim=True)  # (..., 1) biased: divide by d, not d - 1
        rstd = torch.rsqrt(var + self.eps)  # (..., 1) eps inside the square root
        y = xc * rstd * self.weight.to(ct) + self.bias.to(ct)  # (..., d)
        return y.to(in_dtype)

    def extra_repr(self) -> str:
        return f"{self.d_model}, eps={self.eps}"


class RMSNorm(nn.Module):
    """y = x / sqrt(mean(x^2) + eps) * weight over the last dim, in >= float32, returned in x's dtype."""

    def __init__(self, d_model: int, eps: float = 1e-5) -> None:
        super().__init__()
        assert d_model > 0, f"d_model must be positive, got {d_model}"
        self.d_model = d_model
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))  # (d,) gain; no bias, no centring

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-1] == self.d_model, f"last dim of x is {x.shape[-1]}, expected d_model={self.d_model}"
        in_dtype = x.dtype
        ct = _compute_dtype(in_dtype)
        xf = x.to(ct)  # (..., d) upcast BEFORE squaring: fp16 x^2 overflows for |x| > 255
        ms = (xf * xf).mean(dim=-1, keepdim=True)  # (..., 1) mean square
        y = xf * torch.rsqrt(ms + self.eps) * self.weight.to(ct)  # (..., d) weight in float32 too
        return y.to(in_dtype)  # one rounding to the input dtype, at the very end

    def extra_repr(self) -> str:
        return f"{self.d_model}, eps={self.eps}"
