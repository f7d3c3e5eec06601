"""Mutant: naive attention behind the tiled signature: the whole (B, H, T, T) score matrix at once.

Values are right (max-subtracted softmax, lse = max + log(sum)); the memory is O(T^2), so only the
long-sequence memory check can reject it.
"""

import math

import torch


def flash_attention_forward(q, k, v, is_causal=False, block_q=64, block_k=64):
    T = q.shape[-2]
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, H, T, T)
    if is_causal:
        s = s.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
    m = s.amax(dim=-1, keepdim=True)
    e = torch.exp(s - m)
    l = e.sum(dim=-1, keepdim=True)
    return e @ v / l, (m + torch.log(l)).squeeze(-1)
