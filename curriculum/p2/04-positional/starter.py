"""Unit `positional`: sinusoidal position encodings and rotary position embeddings (RoPE) (PyTorch)."""

import math

import torch
import torch.nn as nn


def sinusoidal_positions(seq_len: int, d_model: int) -> torch.Tensor:
    """The fixed encodings of "Attention Is All You Need", float32 (seq_len, d_model):

    PE[p, 2i]     = sin(p / 10000^(2i / d_model))
    PE[p, 2i + 1] = cos(p / 10000^(2i / d_model))        for p = 0 .. seq_len - 1 (d_model even)
    """
    raise NotImplementedError


class RotaryEmbedding(nn.Module):
    """Rotary position embedding with INTERLEAVED pairs.

    For a vector x at position p (0-based), each pair (x[2i], x[2i+1]), i = 0 .. d_head/2 - 1, is
    rotated by the angle  p * theta^(-2i / d_head):
        x'[2i]     = x[2i] cos - x[2i+1] sin
        x'[2i + 1] = x[2i] sin + x[2i+1] cos
    __init__ precomputes cos/sin tables for positions 0 .. max_seq_len - 1 on `device` and stores
    them as non-persistent buffers (register_buffer(..., persistent=False): moved by .to(), not saved
    in the state_dict). There are no learnable parameters.
    """

    def __init__(self, d_head: int, max_seq_len: int, theta: float = 10000.0, device=None):
        super().__init__()
        raise NotImplementedError

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """x (..., T, d_head), positions (..., T) integer (broadcasts against x's leading dims)
        -> (..., T, d_head), a new tensor (x is not modified)."""
        raise NotImplementedError
