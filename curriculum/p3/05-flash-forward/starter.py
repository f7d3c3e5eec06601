"""Unit `flash-forward`: the FlashAttention forward pass, tiled, with an online softmax (PyTorch).

Banned here: torch.nn.functional.scaled_dot_product_attention (every spelling), the ready-made
softmaxes (torch.softmax, F.softmax, Tensor.softmax, ...) and torch.logsumexp: the running max and
sum are what this unit is about. Everything else in torch is fine (matmul, exp, amax, masked_fill).
"""

import math

import torch


def flash_attention_forward(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, is_causal: bool = False,
                            block_q: int = 64, block_k: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q k^T / sqrt(d)) v, computed one (block_q, block_k) tile of scores at a time.

    q, k, v: (B, H, T, d), same T. is_causal: query i attends to keys j <= i only.
    Returns (o, lse):
      o   (B, H, T, d): the attention output, in the inputs' dtype;
      lse (B, H, T):    lse[b, h, i] = log(sum_j exp(q_i . k_j / sqrt(d))) over the keys query i
                        may attend to (natural log), the statistic the backward pass needs.
    T need not be a multiple of block_q or block_k. Never build a (T, T) tensor (scores, weights or
    mask): loop over query blocks, and inside over key blocks, keeping for each query a running
    max, a running sum of exponentials and an unnormalised output, rescaled whenever the max grows.
    """
    raise NotImplementedError
