"""Lab of unit `positional`: your RotaryEmbedding applied to q of shape (1, 8, 4096, 64) float32, as bandwidth.

Effective GB/s counts 8 bytes per element (read x, write the rotated x) over the median time (no
autograd). Peer: x * 1.5, one elementwise pass with a fresh output of the same size, timed in
the same run.
"""

import torch

from mentor.gate import labkit

B, H, T, D = 1, 8, 4096, 64  # 8 MiB of float32 per tensor: beyond most L2 and many L3 caches


def lab_rope_bandwidth(ctx):
    Rope = ctx.symbol("RotaryEmbedding")
    Rope(4, 8)(torch.ones(1, 2, 4), torch.arange(2))  # a stub fails here
    rope = Rope(D, T)
    g = ctx.torch_generator()
    x = torch.randn(B, H, T, D, generator=g)
    pos = torch.arange(T)
    moved = 2 * x.numel() * 4
    with torch.no_grad():
        yours = labkit.time_call(lambda: rope(x, pos), warmup=2, repeats=10, min_time_s=0.2)
        k = labkit.matched_batch(lambda: x * 1.5, yours.median_s)  # as long as your call: the same machine load
        peer = labkit.time_call(lambda: x * 1.5, warmup=1, repeats=5, min_time_s=0.1, batch=k)
    return {"gbps": moved / yours.median_s / 1e9, "mul_gbps": moved / peer.median_s / 1e9,
            "passes": yours.median_s / peer.median_s, "us": yours.median_s * 1e6}
