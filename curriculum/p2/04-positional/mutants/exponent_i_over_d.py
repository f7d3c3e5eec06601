"""Mutant: RoPE frequencies theta^(-i/d) for pair i, forgetting the factor 2: the slowest pair rotates ~100x too fast."""

from __future__ import annotations

import torch
import torch.nn as nn


def _inv_freq(dim: int, base: float) -> torch.Tensor:
    """w_i = base^(-2i/dim) for i = 0 .. dim/2 - 1, float64: (dim/2,). w_0 = 1, then geometric down."""
    assert dim % 2 == 0, f"dimension must be even, got {dim}"
    return base ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)


def sinusoidal_positions(seq_len: int, d_model: int) -> torch.Tensor:
    """(seq_len, d_model) float32: PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(same angle)."""
    assert seq_len >= 0 and d_model > 0 and d_model % 2 == 0, f"bad sizes ({seq_len}, {d_model})"
    p = torch.arange(seq_len, dtype=torch.float64)  # (T,)
    angles = torch.outer(p, _inv_freq(d_model, 10000.0))  # (T, d/2)
    pe = torch.empty(seq_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angles)  # even columns
    pe[:, 1::2] = torch.cos(angles)  # odd columns: the same frequency as their left neighbour
    return pe.float()


class RotaryEmbedding(nn.Module):
    """Rotate interleaved pairs of the last dim by position-dependent angles.

    forward(x (..., T, d_head), positions (..., T) int, 0-based) -> (..., T, d_head). positions
    broadcasts against x's leading dims: (T,) for every batch row, (B, T) for x (B, T, d), and
    (B, 1, T) for x (B, H, T, d).
    """

    def __init__(self, d_head: int, max_seq_len: int, theta: float = 10000.0, device=None) -> None:
        super().__init__()
        assert d_head % 2 == 0, f"d_head must be even to form pairs, got {d_head}"
        assert max_seq_len > 0 and theta > 0
        self.d_head, self.max_seq_len, self.theta = d_head, max_seq_len, theta
        p = torch.arange(max_seq_len, dtype=torch.float64)
        angles = torch.outer(p, theta ** (-torch.arange(0, d_head // 2, dtype=torch.float64) / d_head))  # (L, d/2): angles[p, i] = p * theta^(-2i/d)
        # buffers, not parameters: nothing to learn. persistent=False: not in state_dict
        self.register_buffer("cos_cached", torch.cos(angles).to(device=device, dtype=torch.float32), persistent=False)
        self.register_buffer("sin_cached", torch.sin(angles).to(device=device, dtype=torch.float32), persistent=False)

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        assert x.shape[-1] == self.d_head, f"x last dim {x.shape[-1]} != d_head {self.d_head}"
        assert positions.shape[-1] == x.shape[-2], f"positions {tuple(positions.shape)} vs x {tuple(x.shape)}"
        assert not positions.is_floating_point(), "positions must be integers"
        # a position >= max_seq_len raises IndexError here (no .item() check: it would sync a GPU)
        cos = self.cos_cached[positions].to(x.dtype)  # (..., T, d/2)
        sin = self.sin_cached[positions].to(x.dtype)  # (..., T, d/2)
        x_even, x_odd = x[..., 0::2], x[..., 1::2]  # (..., T, d/2) each: the pairs (x[2i], x[2i+1])
        # 2-D rotation of each pair: [cos -sin; sin cos] @ (x_even, x_odd)
        out_even = x_even * cos - x_odd * sin
        out_odd = x_even * sin + x_odd * cos
        # re-interleave: stack on a new last axis (..., T, d/2, 2), then merge -> (..., T, d)
        return torch.stack((out_even, out_odd), dim=-1).flatten(-2)

    def extra_repr(self) -> str:
        return f"d_head={self.d_head}, max_seq_len={self.max_seq_len}, theta={self.theta}"
