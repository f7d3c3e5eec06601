"""Mutant: a @triton.jit kernel is defined but never launched; the output comes from PyTorch ops.

The values are right (exp and @ by hand, no banned API), so only the launch check rejects it.
"""

import math

import torch
import triton
import triton.language as tl


@triton.jit
def _unused_kernel(X, N: tl.constexpr):
    offs = tl.arange(0, N)
    tl.store(X + offs, tl.load(X + offs))


def flash_attention_triton(q, k, v, is_causal=False):
    T, d = q.shape[-2], q.shape[-1]
    s = (q @ k.transpose(-2, -1)) / math.sqrt(d)  # (B, H, T, T): exactly what the unit avoids
    if is_causal:
        s = s.masked_fill(~torch.ones(T, T, dtype=torch.bool, device=q.device).tril(), float("-inf"))
    e = torch.exp(s - s.amax(dim=-1, keepdim=True))
    return (e / e.sum(dim=-1, keepdim=True)) @ v
