"""Lab of unit `system-audit`: your arithmetic_intensity as the roofline of a measured matmul sweep.

A (M, 4096) @ (4096, 4096) float32 matmul for M = 1 ... 64 (the weight is 64 MiB; the sweep goes
from a decode step's matrix-vector product to a prefill's matrix-matrix product). At each M the
lab measures GFLOP/s and asks your arithmetic_intensity(M, 4096, 4096, 4) for the FLOP per byte;
the memory roof of each point is this run's copy bandwidth times your intensity. The figure
predicted is the measured GFLOP/s at M = 1; the bound is your intensity at M = 1 times the one-core
bandwidth of the machine profile.
"""

import torch

from mentor.gate import labkit

N = K = 4096  # the weight is 64 MiB: beyond the L3 cache, so M = 1 streams it from DRAM
SIZES = (1, 4, 16, 64)


def lab_matmul_roofline(ctx):
    intensity = ctx.symbol("arithmetic_intensity")
    intensity(1, 2, 2, 4)  # a stub fails here
    g = ctx.torch_generator()
    w = torch.randn(K, N, generator=g)
    flat = w.reshape(-1)
    out = torch.empty_like(flat)
    copy = labkit.time_call(lambda: out.copy_(flat), warmup=1, repeats=3, min_time_s=0.1)
    copy_gbps = 2 * flat.numel() * 4 / copy.median_s / 1e9
    measured, roof, ai = [], [], []
    with torch.inference_mode():
        for m in SIZES:
            x = torch.randn(m, K, generator=g)
            t = labkit.time_call(lambda: x @ w, warmup=1, repeats=3, min_time_s=0.05)
            measured.append(2.0 * m * N * K / t.median_s / 1e9)
            ai.append(float(intensity(m, N, K, 4)))
            roof.append(copy_gbps * ai[-1])
    return {"gflops_m1": measured[0], "gflops_m64": measured[-1], "intensity_m1": ai[0], "intensity_m64": ai[-1],
            "copy_gbps": copy_gbps, "roof_m1": roof[0],
            "series": {"measured matmul": {"x": list(SIZES), "y": measured},
                       "memory roof (copy GB/s x your intensity)": {"x": list(SIZES), "y": roof}}}
