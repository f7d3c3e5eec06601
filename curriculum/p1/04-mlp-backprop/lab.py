"""Lab of unit `mlp-backprop`: your mlp_forward as one Linear (3072 -> 3072, float64) at N = 1 ... 128 rows.

FLOPs 2 N D K; bytes at least 8 (N D + D K + N K) (read X and W, write Z); arithmetic intensity is
their ratio. The memory roof of each point is the copy bandwidth measured in the same run times
that intensity; the figure predicted is the achieved GFLOP/s at N = 1.
"""

import numpy as np

from mentor.gate import labkit

D = K = 3072  # W is 72 MiB of float64: far beyond any cache, so N = 1 streams it from DRAM
SIZES = (1, 4, 16, 64, 128)


def lab_linear_roofline(ctx):
    forward = ctx.symbol("mlp_forward")
    forward({"W1": np.ones((3, 2)), "b1": np.zeros(2)}, np.ones((1, 3)))  # a stub fails here
    params = {"W1": ctx.rng.standard_normal((D, K)) * (2.0 / D) ** 0.5, "b1": np.zeros(K)}
    out = np.empty(D * K)
    flat = params["W1"].reshape(-1)
    copy = labkit.time_call(lambda: np.copyto(out, flat), warmup=1, repeats=3, min_time_s=0.1)
    copy_gbps = 2 * flat.nbytes / copy.median_s / 1e9
    gflops, roof, intensity = [], [], []
    for n in SIZES:
        X = ctx.rng.standard_normal((n, D))
        t = labkit.time_call(lambda: forward(params, X), warmup=1, repeats=2, min_time_s=0.05)
        flop = 2.0 * n * D * K
        ai = flop / (8.0 * (n * D + D * K + n * K))
        gflops.append(flop / t.median_s / 1e9)
        intensity.append(ai)
        roof.append(copy_gbps * ai)
    return {"gflops_n1": gflops[0], "gflops_nmax": gflops[-1], "intensity_n1": intensity[0],
            "intensity_nmax": intensity[-1], "copy_gbps": copy_gbps, "roof_n1": roof[0],
            "series": {"your mlp_forward": {"x": list(SIZES), "y": gflops},
                       "memory roof (copy GB/s x intensity)": {"x": list(SIZES), "y": roof}}}
