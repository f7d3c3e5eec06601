"""Lab of unit `train-loop`: your train() on a small GPT, as model FLOP utilisation.

Your GPT (vocabulary 256, d_model 192, 3 layers, 6 heads, context 128) and your AdamW, trained
for 14 iterations of 8 x 128 tokens on random ids by your train(). The time per iteration is read
from your callback's rows (iterations 2 .. 13, so setup and the first steps do not count).
Achieved GFLOP/s = 6 x parameters x tokens per second (the standard count: 2 forward, 4 backward
per parameter per token; attention's T^2 terms are left out, ~10% at this shape).
"""

import time

import numpy as np
import torch

from mentor.gate import labkit  # noqa: F401  (the same import every lab makes before learner code)

CFG = dict(vocab_size=256, context_length=128, d_model=192, n_layers=3, n_heads=6, d_ff=512)
B, T, ITERS = 8, 128, 14


def lab_train_mfu(ctx):
    train = ctx.symbol("train")
    GPT = ctx.learner_module("model").GPT
    AdamW = ctx.learner_module("optim").AdamW
    torch.manual_seed(ctx.seed)
    model = GPT(**CFG)
    opt = AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    data = ctx.rng.integers(0, CFG["vocab_size"], 200_000).astype(np.uint16)
    stamps = []
    train(model, opt, data, data[:20_000], batch_size=B, context_length=T, max_iters=ITERS, lr_max=1e-3, lr_min=1e-4,
          warmup_iters=2, eval_interval=10_000, eval_iters=1, seed=0,
          callback=lambda row: stamps.append((row["iter"], time.perf_counter())))
    rows = {i: t for i, t in stamps}
    lo, hi = 2, ITERS - 1
    per_iter = (rows[hi] - rows[lo]) / (hi - lo)
    n = sum(p.numel() for p in model.parameters())
    tokens_per_s = B * T / per_iter
    return {"gflops": 6 * n * tokens_per_s / 1e9, "tokens_per_s": tokens_per_s, "iter_ms": per_iter * 1e3,
            "params": n, "flops_per_token": 6 * n}
