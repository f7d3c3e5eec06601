"""Lab of unit `ffn`: your SwiGLU forward on (1024, 512) float32 with d_ff = 1376, in GFLOP/s.

3 matmuls of 2 N d d_ff FLOPs each (the SiLU and the product are negligible) over the median
time, no autograd. Bound: the same three products with torch.mm on the same tensors in this run.
"""

import torch

from mentor.gate import labkit

N, D, DFF = 1024, 512, 1376


def lab_swiglu_gflops(ctx):
    SwiGLU = ctx.symbol("SwiGLU")
    SwiGLU(4, 8)(torch.ones(1, 4))  # a stub fails here
    torch.manual_seed(ctx.subseed % 2**31)
    ffn = SwiGLU(D, DFF)
    g = ctx.torch_generator()
    x = torch.randn(N, D, generator=g)
    w1, w2, w3 = (m.weight.detach().clone() for m in (ffn.w1, ffn.w2, ffn.w3))
    flop = 3 * 2.0 * N * D * DFF

    def three_mm():
        a = torch.mm(x, w1.t())
        b = torch.mm(x, w3.t())
        return torch.mm(a * b, w2.t())

    with torch.no_grad():
        yours = labkit.time_call(lambda: ffn(x), warmup=2, repeats=5, min_time_s=0.2)
        peer = labkit.time_call(three_mm, warmup=2, repeats=5, min_time_s=0.2)
    return {"gflops": flop / yours.median_s / 1e9, "mm_gflops": flop / peer.median_s / 1e9,
            "ms": yours.median_s * 1e3, "flop": flop}
