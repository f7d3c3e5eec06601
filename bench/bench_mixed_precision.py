"""One training step of the reference GPT in float32 vs bf16 autocast: tokens/s and memory, side by side.

A step = forward, the reference cross-entropy, backward, torch.optim.AdamW step (fp32 master weights
and states in both runs: autocast only changes the matmul/activation dtype). On CUDA it also reports
torch.cuda.max_memory_allocated per step; on CPU, autocast(bf16) runs the Linear layers in bf16
(oneDNN), which helps only where the CPU has native bf16 (AVX512-BF16 / AMX) and can be slower
elsewhere — the point of measuring rather than asserting.

    python bench/bench_mixed_precision.py [--device cuda] [--steps 8] [--threads 2]
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
from reference_impl.loss import cross_entropy  # noqa: E402
from reference_impl.model import GPT  # noqa: E402

CPU_CFG = dict(vocab_size=2048, context_length=256, d_model=256, n_layers=4, n_heads=8, d_ff=688)
GPU_CFG = dict(vocab_size=32000, context_length=1024, d_model=768, n_layers=12, n_heads=12, d_ff=2048)  # the course's ~100M


def step_times(cfg: dict, B: int, T: int, device: str, bf16: bool, steps: int) -> tuple[list[float], int | None]:
    torch.manual_seed(0)
    model = GPT(**cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randint(0, cfg["vocab_size"], (B, T + 1), device=device)
    times = []
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for i in range(steps + 2):
        t0 = time.perf_counter()
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16):
            logits = model(x[:, :-1])
        loss = cross_entropy(logits.float(), x[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device == "cuda":
            torch.cuda.synchronize()
        if i >= 2:  # two warm-up steps
            times.append(time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else None
    return times, peak


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = False
    dev = args.device
    cfg, B, T = (GPU_CFG, 8, 1024) if dev == "cuda" else (CPU_CFG, 4, 256)
    name = torch.cuda.get_device_name() if dev == "cuda" else platform.processor() or platform.machine()
    n = sum(p.numel() for p in GPT(**cfg).parameters())
    print(f"device {dev} ({name}), torch {torch.__version__}, threads {args.threads}; GPT {n / 1e6:.1f}M params, B={B}, T={T}")
    print("| precision | median step (s) | tokens/s | vs fp32 | peak allocated (MiB) |")
    print("|---|---|---|---|---|")
    base = None
    for label, bf16 in (("float32", False), ("bf16 autocast", True)):
        times, peak = step_times(cfg, B, T, dev, bf16, args.steps)
        med = statistics.median(times)
        tps = B * T / med
        base = base or tps
        mem = f"{peak / 2**20:.0f}" if peak is not None else "n/a (CPU)"
        print(f"| {label} | {med:.3f} | {tps:,.0f} | {tps / base:.2f}x | {mem} |")


if __name__ == "__main__":
    main()
