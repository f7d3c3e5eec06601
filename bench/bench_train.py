"""Training throughput: the reference train() on the reference GPT vs the same loop from torch built-ins.

Both sides train the same shapes from the same initial weights on the same batches (byte ids of
the generated story corpus; the batches of iteration it come from np.random.default_rng([seed, 0,
it]) on both sides):
  reference: reference_impl.train.train with reference_impl.model.GPT (own Linear/Embedding,
             softmax attention with an explicit (T, T) mask, own RMSNorm, RoPE), reference
             cross_entropy, clip_grad_norm, cosine_lr, get_batch and reference_impl.optim.AdamW
  built-in:  bench_gpt.BuiltinGPT (nn.Embedding, nn.Linear, F.rms_norm,
             F.scaled_dot_product_attention(is_causal=True), F.silu) in a plain loop with
             F.cross_entropy, torch.nn.utils.clip_grad_norm_ and torch.optim.AdamW(foreach=True)
Tokens/s = B * T * grad_accum_steps / median iteration time, over the iterations after the warm-up
ones (the final evaluation is excluded). The two sides alternate, twice each. CPU:

    python bench/bench_train.py --threads 2
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from bench_gpt import BuiltinGPT  # noqa: E402
from mentor.corpus import generate_corpus  # noqa: E402
from reference_impl.model import GPT  # noqa: E402
from reference_impl.optim import AdamW  # noqa: E402
from reference_impl.train import train  # noqa: E402

CONFIGS = [
    dict(name="tiny", vocab_size=256, context_length=128, d_model=128, n_layers=2, n_heads=4, d_ff=352, B=8, accum=1),
    dict(name="small", vocab_size=256, context_length=256, d_model=256, n_layers=4, n_heads=8, d_ff=688, B=4, accum=2),
]
LR = dict(lr_max=1e-3, lr_min=1e-4, warmup_iters=2)


def _lr(it, total):
    w, hi, lo = LR["warmup_iters"], LR["lr_max"], LR["lr_min"]
    return hi * it / w if it < w else lo + 0.5 * (1 + math.cos(math.pi * (it - w) / (total - w))) * (hi - lo)


def run_reference(cfg, data, iters, seed):
    c = {k: cfg[k] for k in ("vocab_size", "context_length", "d_model", "n_layers", "n_heads", "d_ff")}
    torch.manual_seed(0)
    model = GPT(**c)
    opt = AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    stamps = [time.perf_counter()]
    out = train(model, opt, data, data, batch_size=cfg["B"], context_length=cfg["context_length"], max_iters=iters,
                grad_accum_steps=cfg["accum"], eval_interval=10 ** 9, eval_iters=1, seed=seed,
                callback=lambda row: stamps.append(time.perf_counter()), **LR)
    return [b - a for a, b in zip(stamps, stamps[1:])][:-1], [r["train_loss"] for r in out["history"]]


def run_builtin(cfg, data, iters, seed):
    c = {k: cfg[k] for k in ("vocab_size", "context_length", "d_model", "n_layers", "n_heads", "d_ff")}
    torch.manual_seed(0)
    ref = GPT(**c)
    model = BuiltinGPT(**c)
    model.load_reference(ref.state_dict())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1, foreach=True)
    T, B, k = cfg["context_length"], cfg["B"], cfg["accum"]
    times, losses = [], []
    for it in range(iters):
        t0 = time.perf_counter()
        for g in opt.param_groups:
            g["lr"] = _lr(it, iters)
        rng = np.random.default_rng([seed, 0, it])
        total = 0.0
        for _ in range(k):
            s = rng.integers(0, len(data) - T, size=B)
            win = torch.from_numpy(data[s[:, None] + np.arange(T + 1)].astype(np.int64))  # (B, T + 1)
            loss = F.cross_entropy(model(win[:, :-1]).flatten(0, 1), win[:, 1:].flatten()) / k
            loss.backward()
            total += loss.item()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t0)
        losses.append(total)
    return times, losses


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=12)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    text = generate_corpus(2_000_000, seed=0)
    data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.uint16)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, threads={torch.get_num_threads()}, "
          f"date {time.strftime('%Y-%m-%d')}, {len(data):,} byte tokens")
    print(f"{'config':7s} {'params':>9s} {'tokens/iter':>11s} {'side':>9s} {'run 1 tok/s':>11s} {'run 2 tok/s':>11s} "
          f"{'loss it 0 -> last':>18s}")
    for cfg in CONFIGS:
        n = sum(p.numel() for p in GPT(**{k: cfg[k] for k in ("vocab_size", "context_length", "d_model", "n_layers",
                                                                "n_heads", "d_ff")}).parameters())
        tokens = cfg["B"] * cfg["context_length"] * cfg["accum"]
        res = {"reference": [], "built-in": []}
        for _ in range(2):
            for side, fn in (("reference", run_reference), ("built-in", run_builtin)):
                times, losses = fn(cfg, data, args.iters, seed=1)
                res[side].append((tokens / statistics.median(times[args.warmup:]), losses))
        for side, runs in res.items():
            (a, la), (b, _) = runs
            print(f"{cfg['name']:7s} {n:9,d} {tokens:11,d} {side:>9s} {a:11,.0f} {b:11,.0f} {la[0]:8.3f} -> {la[-1]:.3f}")
        ratio = statistics.mean(r[0] for r in res["reference"]) / statistics.mean(r[0] for r in res["built-in"])
        print(f"{cfg['name']:7s} reference / built-in tokens/s: {ratio:.2f}")


if __name__ == "__main__":
    main()
