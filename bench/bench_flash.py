"""Benchmark the PyTorch reference FlashAttention forward against naive attention and SDPA (CPU).

At (B, H, T, d) = (1, 12, 2048, 64) float32, causal:
(a) peak extra resident memory of one forward, each method in a fresh subprocess: the kernel's
    peak-RSS mark (VmHWM) is reset to the current RSS right before the call (/proc/self/clear_refs,
    Linux >= 4.0; ru_maxrss otherwise), the inputs already built and the method warmed up on a
    small T; extra = VmHWM after - RSS before. Goal: flash <= 1/16 of naive.
(b) max abs error of flash and SDPA against naive float32 attention (and all three against
    float64 attention). Goal: flash <= 1e-5.
(c) wall time, best of --repeat, all three in the same process with the same thread count.

Naive attention is the course's own: scores = q k^T / sqrt(d), masked_fill of a (T, T) causal
mask, a max-subtracted softmax, @ v: it holds several (B, H, T, T) tensors at once.

    python bench/bench_flash.py [--threads 1] [--repeat 3] [--T 2048]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from reference_impl.flash_attention import flash_attention_forward  # noqa: E402

SHAPE = (1, 12, 2048, 64)


def naive(q, k, v):
    T = q.shape[-2]
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, H, T, T)
    s = s.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
    e = torch.exp(s - s.amax(dim=-1, keepdim=True))
    return (e / e.sum(dim=-1, keepdim=True)) @ v


def flash(q, k, v):
    return flash_attention_forward(q, k, v, is_causal=True)[0]


def sdpa(q, k, v):
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


METHODS = {"naive": naive, "flash": flash, "sdpa": sdpa}


def inputs(shape, dtype=torch.float32):
    g = torch.Generator().manual_seed(0)
    return tuple(torch.randn(*shape, generator=g, dtype=dtype) for _ in range(3))


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def child(method: str, shape: tuple[int, ...], threads: int) -> None:
    """Print the peak extra RSS (MiB) of one call of `method`, in this fresh process."""
    torch.set_num_threads(threads)
    fn = METHODS[method]
    small = inputs((1, 2, 128, shape[-1]))
    fn(*small)  # load and warm up the kernels
    q, k, v = inputs(shape)
    with torch.no_grad():
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # VmHWM := VmRSS
            before, how = _rss_kib("VmRSS"), "VmHWM"
        except OSError:
            before, how = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "ru_maxrss"
        o = fn(q, k, v)
        after = _rss_kib("VmHWM") if how == "VmHWM" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"method": method, "extra_mib": (after - before) / 1024, "how": how, "out_mib": o.numel() * 4 / 2**20}))


def peak_extra(method: str, shape, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--child", method, "--T", str(shape[2]), "--threads", str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def best_time(fn, args, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--T", type=int, default=SHAPE[2])
    ap.add_argument("--child", choices=list(METHODS))
    a = ap.parse_args()
    shape = (SHAPE[0], SHAPE[1], a.T, SHAPE[3])
    if a.child:
        child(a.child, shape, a.threads)
        return 0
    torch.set_num_threads(a.threads)
    B, H, T, d = shape
    print(f"shape (B, H, T, d) = {shape}, float32, causal, {a.threads} thread(s), torch {torch.__version__}")
    print(f"one (B, H, T, T) float32 tensor: {B * H * T * T * 4 / 2**20:.0f} MiB; o: {B * H * T * d * 4 / 2**20:.0f} MiB")

    mem = {m: peak_extra(m, shape, a.threads) for m in METHODS}
    q, k, v = inputs(shape)
    with torch.no_grad():
        outs = {m: fn(q, k, v) for m, fn in METHODS.items()}
        ref64 = naive(q.double(), k.double(), v.double())
        times = {m: best_time(fn, (q, k, v), a.repeat) for m, fn in METHODS.items()}
    print(f"\n{'method':<8} {'time (s)':>9} {'vs naive':>9} {'peak extra RSS (MiB)':>21} {'/ naive':>8} "
          f"{'max|err| vs naive fp32':>23} {'max|err| vs fp64':>17}")
    for m in METHODS:
        err32 = (outs[m] - outs["naive"]).abs().max().item()
        err64 = (outs[m].double() - ref64).abs().max().item()
        print(f"{m:<8} {times[m]:>9.3f} {times['naive'] / times[m]:>8.2f}x {mem[m]['extra_mib']:>21.1f} "
              f"{mem[m]['extra_mib'] / mem['naive']['extra_mib']:>8.3f} {err32:>23.2e} {err64:>17.2e}")
    ratio = mem["flash"]["extra_mib"] / mem["naive"]["extra_mib"]
    err = (outs["flash"] - outs["naive"]).abs().max().item()
    print(f"\nmemory measured with {mem['flash']['how']}; goal flash <= 1/16 of naive: {ratio:.4f} "
          f"({'met' if ratio <= 1 / 16 else 'NOT met'}); goal max|err| <= 1e-5: {err:.2e} ({'met' if err <= 1e-5 else 'NOT met'})")
    return 0 if ratio <= 1 / 16 and err <= 1e-5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
