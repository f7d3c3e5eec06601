"""Lab of unit `norms`: your eager RMSNorm's forward over (4096, 1024) float32, as effective bandwidth.

Effective GB/s counts the minimum traffic, 8 bytes per element (read x, write y), over the median
time (no autograd). Peers in the same run: torch's F.rms_norm on the same input and weight, and
a copy of x into an existing tensor (one memory pass).
"""

import torch
import torch.nn.functional as F

from mentor.gate import labkit

ROWS, D = 4096, 1024  # 16 MiB of float32: beyond most laptop caches, below glibc's 32 MiB mmap threshold


def lab_rmsnorm_traffic(ctx):
    RMSNorm = ctx.symbol("RMSNorm")
    RMSNorm(4)(torch.ones(2, 4))  # a stub fails here
    norm = RMSNorm(D)
    g = ctx.torch_generator()
    x = torch.randn(ROWS, D, generator=g)
    w = norm.weight.detach().clone()
    moved = 2 * x.numel() * 4
    out = torch.empty_like(x)
    with torch.no_grad():
        yours = labkit.time_call(lambda: norm(x), warmup=2, repeats=5, min_time_s=0.2)
        builtin = labkit.time_call(lambda: F.rms_norm(x, (D,), w, 1e-5), warmup=2, repeats=5, min_time_s=0.2)
        k = labkit.matched_batch(lambda: out.copy_(x), yours.median_s)  # as long as your call: the same machine load
        copy = labkit.time_call(lambda: out.copy_(x), warmup=1, repeats=5, min_time_s=0.1, batch=k)
    return {"gbps": moved / yours.median_s / 1e9, "builtin_gbps": moved / builtin.median_s / 1e9,
            "copy_gbps": moved / copy.median_s / 1e9, "ratio_to_builtin": yours.median_s / builtin.median_s,
            "ms": yours.median_s * 1e3, "builtin_ms": builtin.median_s * 1e3}
