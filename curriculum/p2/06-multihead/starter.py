"""Unit `multihead`: causal multi-head self-attention with RoPE, added to myllm/attention.py.

Use your own pieces: Linear (myllm/layers.py), RotaryEmbedding (myllm/positional.py) and
scaled_dot_product_attention (above, in this file). Banned here as in unit `attention`: the
ready-made softmax and attention functions, and torch.nn.MultiheadAttention.
"""

import torch
from torch import nn

from myllm.layers import Linear
from myllm.positional import RotaryEmbedding


class MultiHeadSelfAttention(nn.Module):
    """Causal multi-head self-attention.

    MultiHeadSelfAttention(d_model, n_heads, max_seq_len=2048, rope_theta=10000.0)
      Submodules: q_proj, k_proj, v_proj, output_proj: your Linear(d_model, d_model), no bias,
      so state_dict() has exactly q_proj.weight, k_proj.weight, v_proj.weight, output_proj.weight.
      d_head = d_model // n_heads. When rope_theta is not None, a RotaryEmbedding(d_head,
      max_seq_len, theta=rope_theta) rotates q and k (not v). When it is None, no RoPE at all.

    forward(x (B, T, d_model), positions (T,) or (B, T) int, or None meaning 0..T-1) -> (B, T, d_model)
      Heads are split from each projection's last dim: head h is features h*d_head:(h+1)*d_head,
      i.e. (B, T, d_model) -> (B, T, H, d_head) -> (B, H, T, d_head). Attention is causal:
      position i attends to positions 0..i only.
    """

    def __init__(self, d_model: int, n_heads: int, max_seq_len: int = 2048, rope_theta: float | None = 10000.0):
        super().__init__()
        raise NotImplementedError

    def forward(self, x: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError
