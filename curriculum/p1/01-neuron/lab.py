"""Lab of unit `neuron`: your relu over 2^25 float32 values, as achieved bandwidth.

ReLU does one comparison per element and moves 8 bytes (4 read, 4 written): its time is memory
traffic. The figure counts those 8 bytes per element, as STREAM counts a copy (no write-allocate,
no page faults), so it is comparable with the one-core copy bandwidth of the machine profile. The
peer is np.copyto of the same array into a buffer that already exists, measured in the same run.
"""

import numpy as np

from mentor.gate import labkit

N = 1 << 25  # 128 MiB per float32 array: far beyond any L3 cache, small enough for the sandbox's memory limit


def lab_relu_bandwidth(ctx):
    relu = ctx.symbol("relu")
    relu(np.zeros(4, dtype=np.float32))  # a stub fails here, before the big arrays are made
    z = ctx.rng.standard_normal(N, dtype=np.float32)
    moved = 2 * z.nbytes  # read z once, write the result once
    yours = labkit.time_call(lambda: relu(z), warmup=1, repeats=5, min_time_s=0.3)
    out = np.empty_like(z)
    out.fill(0)  # touch every page: the copy below writes to memory that already exists
    peer = labkit.time_call(lambda: np.copyto(out, z), warmup=1, repeats=5, min_time_s=0.3)
    return {"gbps": moved / yours.median_s / 1e9, "copy_gbps": moved / peer.median_s / 1e9,
            "relu_ms": yours.median_s * 1e3, "copy_ms": peer.median_s * 1e3, "spread": yours.spread,
            "bytes": moved, "elements": N}
