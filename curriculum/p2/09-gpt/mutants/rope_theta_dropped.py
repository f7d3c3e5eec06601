"""Mutant: rope_theta is not passed on to the blocks, so attention always uses theta = 10000."""

from __future__ import annotations

import torch
import torch.nn as nn

from myllm.attention import MultiHeadSelfAttention
from myllm.ffn import SwiGLU
from myllm.layers import Embedding, Linear
from myllm.norm import RMSNorm


class TransformerBlock(nn.Module):
    """One pre-norm decoder block: two residual branches, each reading a normalised copy of x.

        h   = x + attn(ln1(x))      # tokens exchange information (causal, RoPE)
        out = h + ffn(ln2(h))       # each token is transformed on its own

    The residual stream x itself is never normalised inside the block: the identity path carries
    the gradient from the loss to every layer unchanged (d out / d x = I + ...).
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, max_seq_len: int, rope_theta: float = 10000.0):
        super().__init__()
        assert d_model % n_heads == 0, f"d_model {d_model} is not divisible by n_heads {n_heads}"
        self.ln1 = RMSNorm(d_model)
        self.attn = MultiHeadSelfAttention(d_model, n_heads, max_seq_len=max_seq_len, rope_theta=rope_theta)
        self.ln2 = RMSNorm(d_model)
        self.ffn = SwiGLU(d_model, d_ff)

    def forward(self, x: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, d_model), positions (T,) or (B, T) or None (= 0..T-1) -> (B, T, d_model)."""
        assert x.ndim == 3, f"expected x of shape (B, T, d_model), got {tuple(x.shape)}"
        x = x + self.attn(self.ln1(x), positions)  # (B, T, d)
        x = x + self.ffn(self.ln2(x))  # (B, T, d)
        return x


class GPT(nn.Module):
    """Token ids (B, T) -> next-token logits (B, T, vocab_size).

    logits[b, t] depends only on idx[b, :t + 1] (causal attention in every block), so one forward
    pass over a sequence gives the prediction for every prefix at once: that is what makes
    training parallel over T.
    """

    def __init__(self, vocab_size: int, context_length: int, d_model: int, n_layers: int, n_heads: int,
                 d_ff: int, rope_theta: float = 10000.0):
        super().__init__()
        assert vocab_size > 0 and context_length > 0 and n_layers > 0
        self.vocab_size = vocab_size
        self.context_length = context_length
        self.token_embeddings = Embedding(vocab_size, d_model)  # weight (V, d)
        self.layers = nn.ModuleList(
            TransformerBlock(d_model, n_heads, d_ff, max_seq_len=context_length)
            for _ in range(n_layers)
        )
        self.ln_final = RMSNorm(d_model)
        self.lm_head = Linear(d_model, vocab_size)  # weight (V, d), its own matrix (untied)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """idx (B, T) long with T <= context_length -> logits (B, T, vocab_size), unnormalised."""
        assert idx.ndim == 2, f"expected idx of shape (B, T), got {tuple(idx.shape)}"
        B, T = idx.shape
        assert T <= self.context_length, f"sequence length {T} exceeds context_length {self.context_length}"
        positions = torch.arange(T, device=idx.device)  # (T,)
        x = self.token_embeddings(idx)  # (B, T, d)
        for block in self.layers:
            x = block(x, positions)  # (B, T, d)
        x = self.ln_final(x)  # (B, T, d)
        return self.lm_head(x)  # (B, T, V)


def count_parameters(model: nn.Module) -> int:
    """Number of distinct trainable scalars (a tied matrix would be counted once)."""
    return sum(p.numel() for p in model.parameters())
