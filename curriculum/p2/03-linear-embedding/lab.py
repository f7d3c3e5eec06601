"""Lab of unit `linear-embedding`: your Linear's forward at (2048, 1024) -> 1024 float32, in GFLOP/s.

2 N d_in d_out FLOPs over the median time (no autograd). Peer and bound: torch.mm on the same
shapes in the same run (the BLAS kernel your x @ W.T ends up in), and your Embedding's lookup of
2048 rows as bandwidth.
"""

import torch

from mentor.gate import labkit

N, DIN, DOUT, V = 2048, 1024, 1024, 8192


def lab_linear_gflops(ctx):
    Linear, Embedding = ctx.symbol("Linear"), ctx.symbol("Embedding")
    Linear(2, 3)(torch.ones(1, 2))  # a stub fails here
    Embedding(4, 2)(torch.zeros(1, dtype=torch.long))
    torch.manual_seed(ctx.subseed % 2**31)
    lin = Linear(DIN, DOUT)
    g = ctx.torch_generator()
    x = torch.randn(N, DIN, generator=g)
    w = lin.weight.detach().clone()
    flop = 2.0 * N * DIN * DOUT
    emb = Embedding(V, DIN)
    ids = torch.randint(0, V, (N,), generator=g)
    with torch.no_grad():
        yours = labkit.time_call(lambda: lin(x), warmup=2, repeats=5, min_time_s=0.2)
        peer = labkit.time_call(lambda: torch.mm(x, w.t()), warmup=2, repeats=5, min_time_s=0.2)
        look = labkit.time_call(lambda: emb(ids), warmup=2, repeats=5, min_time_s=0.1)
    return {"gflops": flop / yours.median_s / 1e9, "mm_gflops": flop / peer.median_s / 1e9,
            "embedding_gbps": 2 * N * DIN * 4 / look.median_s / 1e9, "intensity": flop / (4.0 * (N * DIN + DIN * DOUT + N * DOUT))}
