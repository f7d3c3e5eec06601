"""Unit `flash-backward`: the FlashAttention-2 backward pass, tiled, and the autograd.Function around it.

Appended to myllm/flash_attention.py, below your flash_attention_forward. Banned as in unit
flash-forward (ready-made attention, softmaxes, torch.logsumexp), plus autograd inside the backward
(torch.autograd.grad, .backward()): the gradients are yours.
"""

import math

import torch


def flash_attention_backward(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, o: torch.Tensor, lse: torch.Tensor,
                             do: torch.Tensor, is_causal: bool = False, block_q: int = 64,
                             block_k: int = 64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients (dq, dk, dv) of o = softmax(q k^T / sqrt(d)) v, given do = dL/do.

    q, k, v, o, do: (B, H, T, d); lse: (B, H, T), as returned by flash_attention_forward.
    Tiled like the forward, never building a (T, T) tensor: compute D = rowsum(do * o) once, then
    for each (block_q, block_k) tile recompute the scores, turn them into probabilities with lse,
    and accumulate that tile's contributions to dq, dk and dv. Same causal rule as the forward.
    Returns dq, dk, dv, each (B, H, T, d) in the inputs' dtype.
    """
    raise NotImplementedError


class FlashAttention(torch.autograd.Function):
    """o = FlashAttention.apply(q, k, v, is_causal).

    forward(ctx, q, k, v, is_causal=False) -> o: runs flash_attention_forward and saves exactly
        q, k, v, o and lse with ctx.save_for_backward (non-tensor settings may go on ctx).
    backward(ctx, do) -> (dq, dk, dv, None): one gradient per forward input, None for is_causal.
    """

    @staticmethod
    def forward(ctx, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, is_causal: bool = False) -> torch.Tensor:
        raise NotImplementedError

    @staticmethod
    def backward(ctx, do: torch.Tensor):
        raise NotImplementedError


def flash_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, is_causal: bool = False) -> torch.Tensor:
    """Differentiable FlashAttention: FlashAttention.apply(q, k, v, is_causal). (B, H, T, d) -> (B, H, T, d)."""
    raise NotImplementedError
