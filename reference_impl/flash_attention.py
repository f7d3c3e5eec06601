"""FlashAttention in plain PyTorch: a tiled forward with an online softmax, and the tiled backward.

Implements
- `flash_attention_forward(q, k, v, is_causal, block_q, block_k) -> (o, lse)`: exact softmax
  attention computed one (block_q, block_k) tile of scores at a time. Each query block keeps a
  running max m, a running sum l and an unnormalised output acc; when a new key tile raises the
  max, l and acc are rescaled by exp(m_old - m_new). Besides o it returns the per-query
  logsumexp lse = m + log(l) of the scaled scores, O(T) numbers that let the backward rebuild
  any tile of probabilities exactly: P_ij = exp(S_ij - lse_i).
- `flash_attention_backward(q, k, v, o, lse, do, is_causal, block_q, block_k) -> (dq, dk, dv)`:
  FlashAttention-2's backward: D = rowsum(dO * O) once, then for each key block loop over the
  query blocks, recompute P from lse, and accumulate dV += P^T dO, dS = P * (dO V^T - D),
  dK += dS^T Q * scale, dQ += dS K * scale.
- `FlashAttention` (torch.autograd.Function) saving only q, k, v, o, lse, and `flash_attention`.

Memory: never more than one (B, H, block_q, block_k) tile of scores at a time, plus O(T d)
inputs/outputs and O(T) statistics; naive attention holds (B, H, T, T).

Sources: Dao et al. 2022, "FlashAttention" (Algorithm 1, and its backward, Algorithm 4); Dao 2023,
"FlashAttention-2" (sec. 3.1: the rescaling deferred to the end, the logsumexp saved instead of
m and l, D = rowsum(dO * O)); Milakov & Gimelshein 2018, "Online normalizer calculation for softmax".
Leaves out: dropout, arbitrary masks, Tq != Tk (the causal diagonal is i >= j with both
0-based over the same T), the parallel split of the forward over query blocks across SMs (here
the Python loops run one after another), the bf16/fp16 storage of the kernels.
"""

from __future__ import annotations

import math

import torch


def _causal_tile_mask(i0: int, i1: int, j0: int, j1: int, device: torch.device) -> torch.Tensor:
    """(i1 - i0, j1 - j0) bool, True where global query index i may attend global key index j <= i."""
    rows = torch.arange(i0, i1, device=device)  # global query indices of the tile
    cols = torch.arange(j0, j1, device=device)  # global key indices of the tile
    return rows[:, None] >= cols[None, :]


