"""Lab of unit `int8-quant`: your quantize_per_token over a (1024, 4096) float32 activation, as GB/s.

Useful traffic: read 4 bytes and write 1 byte per element (the scales, 4 bytes per row, are noise),
5 bytes per element in all. Peer: torch.clone of the same tensor (8 bytes per element, one pass,
no work), measured in the same run. The gap is the eager temporaries: abs, the division and the
rounding each write a full float32 tensor before the int8 result exists.
"""

import torch

from mentor.gate import labkit

M, K = 1024, 4096  # 16 MiB of float32 activations: beyond the L2 caches, most L3s on a laptop


def lab_quantize_bandwidth(ctx):
    quantize = ctx.symbol("quantize_per_token")
    quantize(torch.ones(2, 4))  # a stub fails here, before the big tensor is made
    g = ctx.torch_generator()
    x = torch.randn(M, K, generator=g)
    useful = 5 * x.numel()  # read float32 x, write int8 q
    yours = labkit.time_call(lambda: quantize(x), warmup=1, repeats=3, min_time_s=0.15)
    peer = labkit.time_call(lambda: x.clone(), warmup=1, repeats=3, min_time_s=0.15)
    q, scale = quantize(x)
    return {"gbps": useful / yours.median_s / 1e9, "clone_gbps": 8 * x.numel() / peer.median_s / 1e9,
            "quantize_ms": yours.median_s * 1e3, "clone_ms": peer.median_s * 1e3, "spread": yours.spread,
            "int8_out": float(q.dtype == torch.int8), "passes_equivalent": (yours.median_s / peer.median_s) * 8 / 5}
