"""Lab of unit `int8-linear`: your QuantizedLinear against the float Linear it came from, one token at a time.

A 4096 x 4096 layer (64 MiB of float32 weights, 16 MiB as int8 plus 16 KiB of scales) at M = 1,
the shape of every Linear in a decode step, and at M = 256, the shape of a prefill. The figure is
the speed-up of your QuantizedLinear over your float Linear at M = 1; the bound is the ratio of
weight bytes, what a bandwidth-bound layer could gain at most.
"""

import itertools

import torch

from mentor.gate import labkit

D = 4096
COPIES = 4  # the int8 layer is 16 MiB, which a large L3 can hold: cycle through 4 copies (64 MiB), as
#             the float layer's 64 MiB, so both stream their weights from DRAM as in a real model


def lab_int8_speedup(ctx):
    QuantizedLinear = ctx.symbol("QuantizedLinear")
    Linear = ctx.learner_module("layers").Linear
    QuantizedLinear.from_float(Linear(8, 4))(torch.ones(1, 8))  # a stub fails here, before the big layer
    torch.manual_seed(ctx.seed)  # the layer's initialisation, reproducible from the recorded seed
    lin = Linear(D, D)
    qlins = [QuantizedLinear.from_float(lin) for _ in range(COPIES)]
    qlin = qlins[0]
    g = ctx.torch_generator()
    one, many = torch.randn(1, D, generator=g), torch.randn(256, D, generator=g)
    figures = {}
    with torch.inference_mode():
        for name, x, reps in (("m1", one, 5), ("m256", many, 2)):
            tf = labkit.time_call(lambda: lin(x), warmup=2, repeats=reps, min_time_s=0.1)
            layers = itertools.cycle(qlins)
            tq = labkit.time_call(lambda: next(layers)(x), warmup=2, repeats=reps, min_time_s=0.1)
            figures[f"speedup_{name}"] = tf.median_s / tq.median_s
            figures[f"float_ms_{name}"], figures[f"int8_ms_{name}"] = tf.median_s * 1e3, tq.median_s * 1e3
    float_bytes = lin.weight.numel() * lin.weight.element_size()
    int8_bytes = sum(b.numel() * b.element_size() for b in qlin.buffers())
    figures.update(bytes_ratio=float_bytes / int8_bytes, float_mib=float_bytes / 2**20, int8_mib=int8_bytes / 2**20,
                   float_gbps_m1=float_bytes / figures["float_ms_m1"] / 1e6,
                   int8_gbps_m1=int8_bytes / figures["int8_ms_m1"] / 1e6)
    return figures
