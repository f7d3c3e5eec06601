"""The position-wise feed-forward network of a Llama-style block: SiLU and SwiGLU (PyTorch).

    silu(x)   = x * sigmoid(x)                                   (a.k.a. swish-1)
    SwiGLU(x) = W2 ( silu(W1 x) * (W3 x) )                       W1, W3: d_model -> d_ff, W2: d_ff -> d_model

W1 x is the gate (through SiLU), W3 x the value it multiplies elementwise, W2 projects back. With
three matrices instead of the classic two, d_ff is usually ~8/3 d_model (rounded to a multiple of
64) so the parameter count matches a 4 d_model ReLU/GELU MLP: 3 * d * (8/3) d = 8 d^2.

Numerics: torch.sigmoid is stable for any input (never exp of a large positive number) and its
autograd derivative is s (1 - s), so x * sigmoid(x) is finite with a finite gradient even at
|x| ~ 1e4. The tempting x / (1 + exp(-x)) gives the right value there but a NaN gradient
(inf / inf in the backward of the division).

Gradient flow, with h = silu(a) * b, a = W1 x, b = W3 x: dL/db = dL/dh * silu(a) and
dL/da = dL/dh * b * s(a) (1 + a (1 - s(a))), s = sigmoid. Each branch's gradient is scaled by the
other branch: the multiplicative gate is what makes a GLU more expressive than a plain MLP.

Sources: Shazeer 2020, "GLU Variants Improve Transformer"; Elfwing et al. 2017 (SiLU);
Touvron et al. 2023, "LLaMA" (SwiGLU with d_ff = 2/3 * 4d); Stanford CS336 assignment 1.
Leaves out: biases (Llama has none), dropout, fused gate/value projections (one (2 d_ff, d)
matmul instead of two), the choice of d_ff (the caller passes it).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from reference_impl.layers import Linear


def silu(x: torch.Tensor) -> torch.Tensor:
    """x * sigmoid(x), elementwise, any shape and floating dtype; stable value and gradient for |x| ~ 1e4."""
    return x * torch.sigmoid(x)


class SwiGLU(nn.Module):
    """w2(silu(w1 x) * w3 x). w1.weight, w3.weight: (d_ff, d_model); w2.weight: (d_model, d_ff). No biases.

    Cost per token: 3 * d_model * d_ff parameters, 6 * d_model * d_ff forward FLOPs (three matmuls),
    and a (..., d_ff) gate and value that autograd keeps for the backward pass: the FFN's activations,
    not its weights, dominate its training memory at long context.
    """

    def __init__(self, d_model: int, d_ff: int) -> None:
        super().__init__()
        assert d_model > 0 and d_ff > 0, f"bad sizes d_model={d_model}, d_ff={d_ff}"
        self.d_model, self.d_ff = d_model, d_ff
        self.w1 = Linear(d_model, d_ff)  # gate projection, weight (d_ff, d_model)
        self.w2 = Linear(d_ff, d_model)  # down projection, weight (d_model, d_ff)
        self.w3 = Linear(d_model, d_ff)  # value ("up") projection, weight (d_ff, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-1] == self.d_model, f"last dim of x is {x.shape[-1]}, expected d_model={self.d_model}"
        gate = silu(self.w1(x))  # (..., d_ff)
        value = self.w3(x)  # (..., d_ff)
        return self.w2(gate * value)  # (..., d_ff) -> (..., d_model)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, d_ff={self.d_ff}"
