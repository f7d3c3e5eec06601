"""FlashAttention forward as one Triton kernel: online softmax over key blocks, never a (T, T) tensor.

Implements
- `_flash_fwd_kernel`: one Triton *program* per (query block, batch * head). The program loads its
  (BLOCK_M, d) tile of q once, then walks the key/value sequence in (BLOCK_N, d) tiles, keeping for
  each of its queries the running max m, the running denominator l and an unnormalised (BLOCK_M, d)
  accumulator in registers; each new tile rescales them by exp(m_old - m_new) (the online softmax).
  Causal attention stops the walk at the diagonal block and masks inside it; rows and keys past the
  end of the sequence (T not a multiple of the block) are masked on load, on the scores and on store.
- `flash_attention_triton(q, k, v, is_causal=False) -> o`: the launcher: strides, grid, tile sizes.

On a CUDA GPU the kernel is compiled; on a CPU-only machine Triton's interpreter runs it when
TRITON_INTERPRET=1 is set before this module is imported (NumPy emulation of every block op: slow, for
correctness only). fp32 inputs use tl.dot with input_precision="ieee" (tensor cores would default to
TF32, whose 10-bit mantissa costs ~1e-3 relative error); bf16/fp16 inputs use the tensor cores as is,
with fp32 accumulation and softmax statistics.

Sources: Dao et al. 2022 (FlashAttention, Algorithm 1) and Dao 2023 (FlashAttention-2: the loop
order with queries outside, one program per query block, the deferred division by l); Triton's
tutorial 06 "Fused Attention"; Milakov & Gimelshein 2018 (online softmax).
Leaves out: the backward pass (unit flash-backward has the tiled PyTorch one), the logsumexp output,
dropout, arbitrary masks, Tq != Tk, head sizes that are not a power of two, autotuning, TMA and
warp specialisation (Hopper), splitting the key walk across programs (flash-decoding).
"""

import math
import os

import torch
import triton
import triton.language as tl

# @triton.jit reads TRITON_INTERPRET when it decorates, so read it here too: at import, not per call
INTERPRETED = os.environ.get("TRITON_INTERPRET", "0") == "1"


@triton.jit
def _flash_fwd_kernel(
    Q, K, V, O,  # pointers to the first element of each (B, H, T, d) tensor
    stride_qb, stride_qh, stride_qt, stride_qd,
    stride_kb, stride_kh, stride_kt, stride_kd,
    stride_vb, stride_vh, stride_vt, stride_vd,
    stride_ob, stride_oh, stride_ot, stride_od,
    H, T, scale,
    IS_CAUSAL: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, HEAD_D: tl.constexpr,
    PRECISION: tl.constexpr,
):
    start_m = tl.program_id(0)  # which query block
    bh = tl.program_id(1)  # which (batch, head) pair
    b, h = bh // H, bh % H
    offs_m = start_m * BLOCK_M + tl.arange(0, BLOCK_M)  # (BLOCK_M,) global query positions
    offs_n = tl.arange(0, BLOCK_N)  # (BLOCK_N,) key positions within a tile
    offs_d = tl.arange(0, HEAD_D)  # (HEAD_D,)
    row_ok = offs_m < T  # the last query block may stick out past the sequence

    # pointer arithmetic: element (t, j) of this (b, h) slice sits at base + t * stride_t + j * stride_d
    q_ptrs = Q + b * stride_qb + h * stride_qh + offs_m[:, None] * stride_qt + offs_d[None, :] * stride_qd
    q = tl.load(q_ptrs, mask=row_ok[:, None], other=0.0)  # (BLOCK_M, HEAD_D), loaded once
    k_base = K + b * stride_kb + h * stride_kh + offs_d[None, :] * stride_kd
    v_base = V + b * stride_vb + h * stride_vh + offs_d[None, :] * stride_vd

    m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)  # running max of the scaled scores
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)  # running sum of exp(s - m_i)
    acc = tl.zeros([BLOCK_M, HEAD_D], dtype=tl.float32)  # running sum of exp(s - m_i) * v

    # causal: keys after this block's last query can never be attended, so stop the walk there
    hi = T
    if IS_CAUSAL:
        hi = tl.minimum((start_m + 1) * BLOCK_M, T)
    for start_n in range(0, hi, BLOCK_N):
        cols = start_n + offs_n  # (BLOCK_N,) global key positions
        col_ok = cols < T
        k = tl.load(k_base + cols[:, None] * stride_kt, mask=col_ok[:, None], other=0.0)  # (BLOCK_N, HEAD_D)
        v = tl.load(v_base + cols[:, None] * stride_vt, mask=col_ok[:, None], other=0.0)  # (BLOCK_N, HEAD_D)

        s = tl.dot(q, tl.trans(k), input_precision=PRECISION) * scale  # (BLOCK_M, BLOCK_N), fp32
        allowed = col_ok[None, :]  # padded keys (loaded as 0) would otherwise score 0 and get weight
        if IS_CAUSAL:
            allowed = allowed & (offs_m[:, None] >= cols[None, :])  # global positions, not tile-local ones
        s = tl.where(allowed, s, float("-inf"))

        # online softmax: the first tile always holds key 0 (allowed for every query), so m_new is finite
        m_new = tl.maximum(m_i, tl.max(s, axis=1))  # (BLOCK_M,)
        alpha = tl.exp(m_i - m_new)  # rescales what was summed against the old max; exp(-inf) = 0 at first
        p = tl.exp(s - m_new[:, None])  # (BLOCK_M, BLOCK_N), in [0, 1]
        l_i = l_i * alpha + tl.sum(p, axis=1)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
        m_i = m_new

    acc = acc / l_i[:, None]  # normalise once at the end (FlashAttention-2), not once per tile
    o_ptrs = O + b * stride_ob + h * stride_oh + offs_m[:, None] * stride_ot + offs_d[None, :] * stride_od
    tl.store(o_ptrs, acc.to(O.dtype.element_ty), mask=row_ok[:, None])


