"""Lab of unit `losses`: your softmax over a (4096, 1024) float64 array, in nanoseconds per element.

Peers measured in the same run: np.exp of the same array into an existing buffer (the cost of the
transcendental alone) and np.copyto (one pure memory pass, 16 bytes per float64 element).
"""

import numpy as np

from mentor.gate import labkit

ROWS, COLS = 4096, 1024  # 4 Mi float64 = 32 MiB: larger than the caches of a laptop


def lab_softmax_ns(ctx):
    softmax = ctx.symbol("softmax")
    softmax(np.zeros((2, 3)))  # a stub fails here, before the big array is made
    z = ctx.rng.standard_normal((ROWS, COLS)) * 3.0
    n = z.size
    yours = labkit.time_call(lambda: softmax(z), warmup=1, repeats=5, min_time_s=0.3)
    out = np.empty_like(z)
    out.fill(0)
    exp = labkit.time_call(lambda: np.exp(z, out=out), warmup=1, repeats=5, min_time_s=0.2)
    copy = labkit.time_call(lambda: np.copyto(out, z), warmup=1, repeats=5, min_time_s=0.2)
    return {"ns_per_elem": yours.median_s / n * 1e9, "exp_ns_per_elem": exp.median_s / n * 1e9,
            "copy_ns_per_elem": copy.median_s / n * 1e9, "spread": yours.spread, "elements": n,
            "bytes_per_elem": 16}
