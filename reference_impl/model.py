"""A decoder-only transformer language model (Llama-style GPT): pre-norm blocks, RoPE, SwiGLU.

Implements `TransformerBlock` (x = x + attn(ln1(x)); x = x + ffn(ln2(x))) and `GPT`
(token embeddings -> n_layers blocks -> final RMSNorm -> untied LM head), assembled from the
course's own components: `Embedding`/`Linear` (layers), `RMSNorm` (norm),
`MultiHeadSelfAttention` with RoPE and the causal mask (attention), `SwiGLU` (ffn).

There are no learned absolute position embeddings: position enters only through RoPE on q and k
inside every attention layer, so the model holds no (context_length, d_model) table and its
parameter count does not depend on context_length. `lm_head` is a separate matrix (untied), so
the embedding table is counted twice in the parameters: V * d for the input, V * d for the head.

The state_dict keys are exactly (course contract):
    token_embeddings.weight
    layers.{i}.ln1.weight
    layers.{i}.attn.{q,k,v,output}_proj.weight
    layers.{i}.ln2.weight
    layers.{i}.ffn.w{1,2,3}.weight
    ln_final.weight
    lm_head.weight

Sources: Radford et al. 2019 (GPT-2: pre-norm, final norm); Touvron et al. 2023 (Llama: RMSNorm,
SwiGLU, RoPE, no biases); Xiong et al. 2020 (on layer normalization in the transformer: why
pre-norm trains without warmup tricks); Karpathy's nanoGPT (model.py) for the layout.
With a `KVCache` (unit kv-cache), forward(idx, cache) takes only the new tokens, places them at
positions cache.length, cache.length + 1, ..., lets every layer append its keys and values, and
advances cache.length; generation lives in reference_impl/kv_cache.py.

Leaves out: dropout, weight tying, special initialisation of the residual projections (GPT-2's
1/sqrt(2 n_layers)), and loss computation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn as nn

from reference_impl.attention import MultiHeadSelfAttention
from reference_impl.ffn import SwiGLU
from reference_impl.layers import Embedding, Linear
from reference_impl.norm import RMSNorm

if TYPE_CHECKING:
    from reference_impl.kv_cache import KVCache


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

    def forward(self, x: torch.Tensor, positions: torch.Tensor | None = None, cache: KVCache | None = None,
                layer: int = 0) -> torch.Tensor:
        """x (B, T, d_model), positions (T,) or (B, T) or None (= 0..T-1) -> (B, T, d_model).

        cache, layer: the KV cache and this block's slot in it (only attention reads or writes it).
        """
        assert x.ndim == 3, f"expected x of shape (B, T, d_model), got {tuple(x.shape)}"
        x = x + self.attn(self.ln1(x), positions, cache, layer)  # (B, T, d)
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
            TransformerBlock(d_model, n_heads, d_ff, max_seq_len=context_length, rope_theta=rope_theta)
            for _ in range(n_layers)
        )
        self.ln_final = RMSNorm(d_model)
        self.lm_head = Linear(d_model, vocab_size)  # weight (V, d), its own matrix (untied)

    def forward(self, idx: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """idx (B, T) long -> logits (B, T, vocab_size), unnormalised.

        Without a cache, idx is a whole sequence at positions 0 .. T-1. With one, idx holds only
        the new tokens, at positions cache.length .. cache.length + T - 1; their keys and values
        are appended to the cache and cache.length advances by T.
        """
        assert idx.ndim == 2, f"expected idx of shape (B, T), got {tuple(idx.shape)}"
        B, T = idx.shape
        start = 0 if cache is None else cache.length  # positions already cached
        assert start + T <= self.context_length, f"sequence length {start + T} exceeds context_length {self.context_length}"
        positions = torch.arange(start, start + T, device=idx.device)  # (T,): absolute positions, for RoPE
        x = self.token_embeddings(idx)  # (B, T, d)
        for i, block in enumerate(self.layers):
            x = block(x, positions, cache, i)  # (B, T, d)
        if cache is not None:
            cache.length += T  # once, after every layer has written positions start .. start + T - 1
        x = self.ln_final(x)  # (B, T, d)
        return self.lm_head(x)  # (B, T, V)


def count_parameters(model: nn.Module) -> int:
    """Number of distinct trainable scalars (a tied matrix would be counted once)."""
    return sum(p.numel() for p in model.parameters())
