"""Lab of unit `train-mlp`: your sgd_momentum_step on 4 Mi float64 parameters, as effective bandwidth.

One step must read p, g and v and write v and p: 5 x 8 = 40 bytes per parameter. The figure is
those bytes over the median time of a step. Peer: a copy of the parameters into an existing array.
"""

import numpy as np

from mentor.gate import labkit

SHAPES = {"W1": (1024, 2048), "b1": (2048,), "W2": (2048, 1024), "b2": (1024,)}


def lab_update_bandwidth(ctx):
    step = ctx.symbol("sgd_momentum_step")
    step({"w": np.ones(2)}, {"w": np.ones(2)}, {"w": np.zeros(2)}, 0.1)  # a stub fails here
    params = {k: ctx.rng.standard_normal(s) for k, s in SHAPES.items()}
    grads = {k: ctx.rng.standard_normal(s) * 1e-3 for k, s in SHAPES.items()}
    velocity = {k: np.zeros(s) for k, s in SHAPES.items()}
    n = sum(p.size for p in params.values())
    t = labkit.time_call(lambda: step(params, grads, velocity, 1e-3, 0.9), warmup=1, repeats=5, min_time_s=0.2)
    src = np.concatenate([p.reshape(-1) for p in params.values()])
    out = np.empty_like(src)
    out.fill(0)
    copy = labkit.time_call(lambda: np.copyto(out, src), warmup=1, repeats=5, min_time_s=0.1)
    return {"gbps": 40 * n / t.median_s / 1e9, "copy_gbps": 2 * src.nbytes / copy.median_s / 1e9,
            "ms_per_step": t.median_s * 1e3, "params": n, "bytes_per_param": 40}
