"""Lab of unit `adamw`: one step of your AdamW over 8M float32 parameters, as achieved bandwidth.

Per parameter an AdamW step reads p, grad, exp_avg, exp_avg_sq (16 bytes) and writes p, exp_avg,
exp_avg_sq (12 bytes): at least 28 bytes of traffic for ~15 FLOPs, so it is memory-bound. The
figure counts those 28 bytes per parameter; the peer is torch.optim.AdamW (foreach=False, the
per-tensor loop) on the same parameters, measured in the same run.
"""

import torch

from mentor.gate import labkit

SHAPES = [(2048, 1024)] * 4  # 8M parameters, 32 MiB each for p, grad, exp_avg, exp_avg_sq: beyond the caches


def _params(g):
    ps = [torch.nn.Parameter(torch.randn(*s, generator=g) * 0.02) for s in SHAPES]
    for p in ps:
        p.grad = torch.randn(p.shape, generator=g) * 1e-3
    return ps


def lab_adamw_bandwidth(ctx):
    AdamW = ctx.symbol("AdamW")
    probe = torch.nn.Parameter(torch.ones(3))
    probe.grad = torch.ones(3)
    AdamW([probe], lr=1e-3).step()  # a stub fails here
    g = ctx.torch_generator()
    mine, ref = _params(g), _params(g)
    n = sum(p.numel() for p in mine)
    opt = AdamW(mine, lr=1e-3, weight_decay=0.1)
    peer = torch.optim.AdamW(ref, lr=1e-3, weight_decay=0.1, foreach=False)
    with torch.no_grad():
        yours = labkit.time_call(opt.step, warmup=1, repeats=5, min_time_s=0.2)
        theirs = labkit.time_call(peer.step, warmup=1, repeats=5, min_time_s=0.2)
    moved = 28 * n
    return {"gbps": moved / yours.median_s / 1e9, "torch_gbps": moved / theirs.median_s / 1e9,
            "step_ms": yours.median_s * 1e3, "torch_step_ms": theirs.median_s * 1e3, "params": n,
            "spread": yours.spread}