def flash_attention_triton(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, is_causal: bool = False) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) [causal]) v by the Triton kernel above; q, k, v (B, H, T, d) -> o (B, H, T, d).

    Any strides are fine (q may be a transposed view of a (B, T, H, d) projection); d must be a power
    of two from 16 to 128 (tl.arange and tl.dot need it). o has q's dtype.
    """
    assert q.ndim == 4 and q.shape == k.shape == v.shape, f"q, k, v must be (B, H, T, d) of one shape, got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}"
    assert q.dtype == k.dtype == v.dtype, f"q, k, v need one dtype, got {q.dtype}, {k.dtype}, {v.dtype}"
    B, H, T, d = q.shape
    assert d in (16, 32, 64, 128), f"head size d={d}: this kernel needs a power of two in [16, 128]"
    assert q.is_cuda or INTERPRETED, ("q is on the CPU: a Triton kernel runs on a CUDA GPU; without one, set "
                                      "TRITON_INTERPRET=1 before this module is imported to run it in the interpreter")
    o = torch.empty_like(q, memory_format=torch.contiguous_format)  # (B, H, T, d)
    # tiles: 16 x 16 under the interpreter (tiny test shapes still span several tiles); on a GPU
    # 64 x 64: a 64 x d tile is 8 KiB in bf16 at d = 64 (32 KiB in fp32 at d = 128), and K and V
    # are staged num_stages deep in shared memory (~100 KB per SM on consumer cards)
    block_m = block_n = 16 if INTERPRETED else 64
    grid = (triton.cdiv(T, block_m), B * H)  # one program per (query block, batch * head)
    _flash_fwd_kernel[grid](
        q, k, v, o,
        *q.stride(), *k.stride(), *v.stride(), *o.stride(),
        H, T, 1.0 / math.sqrt(d),
        IS_CAUSAL=is_causal, BLOCK_M=block_m, BLOCK_N=block_n, HEAD_D=d,
        PRECISION="ieee" if q.dtype == torch.float32 else "tf32",  # tf32 is ignored for bf16/fp16 inputs
        num_warps=4, num_stages=2,  # GPU launch options: 128 threads per program, 2-deep load pipeline
    )
    return o
