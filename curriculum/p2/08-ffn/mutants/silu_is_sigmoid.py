"""Mutant: silu returns sigmoid(x) only: the factor x is forgotten."""

import torch
import torch.nn as nn

from myllm.layers import Linear


def silu(x):
    return torch.sigmoid(x)


class SwiGLU(nn.Module):
    def __init__(self, d_model: int, d_ff: int):
        super().__init__()
        self.w1 = Linear(d_model, d_ff)
        self.w2 = Linear(d_ff, d_model)
        self.w3 = Linear(d_model, d_ff)

    def forward(self, x):
        return self.w2(silu(self.w1(x)) * self.w3(x))
