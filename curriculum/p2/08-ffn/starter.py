"""Unit `ffn`: SiLU and the SwiGLU feed-forward network (PyTorch)."""

import torch
import torch.nn as nn

from myllm.layers import Linear


def silu(x: torch.Tensor) -> torch.Tensor:
    """x * sigmoid(x), elementwise; any shape, returns x's shape and dtype.

    Value and gradient must stay finite for |x| up to 1e4.
    """
    raise NotImplementedError


class SwiGLU(nn.Module):
    """The feed-forward network of a Llama-style block.

    Submodules (your Linear from myllm.layers, no bias):
      w1: d_model -> d_ff   (weight (d_ff, d_model))   the gate
      w3: d_model -> d_ff   (weight (d_ff, d_model))   the value
      w2: d_ff -> d_model   (weight (d_model, d_ff))   the down projection
    forward(x (..., d_model)) -> (..., d_model) = w2(silu(w1(x)) * w3(x)).
    """

    def __init__(self, d_model: int, d_ff: int):
        super().__init__()
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError
