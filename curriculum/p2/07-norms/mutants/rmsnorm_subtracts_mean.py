"""Mutant: RMSNorm centres x first (it is LayerNorm without the bias, not RMSNorm)."""

import torch
import torch.nn as nn



class LayerNorm(nn.Module):
    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, x):
        mean = x.mean(dim=-1, keepdim=True)
        var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias


class RMSNorm(nn.Module):
    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x):
        in_dtype = x.dtype
        xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        xf = xf - xf.mean(dim=-1, keepdim=True)
        rms = torch.sqrt((xf * xf).mean(dim=-1, keepdim=True) + self.eps)
        return (xf / rms * self.weight.to(xf.dtype)).to(in_dtype)
