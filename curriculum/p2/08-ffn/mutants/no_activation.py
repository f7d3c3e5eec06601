"""Mutant: silu forgotten: w2(w1(x) * w3(x)) is a bilinear layer, not SwiGLU."""

import torch
import torch.nn as nn

from myllm.layers import Linear


def silu(x):
    return x * torch.sigmoid(x)


class SwiGLU(nn.Module):
    def __init__(self, d_model: int, d_ff: int):
        super().__init__()
        self.w1 = Linear(d_model, d_ff)
        self.w2 = Linear(d_ff, d_model)
        self.w3 = Linear(d_model, d_ff)

    def forward(self, x):
        return self.w2(self.w1(x) * self.w3(x))
