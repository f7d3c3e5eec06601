"""Mutant: the heads are merged with out.reshape(B, T, D) straight from (B, H, T, d_head), without transposing back."""

import math

import torch
from torch import nn

from myllm.layers import Linear
from myllm.positional import RotaryEmbedding


def softmax(x, dim=-1):
    e = torch.exp(x - x.amax(dim=dim, keepdim=True))
    return e / e.sum(dim=dim, keepdim=True)


def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return softmax(scores, dim=-1) @ v


class MultiHeadSelfAttention(nn.Module):
    def __init__(self, d_model, n_heads, max_seq_len=2048, rope_theta=10000.0):
        super().__init__()
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        self.q_proj = Linear(d_model, d_model)
        self.k_proj = Linear(d_model, d_model)
        self.v_proj = Linear(d_model, d_model)
        self.output_proj = Linear(d_model, d_model)
        self.rope = None if rope_theta is None else RotaryEmbedding(self.d_head, max_seq_len, theta=rope_theta)

    def forward(self, x, positions=None):
        B, T, D = x.shape
        q = self.q_proj(x).view(B, T, self.n_heads, self.d_head).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.n_heads, self.d_head).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.n_heads, self.d_head).transpose(1, 2)
        if self.rope is not None:
            if positions is None:
                positions = torch.arange(T, device=x.device)
            if positions.ndim == 2:
                positions = positions.unsqueeze(1)
            q = self.rope(q, positions)
            k = self.rope(k, positions)
        mask = torch.tril(torch.ones(T, T, dtype=torch.bool, device=x.device))
        out = scaled_dot_product_attention(q, k, v, mask)
        out = out.reshape(B, T, D)
        return self.output_proj(out)