def flash_attention_forward(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, is_causal: bool = False,
                            block_q: int = 64, block_k: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q k^T / sqrt(d)) v tile by tile. q, k, v (B, H, T, d) -> o (B, H, T, d), lse (B, H, T)."""
    assert q.dim() == 4 and q.shape == k.shape == v.shape, f"q, k, v must be (B, H, T, d), got {q.shape}, {k.shape}, {v.shape}"
    assert block_q > 0 and block_k > 0
    B, H, T, d = q.shape
    scale = 1.0 / math.sqrt(d)
    o = torch.empty_like(q)  # (B, H, T, d)
    lse = torch.empty(B, H, T, dtype=q.dtype, device=q.device)  # (B, H, T)
    for i0 in range(0, T, block_q):
        i1 = min(i0 + block_q, T)  # the last query block may be partial
        qi = q[:, :, i0:i1] * scale  # (B, H, bq, d): fold the scale into the smaller operand, once
        m = torch.full((B, H, i1 - i0), float("-inf"), dtype=q.dtype, device=q.device)  # running max
        l = torch.zeros(B, H, i1 - i0, dtype=q.dtype, device=q.device)  # running sum of exp(s - m)
        acc = torch.zeros(B, H, i1 - i0, d, dtype=q.dtype, device=q.device)  # running sum of exp(s - m) v
        k_end = i1 if is_causal else T  # causal: keys j >= i1 are masked for every query of this block
        for j0 in range(0, k_end, block_k):
            j1 = min(j0 + block_k, k_end)
            s = qi @ k[:, :, j0:j1].transpose(-2, -1)  # (B, H, bq, bk) scaled scores of this tile
            if is_causal and j1 - 1 > i0:  # the tile reaches above the diagonal: mask it
                s = s.masked_fill(~_causal_tile_mask(i0, i1, j0, j1, q.device), float("-inf"))
            # j0 = 0 comes first and key 0 is visible to every query, so m is finite from the first tile on
            m_new = torch.maximum(m, s.amax(dim=-1))  # (B, H, bq)
            p = torch.exp(s - m_new[..., None])  # (B, H, bq, bk), masked entries exactly 0
            alpha = torch.exp(m - m_new)  # (B, H, bq): rescales what was summed under the old max
            l = alpha * l + p.sum(dim=-1)
            acc = alpha[..., None] * acc + p @ v[:, :, j0:j1]  # (B, H, bq, d)
            m = m_new
        o[:, :, i0:i1] = acc / l[..., None]  # one division per row, at the end (FlashAttention-2)
        lse[:, :, i0:i1] = m + torch.log(l)  # log sum_j exp(s_ij), exact: l is in [1, T]
    return o, lse


def flash_attention_backward(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, o: torch.Tensor,
                             lse: torch.Tensor, do: torch.Tensor, is_causal: bool = False,
                             block_q: int = 64, block_k: int = 64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of o = softmax(q k^T / sqrt(d)) v from the saved o and lse. All (B, H, T, d) but lse (B, H, T)."""
    assert q.dim() == 4 and q.shape == k.shape == v.shape == o.shape == do.shape
    assert lse.shape == q.shape[:3]
    B, H, T, d = q.shape
    scale = 1.0 / math.sqrt(d)
    # D_i = sum_j P_ij dP_ij = sum_j P_ij (dO_i . V_j) = dO_i . O_i: one dot product per query
    D = (do * o).sum(dim=-1)  # (B, H, T)
    dq = torch.zeros_like(q)
    dk = torch.empty_like(k)
    dv = torch.empty_like(v)
    for j0 in range(0, T, block_k):  # each key block owns its dk, dv: no write conflicts between blocks
        j1 = min(j0 + block_k, T)
        kj, vj = k[:, :, j0:j1], v[:, :, j0:j1]  # (B, H, bk, d)
        dk_j = torch.zeros_like(kj)
        dv_j = torch.zeros_like(vj)
        i_start = (j0 // block_q) * block_q if is_causal else 0  # causal: query blocks wholly above j0 see none of these keys
        for i0 in range(i_start, T, block_q):
            i1 = min(i0 + block_q, T)
            qi, doi = q[:, :, i0:i1], do[:, :, i0:i1]  # (B, H, bq, d)
            s = (qi @ kj.transpose(-2, -1)) * scale  # (B, H, bq, bk)
            if is_causal and j1 - 1 > i0:
                s = s.masked_fill(~_causal_tile_mask(i0, i1, j0, j1, q.device), float("-inf"))
            p = torch.exp(s - lse[:, :, i0:i1, None])  # (B, H, bq, bk): the forward's probabilities, recomputed
            dv_j += p.transpose(-2, -1) @ doi  # (B, H, bk, d)
            dp = doi @ vj.transpose(-2, -1)  # (B, H, bq, bk)
            ds = p * (dp - D[:, :, i0:i1, None])  # softmax backward, row by row
            dq[:, :, i0:i1] += (ds @ kj) * scale  # (B, H, bq, d)
            dk_j += (ds.transpose(-2, -1) @ qi) * scale  # (B, H, bk, d)
        dk[:, :, j0:j1] = dk_j
        dv[:, :, j0:j1] = dv_j
    return dq, dk, dv


class FlashAttention(torch.autograd.Function):
    """Autograd wrapper: saves q, k, v, o and lse (O(T d) + O(T)), recomputes the tiles in backward."""

    @staticmethod
    def forward(ctx, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, is_causal: bool = False) -> torch.Tensor:
        o, lse = flash_attention_forward(q, k, v, is_causal)
        ctx.save_for_backward(q, k, v, o, lse)
        ctx.is_causal = is_causal
        return o

    @staticmethod
    def backward(ctx, do: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, None]:
        q, k, v, o, lse = ctx.saved_tensors
        dq, dk, dv = flash_attention_backward(q, k, v, o, lse, do, ctx.is_causal)
        return dq, dk, dv, None  # no gradient for is_causal


def flash_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, is_causal: bool = False) -> torch.Tensor:
    """o = softmax(q k^T / sqrt(d)) v with the FlashAttention forward and backward. (B, H, T, d) -> (B, H, T, d)."""
    return FlashAttention.apply(q, k, v, is_causal)
