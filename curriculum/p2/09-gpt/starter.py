"""Unit `gpt`: assemble the decoder-only transformer from your own components."""

import torch
import torch.nn as nn

from myllm.attention import MultiHeadSelfAttention
from myllm.ffn import SwiGLU
from myllm.layers import Embedding, Linear
from myllm.norm import RMSNorm


class TransformerBlock(nn.Module):
    """One pre-norm decoder block.

    Submodules (these exact names: they are the state_dict keys):
      ln1  RMSNorm(d_model)
      attn MultiHeadSelfAttention(d_model, n_heads, max_seq_len, rope_theta) -- causal, RoPE
      ln2  RMSNorm(d_model)
      ffn  SwiGLU(d_model, d_ff)

    forward(x (B, T, d_model), positions=None) -> (B, T, d_model):
      x = x + attn(ln1(x))
      x = x + ffn(ln2(x))
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, max_seq_len: int, rope_theta: float = 10000.0):
        super().__init__()
        raise NotImplementedError

    def forward(self, x: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError


class GPT(nn.Module):
    """Decoder-only language model: token ids (B, T) -> logits (B, T, vocab_size).

    Submodules (these exact names):
      token_embeddings  Embedding(vocab_size, d_model)
      layers            nn.ModuleList of n_layers TransformerBlock(d_model, n_heads, d_ff,
                        max_seq_len=context_length, rope_theta=rope_theta)
      ln_final          RMSNorm(d_model), applied after the last block
      lm_head           Linear(d_model, vocab_size), its own weight (not tied to the embeddings)

    state_dict keys: token_embeddings.weight, layers.{i}.ln1.weight,
    layers.{i}.attn.{q,k,v,output}_proj.weight, layers.{i}.ln2.weight,
    layers.{i}.ffn.w{1,2,3}.weight, ln_final.weight, lm_head.weight.

    forward(idx (B, T) long, T <= context_length) -> logits (B, T, vocab_size), float32;
    logits[:, t] depends only on idx[:, :t + 1].
    """

    def __init__(self, vocab_size: int, context_length: int, d_model: int, n_layers: int, n_heads: int,
                 d_ff: int, rope_theta: float = 10000.0):
        super().__init__()
        raise NotImplementedError

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError
