"""Benchmark the Triton FlashAttention forward (reference_impl.flash_triton) against PyTorch's SDPA.

Forward only, bf16, d = 64, B * H fixed at 16 (B=1, H=16), T = 1K, 2K, 4K, 8K, 16K, causal and not.
For each T: max |error| of the Triton kernel against F.scaled_dot_product_attention (itself a fused
FlashAttention kernel on recent GPUs, measured in the same run), then the time of each
(CUDA events, median of --iters after --warmup, first-call compilation excluded) as tokens/s
(B * T query tokens per call) and the achieved TFLOP/s (4 * B * H * T^2 * d, halved when causal).

CUDA only: without a GPU it prints why and exits 0 (the interpreter measures nothing useful).

    python bench/bench_flash_triton.py [--lengths 1024 2048 4096 8192 16384] [--iters 20]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def timed_ms(fn, warmup: int, iters: int) -> float:
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return sorted(times)[len(times) // 2]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", type=int, nargs="+", default=[1024, 2048, 4096, 8192, 16384])
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--iters", type=int, default=20)
    args = ap.parse_args()

    if not torch.cuda.is_available():
        print("bench_flash_triton: no CUDA GPU visible; this benchmark measures the compiled kernel on a GPU "
              "(under TRITON_INTERPRET=1 it would only time NumPy). Nothing measured.")
        return 0
    try:
        from reference_impl.flash_triton import flash_attention_triton
    except ImportError as e:
        print(f"bench_flash_triton: {e}; install the extra: pip install 'mentor[triton]'")
        return 0

    B, H, d = args.batch, args.heads, args.d
    print(f"GPU: {torch.cuda.get_device_name()}  torch {torch.__version__}  bf16  B={B} H={H} d={d}")
    print(f"{'T':>6} {'causal':>6} {'max err':>9} {'triton ms':>10} {'sdpa ms':>9} {'triton tok/s':>13} "
          f"{'sdpa tok/s':>12} {'triton TF/s':>11} {'sdpa TF/s':>9} {'triton/sdpa':>11}")
    g = torch.Generator(device="cuda").manual_seed(0)
    for T in args.lengths:
        q, k, v = (torch.randn(B, H, T, d, device="cuda", dtype=torch.bfloat16, generator=g) for _ in range(3))
        for causal in (False, True):
            ours = flash_attention_triton(q, k, v, is_causal=causal)  # compiles on the first call
            theirs = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
            err = (ours.float() - theirs.float()).abs().max().item()
            t_ours = timed_ms(lambda: flash_attention_triton(q, k, v, is_causal=causal), args.warmup, args.iters)
            t_sdpa = timed_ms(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal), args.warmup, args.iters)
            flops = 4 * B * H * T * T * d * (0.5 if causal else 1.0)
            tok = B * T
            print(f"{T:>6} {str(causal):>6} {err:>9.2e} {t_ours:>10.3f} {t_sdpa:>9.3f} {tok / t_ours * 1e3:>13,.0f} "
                  f"{tok / t_sdpa * 1e3:>12,.0f} {flops / t_ours / 1e9:>11.1f} {flops / t_sdpa / 1e9:>9.1f} "
                  f"{t_sdpa / t_ours:>11.2f}")
        del q, k, v
        torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
