"""Lab of unit `multihead`: your MultiHeadSelfAttention forward at d_model 256, 4 heads, T 512, in GFLOP/s.

FLOPs counted: four projections 4 * 2 B T d^2 and the two attention products 2 * 2 B T^2 d (the
full T x T, as eager code computes it before masking); no autograd. Bound: torch.mm on the
projection's shape (T, d) x (d, d) in the same run; peer: the four projections alone as torch.mm.
"""

import torch

from mentor.gate import labkit

B, T, D, H = 1, 512, 256, 4


def lab_mhsa_gflops(ctx):
    MHSA = ctx.symbol("MultiHeadSelfAttention")
    MHSA(8, 2, 16)(torch.ones(1, 4, 8))  # a stub fails here
    torch.manual_seed(ctx.subseed % 2**31)
    attn = MHSA(D, H, T)
    g = ctx.torch_generator()
    x = torch.randn(B, T, D, generator=g)
    w = torch.randn(D, D, generator=g)
    x2 = x.reshape(T, D)
    proj_flop = 4 * 2.0 * B * T * D * D
    attn_flop = 2 * 2.0 * B * T * T * D
    with torch.no_grad():
        yours = labkit.time_call(lambda: attn(x), warmup=2, repeats=5, min_time_s=0.2)
        k = labkit.matched_batch(lambda: torch.mm(x2, w), yours.median_s)  # as long as your call: the same machine load
        mm = labkit.time_call(lambda: torch.mm(x2, w), warmup=1, repeats=5, min_time_s=0.1, batch=k)
    mm_gflops = 2.0 * T * D * D / mm.median_s / 1e9
    return {"gflops": (proj_flop + attn_flop) / yours.median_s / 1e9, "mm_gflops": mm_gflops,
            "projections_ms_at_mm_speed": proj_flop / mm_gflops / 1e6, "ms": yours.median_s * 1e3,
            "attention_flop_share": attn_flop / (proj_flop + attn_flop)}
