"""Lab of unit `kv-cache`: your generate() with and without the cache, as a speed-up.

A small GPT of yours (vocabulary 256, d_model 128, 2 layers, 4 heads, context 128), a 16-token
prompt and 112 greedy new tokens. Without the cache step t runs the whole prefix (16 + t tokens)
through the model; with it, one token. The figure is the measured speed-up; the bound is the
ratio of tokens pushed through the model, which the speed-up would reach if time were
proportional to tokens processed.
"""

import torch

from mentor.gate import labkit

CFG = dict(vocab_size=256, context_length=128, d_model=128, n_layers=2, n_heads=4, d_ff=352)
T0, NEW = 16, 112


def lab_cache_speedup(ctx):
    generate = ctx.symbol("generate")
    GPT = ctx.learner_module("model").GPT
    torch.manual_seed(ctx.seed)
    model = GPT(**CFG).eval()
    prompt = torch.randint(0, CFG["vocab_size"], (1, T0), generator=ctx.torch_generator())
    generate(model, prompt[:, :2], 2)  # a stub fails here, in milliseconds
    with torch.no_grad():
        cached = labkit.time_call(lambda: generate(model, prompt, NEW, use_cache=True), warmup=1, repeats=3, min_time_s=0.1)
        full = labkit.time_call(lambda: generate(model, prompt, NEW, use_cache=False), warmup=1, repeats=3, min_time_s=0.1)
    tokens_without = sum(T0 + t for t in range(NEW))  # every step re-runs the prefix
    tokens_with = T0 + NEW - 1  # the prompt once, then one token per step
    return {"speedup": full.median_s / cached.median_s, "token_ratio": tokens_without / tokens_with,
            "cached_ms": cached.median_s * 1e3, "uncached_ms": full.median_s * 1e3,
            "cached_ms_per_token": cached.median_s * 1e3 / NEW}
