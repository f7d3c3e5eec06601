"""Lab of unit `cpu-inference`: your benchmark() on your GPT of the course's INT8 benchmark shape.

The model: vocabulary 256, context 256, d_model 512, 6 layers, 8 heads, d_ff 1344 (~19M
parameters, 72 MiB of float32 weights: beyond the L3 cache of a laptop), random weights (speed does
not depend on them). The figure is your benchmark's decode tokens/s at batch 1 with the KV cache;
the peer is its prefill tokens/s. The bound is one-core bandwidth over the bytes a decode step
must read: every weight once.
"""

import torch

from mentor.gate import labkit  # noqa: F401  (the same import every lab makes before learner code)

CFG = dict(vocab_size=256, context_length=256, d_model=512, n_layers=6, n_heads=8, d_ff=1344)


def lab_decode_tokens_per_s(ctx):
    benchmark = ctx.symbol("benchmark")
    GPT = ctx.learner_module("model").GPT
    tiny = GPT(vocab_size=16, context_length=8, d_model=8, n_layers=1, n_heads=2, d_ff=16).eval()
    benchmark(tiny, prompt_len=2, new_tokens=2)  # a stub fails here, before the big model is made
    torch.manual_seed(ctx.seed)
    model = GPT(**CFG).eval()
    runs = [benchmark(model, prompt_len=64, new_tokens=48) for _ in range(3)]
    decode = sorted(r["decode_tokens_per_s"] for r in runs)[1]  # the median of three runs
    prefill = sorted(r["prefill_tokens_per_s"] for r in runs)[1]
    weight_bytes = sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers()))
    return {"decode_tps": decode, "prefill_tps": prefill, "weight_bytes": weight_bytes,
            "weight_mib": weight_bytes / 2**20, "reported_weight_bytes": runs[0]["weight_bytes"],
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            "achieved_gbps": decode * weight_bytes / 1e9}
