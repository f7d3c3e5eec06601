"""Unit `flash-triton`: the FlashAttention forward pass as one Triton kernel.

A Triton kernel runs on a CUDA GPU. On a CPU-only machine, set TRITON_INTERPRET=1 in the
environment before Python imports triton (e.g. `TRITON_INTERPRET=1 python try_it.py`): every
@triton.jit function then runs in Triton's interpreter, on CPU tensors, slowly. `mentor check`
does that by itself when it sees no GPU, on small shapes.

Banned here: torch's attention and softmax (F.scaled_dot_product_attention, torch.softmax, ...),
torch.matmul / bmm / einsum, and your own PyTorch attention modules: the output must come from
your kernel.
"""

import math

import torch
import triton
import triton.language as tl


def flash_attention_triton(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, is_causal: bool = False) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v computed by a @triton.jit kernel that you launch as kernel[grid](...).

    q, k, v: (B, H, T, d), one dtype (float32 in the check; bfloat16 too on a GPU), any strides
    (q may be a transposed view). d is a power of two, 16 to 128. T need not be a multiple of your
    tile sizes. is_causal: query i attends only to keys 0..i.
    Returns o: (B, H, T, d) in q's dtype. Never materialise a (T, T) tensor.

    Suggested kernel signature (one program per (query tile, batch * head)):
        @triton.jit
        def _fwd_kernel(Q, K, V, O, <4 strides for each of q, k, v, o>, H, T, scale,
                        IS_CAUSAL: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                        HEAD_D: tl.constexpr)
    """
    raise NotImplementedError
