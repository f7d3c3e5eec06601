"""AdamW step time: reference_impl.optim.AdamW against torch.optim.AdamW (foreach=False, foreach=True, fused).

The parameter set mimics the non-embedding tensors of a GPT with d_model 512, 6 layers, d_ff 1376
(q, k, v, o, w1, w2, w3 and two norm vectors per layer, plus a final norm): 55 tensors, ~19.0M
parameters, float32, CPU. Every optimizer sees the same fixed gradients; one step is timed per
call (median of --steps after --warmup), the optimizers taking turns step by step. The effective
bandwidth assumes the ideal fused traffic of 28 bytes per parameter (read p, g, m, v; write p, m,
v), so it is a lower bound on what moved.

    python bench/bench_optim.py                # 1 thread (robust on a shared machine), 10 timed steps
    python bench/bench_optim.py --threads 2 --steps 20
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from reference_impl.optim import AdamW  # noqa: E402

D, LAYERS, D_FF = 512, 6, 1376


def shapes() -> list[tuple[int, ...]]:
    per_layer = [(D, D)] * 4 + [(D_FF, D), (D, D_FF), (D_FF, D), (D,), (D,)]
    return per_layer * LAYERS + [(D,)]


def make_params(seed: int = 0) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    params = [(0.02 * torch.randn(s, generator=g)).requires_grad_(True) for s in shapes()]
    grads = [torch.randn(s, generator=g) for s in shapes()]
    return params, grads


def time_interleaved(makers: list, warmup: int, steps: int) -> tuple[list[float], list[list[torch.Tensor]]]:
    """Median seconds per step of each optimizer, timed round-robin (one step of each per round) so that
    load from other processes on a shared machine hits all of them alike."""
    runs = []
    for make in makers:
        params, grads = make_params()
        for p, gr in zip(params, grads):
            p.grad = gr
        runs.append((make(params), params))
    times: list[list[float]] = [[] for _ in runs]
    for i in range(warmup + steps):
        for k, (opt, _) in enumerate(runs):
            t0 = time.perf_counter()
            opt.step()
            if i >= warmup:
                times[k].append(time.perf_counter() - t0)
    return [statistics.median(t) for t in times], [params for _, params in runs]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    n = sum(torch.Size(s).numel() for s in shapes())
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {args.threads} threads, "
          f"{len(shapes())} tensors, {n:,} parameters (fp32)")
    kw = dict(lr=1e-3, weight_decay=0.1)
    variants = [
        ("reference AdamW (per tensor)", lambda ps: AdamW(ps, **kw)),
        ("torch AdamW foreach=False", lambda ps: torch.optim.AdamW(ps, foreach=False, **kw)),
        ("torch AdamW foreach=True", lambda ps: torch.optim.AdamW(ps, foreach=True, **kw)),
    ]
    try:
        torch.optim.AdamW([torch.zeros(1, requires_grad=True)], fused=True)
        variants.append(("torch AdamW fused=True", lambda ps: torch.optim.AdamW(ps, fused=True, **kw)))
    except (RuntimeError, TypeError, ValueError):
        pass
    secs, finals = time_interleaved([make for _, make in variants], args.warmup, args.steps)
    results = [(name, t) for (name, _), t in zip(variants, secs)]
    base = results[1][1]
    print(f"\n| optimizer | ms / step | GB/s (28 B/param) | vs foreach=False |\n|---|---|---|---|")
    for name, t in results:
        print(f"| {name} | {t * 1e3:.1f} | {28 * n / t / 1e9:.1f} | {base / t:.2f}x |")
    err = max(float((a - b).detach().abs().max()) for a, b in zip(finals[0], finals[1]))
    print(f"\nmax |reference - torch foreach=False| after {args.warmup + args.steps} steps: {err:.3g}")


if __name__ == "__main__":
    main()
