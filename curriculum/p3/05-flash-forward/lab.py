"""Lab of unit `flash-forward`: your tiled forward against naive attention, as achieved GFLOP/s.

Both compute softmax(q k^T / sqrt(d)) v on (1, 4, 1024, 64) float32 tensors, non-causal: 4 T^2 d
FLOPs per head (two matmuls, 2 T^2 d each; the exp and the sums are O(T^2) and not counted). The
peer materialises the (T, T) scores per head (a written-out softmax: the unit bans the built-in one);
the figure is your forward with its default tiles, measured in the same run.
"""

import math

import torch

from mentor.gate import labkit

B, H, T, D = 1, 4, 1024, 64


def _naive(q, k, v):
    s = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))  # (B, H, T, T) in memory
    p = torch.exp(s - s.amax(dim=-1, keepdim=True))
    return (p / p.sum(dim=-1, keepdim=True)) @ v  # (B, H, T, d)


def lab_flash_forward_gflops(ctx):
    fwd = ctx.symbol("flash_attention_forward")
    tiny = torch.ones(1, 1, 4, 8)
    fwd(tiny, tiny, tiny)  # a stub fails here
    g = ctx.torch_generator()
    q, k, v = (torch.randn(B, H, T, D, generator=g) for _ in range(3))
    flops = 4 * B * H * T * T * D
    with torch.no_grad():
        yours = labkit.time_call(lambda: fwd(q, k, v), warmup=1, repeats=5, min_time_s=0.2)
        naive = labkit.time_call(lambda: _naive(q, k, v), warmup=1, repeats=5, min_time_s=0.2)
    return {"gflops": flops / yours.median_s / 1e9, "naive_gflops": flops / naive.median_s / 1e9,
            "forward_ms": yours.median_s * 1e3, "naive_ms": naive.median_s * 1e3,
            "score_matrix_mb": B * H * T * T * 4 / 2**20, "spread": yours.spread}
