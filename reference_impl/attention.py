"""Scaled dot-product attention and causal multi-head self-attention with RoPE (PyTorch).

Implements
- `softmax(x, dim)`: the max-subtracted softmax, exact for entries up to float max in magnitude.
- `scaled_dot_product_attention(q, k, v, mask)`: softmax(q k^T / sqrt(d)) v with a boolean mask
  (True = may attend) that broadcasts over the leading dimensions.
- `MultiHeadSelfAttention`: the Llama-style attention sublayer: bias-free q/k/v/output
  projections, heads split from the projection's last dim as (B, T, H, d_head), RoPE on q and k
  (never v), a causal mask, heads merged back and projected.

Sources: Vaswani et al. 2017 (Attention Is All You Need, sec. 3.2); Su et al. 2021 (RoFormer,
rotary position embedding); Karpathy's nanoGPT `CausalSelfAttention`; Stanford CS336 assignment 1.
With a `KVCache` (unit kv-cache) the layer computes k and v for the new tokens only, appends
them to the cache and attends over every cached position; the causal mask is then offset by the
number of positions already cached.

Leaves out: dropout, grouped-query attention, fused/tiled
kernels (units flash-*), the behaviour of a query row whose mask is all False (it divides 0 by 0
and gives NaN, as the textbook formula does; no check relies on it).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn

from reference_impl.layers import Linear
from reference_impl.positional import RotaryEmbedding

if TYPE_CHECKING:  # for the annotation only: kv_cache imports softmax from this module
    from reference_impl.kv_cache import KVCache


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """exp(x) / sum(exp(x)) along `dim`, computed as exp(x - max) so no exp() ever overflows.

    Subtracting the max changes nothing mathematically (the factor e^-max cancels) and puts every
    exponent in (-inf, 0], so each term is in (0, 1] and the sum is in [1, n].
    """
    x_max = x.amax(dim=dim, keepdim=True)  # (..., 1, ...) broadcast back along dim
    e = torch.exp(x - x_max)  # in (0, 1], exactly 1 at the max
    return e / e.sum(dim=dim, keepdim=True)


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) with masked scores at -inf) v.

    q (..., Tq, d), k (..., Tk, d), v (..., Tk, dv), mask (..., Tq, Tk) bool or None, where True
    means "query i may attend to key j"; the leading dims of all four broadcast.
    Returns (..., Tq, dv).
    """
    d = q.shape[-1]
    assert k.shape[-1] == d, f"q and k need the same feature size, got {q.shape} and {k.shape}"
    assert k.shape[-2] == v.shape[-2], f"k and v need the same number of keys, got {k.shape} and {v.shape}"
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)  # (..., Tq, Tk): scaled by the *key* dim
    if mask is not None:
        assert mask.dtype == torch.bool, f"mask must be bool (True = may attend), got {mask.dtype}"
        # masked_fill broadcasts the mask over the leading dims; -inf becomes exactly 0 after exp
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = softmax(scores, dim=-1)  # (..., Tq, Tk), each row sums to 1 over its allowed keys
    return weights @ v  # (..., Tq, dv)


class MultiHeadSelfAttention(nn.Module):
    """Causal multi-head self-attention with RoPE, bias-free projections (Llama-style).

    State dict: q_proj.weight, k_proj.weight, v_proj.weight, output_proj.weight, each
    (d_model, d_model) in (out, in) layout. The RoPE cos/sin caches are non-persistent buffers.
    """

    def __init__(self, d_model: int, n_heads: int, max_seq_len: int = 2048,
                 rope_theta: float | None = 10000.0) -> None:
        super().__init__()
        assert d_model % n_heads == 0, f"d_model={d_model} is not divisible by n_heads={n_heads}"
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        self.q_proj = Linear(d_model, d_model)
        self.k_proj = Linear(d_model, d_model)
        self.v_proj = Linear(d_model, d_model)
        self.output_proj = Linear(d_model, d_model)
        self.rope = None if rope_theta is None else RotaryEmbedding(self.d_head, max_seq_len, theta=rope_theta)

    def _split_heads(self, t: torch.Tensor) -> torch.Tensor:
        B, T, _ = t.shape
        # the projection's last dim is H blocks of d_head features: (B, T, H, d_head) -> (B, H, T, d_head)
        return t.view(B, T, self.n_heads, self.d_head).transpose(1, 2)

    def forward(self, x: torch.Tensor, positions: torch.Tensor | None = None, cache: KVCache | None = None,
                layer: int = 0) -> torch.Tensor:
        """x (B, T, d_model), positions (T,) or (B, T) int or None (= 0..T-1) -> (B, T, d_model).

        With a cache, x holds only new tokens: the caller passes their absolute positions, this
        layer's k and v are appended at cache.length (slot `layer`) and the queries attend over all
        cached keys. The caller advances cache.length once every layer has written.
        """
        assert x.ndim == 3 and x.shape[-1] == self.d_model, f"x must be (B, T, {self.d_model}), got {tuple(x.shape)}"
        B, T, _ = x.shape
        q = self._split_heads(self.q_proj(x))  # (B, H, T, d_head)
        k = self._split_heads(self.k_proj(x))  # (B, H, T, d_head)
        v = self._split_heads(self.v_proj(x))  # (B, H, T, d_head)

        if self.rope is not None:
            if positions is None:
                positions = torch.arange(T, device=x.device)  # (T,)
            assert positions.shape[-1] == T and positions.ndim in (1, 2), f"positions must be (T,) or (B, T), got {tuple(positions.shape)}"
            pos = positions if positions.ndim == 1 else positions[:, None, :]  # (T,) or (B, 1, T): same for every head
            q, k = self.rope(q, pos), self.rope(k, pos)  # v carries content, not position: no rotation

        if cache is not None:
            k, v = cache.update(layer, k, v)  # (B, H, Tk, d_head) each, Tk = cache.length + T
        Tk = k.shape[-2]
        # query i sits at position Tk - T + i and sees keys 0 .. Tk - T + i (Tk == T without a cache)
        causal = torch.ones(T, Tk, dtype=torch.bool, device=x.device).tril(diagonal=Tk - T)  # (T, Tk)
        out = scaled_dot_product_attention(q, k, v, causal)  # (B, H, T, d_head)
        out = out.transpose(1, 2).reshape(B, T, self.d_model)  # (B, T, H * d_head): heads back side by side
        return self.output_proj(out)  # (B, T, d_model)
