"""The learner's machine profile: measured, not asserted (`mentor doctor --measure`).

Per machine (hostname + CPU model + GPU name): memory bandwidth with one core and with all cores
(STREAM-style copy and triad on arrays far larger than the caches), fp32 matmul GFLOP/s (one
thread and all threads), bf16 matmul where the CPU has native bf16, and on a CUDA GPU the device
memory bandwidth, fp32 / TF32 / bf16 matmul TFLOP/s and host<->device copy GB/s. From these, the
roofline ridge points (FLOPs per byte where a kernel stops being bandwidth-bound).

Bytes counted as STREAM does: copy moves 2 x size (read + write), triad 3 x size (two reads, one
write); write-allocate traffic is not counted, so figures are comparable with STREAM's. Each
figure is the best of a few repetitions (the machine's capability, not its average under load).
`quick=True` uses small sizes (seconds) for tests; the real run takes ~10-30 s on a laptop.
"""

from __future__ import annotations

import hashlib
import os
import platform
import socket
import time
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from mentor.hardware import Machine

Progress = Callable[[str], None]


def machine_key(m: "Machine") -> str:
    """Stable id of this machine: hostname and CPU (a renamed or re-fitted machine is a new one). The GPU is
    stored beside it, not in the key: whether torch was imported must not change which machine this is."""
    ident = f"{socket.gethostname()}|{m.cpu_model}|{m.cpu_cores}"
    return hashlib.sha256(ident.encode()).hexdigest()[:16]


def _best(fn: Callable[[], None], reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return max(best, 1e-9)


def stream_gbs(n_bytes: int, reps: int = 3) -> dict[str, float]:
    """One-core copy and triad bandwidth in GB/s (NumPy elementwise ops run on one thread)."""
    import numpy as np

    n = max(1, n_bytes // 8)
    a, b, c = np.ones(n), np.full(n, 2.0), np.zeros(n)
    t_copy = _best(lambda: np.copyto(c, a), reps)
    s = 3.0

    def triad() -> None:
        np.multiply(b, s, out=c)
        np.add(c, a, out=c)  # c = a + s * b: two passes in NumPy; counted as STREAM counts one triad

    t_triad = _best(triad, reps)
    return {"copy": 2 * n * 8 / t_copy / 1e9, "triad": 3 * n * 8 / t_triad / 1e9}


def _stream_worker(args: tuple[int, int]) -> float:
    n_bytes, reps = args
    return stream_gbs(n_bytes, reps)["triad"]


def all_core_triad_gbs(n_bytes: int, workers: int, reps: int = 3) -> float:
    """Triad bandwidth with one process per core running at once (sum of their GB/s)."""
    if workers <= 1:
        return stream_gbs(n_bytes, reps)["triad"]
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(workers) as pool:
        return float(sum(pool.map(_stream_worker, [(n_bytes, reps)] * workers)))


def matmul_gflops(n: int, dtype_name: str, threads: int, reps: int = 3, device: str = "cpu") -> float:
    """Dense n x n matmul throughput, 2 n^3 FLOPs per product."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        dtype = getattr(torch, dtype_name)
        a = torch.randn(n, n, device=device).to(dtype)
        b = torch.randn(n, n, device=device).to(dtype)
        sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

        def run() -> None:
            torch.mm(a, b)
            sync()

        run()  # warm-up (kernel selection, page faults)
        return 2 * n ** 3 / _best(run, reps) / 1e9
    finally:
        torch.set_num_threads(old)


def cuda_profile(quick: bool, say: Progress) -> dict[str, float]:
    """Device bandwidth, fp32 / TF32 / bf16 matmul TFLOP/s, host<->device GB/s (CUDA only)."""
    import torch

    n_bytes = (64 if quick else 1024) * 2**20
    x = torch.empty(n_bytes // 4, device="cuda")
    y = torch.empty_like(x)
    torch.cuda.synchronize()
    say("GPU memory bandwidth")
    t = _best(lambda: (y.copy_(x), torch.cuda.synchronize()), 5)
    out = {"gpu_copy_gbs": 2 * n_bytes / t / 1e9}
    n = 2048 if quick else 8192
    prev = torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = False
        say("GPU fp32 matmul")
        out["gpu_fp32_tflops"] = matmul_gflops(n, "float32", 1, device="cuda") / 1e3
        torch.backends.cuda.matmul.allow_tf32 = True
        say("GPU TF32 matmul")
        out["gpu_tf32_tflops"] = matmul_gflops(n, "float32", 1, device="cuda") / 1e3
    finally:
        torch.backends.cuda.matmul.allow_tf32 = prev
    say("GPU bf16 matmul")
    out["gpu_bf16_tflops"] = matmul_gflops(n, "bfloat16", 1, device="cuda") / 1e3
    say("host <-> device copies")
    host = torch.empty(n_bytes // 4, pin_memory=True)
    out["h2d_gbs"] = n_bytes / _best(lambda: (x.copy_(host, non_blocking=True), torch.cuda.synchronize()), 5) / 1e9
    out["d2h_gbs"] = n_bytes / _best(lambda: (host.copy_(x, non_blocking=True), torch.cuda.synchronize()), 5) / 1e9
    return out


def measure(m: "Machine", *, quick: bool = False, say: Progress = lambda s: None) -> dict[str, Any]:
    """Run every measurement this machine supports; returns the profile (figures and how they were taken)."""
    cores = max(1, os.cpu_count() or 1)
    n_bytes = (16 if quick else 256) * 2**20  # 3 arrays of this size: far beyond any L3
    say("memory bandwidth, one core")
    one = stream_gbs(n_bytes)
    say(f"memory bandwidth, {cores} cores")
    allc = all_core_triad_gbs(n_bytes, cores)
    n = 512 if quick else 2048
    say("fp32 matmul, one thread")
    f1 = matmul_gflops(n, "float32", 1)
    say(f"fp32 matmul, {cores} threads")
    fall = matmul_gflops(n, "float32", cores)
    prof: dict[str, Any] = {
        "cpu_copy_gbs_1core": round(one["copy"], 2), "cpu_triad_gbs_1core": round(one["triad"], 2),
        "cpu_triad_gbs_all": round(allc, 2), "cpu_fp32_gflops_1thread": round(f1, 1),
        "cpu_fp32_gflops_all": round(fall, 1), "cores": cores,
        "sizes": {"stream_bytes": n_bytes, "matmul_n": n}, "quick": quick,
    }
    if {"avx512_bf16", "amx_bf16", "amx_tile"} & set(m.simd):
        say("bf16 matmul (the CPU has native bf16)")
        prof["cpu_bf16_gflops_all"] = round(matmul_gflops(n, "bfloat16", cores), 1)
    prof["cpu_ridge_flops_per_byte"] = round(fall / max(allc, 1e-9), 2)
    if m.cuda:
        gpu = cuda_profile(quick, say)
        prof.update({k: round(v, 2) for k, v in gpu.items()})
        prof["gpu_ridge_bf16_flops_per_byte"] = round(gpu["gpu_bf16_tflops"] * 1e3 / max(gpu["gpu_copy_gbs"], 1e-9), 1)
    prof.update(hostname=socket.gethostname(), cpu_model=m.cpu_model, gpu_name=m.gpu_name,
                python=platform.python_version(), torch=m.torch)
    return prof


def summary_line(p: dict[str, Any]) -> str:
    """One line for `mentor status`: the figures lessons compare against."""
    line = (f"{p['cpu_triad_gbs_1core']:.0f} GB/s on one core, {p['cpu_triad_gbs_all']:.0f} GB/s on all "
            f"{p['cores']}, fp32 matmul {p['cpu_fp32_gflops_all']:.0f} GFLOP/s")
    if "gpu_bf16_tflops" in p:
        line += f"; GPU {p['gpu_copy_gbs']:.0f} GB/s, bf16 {p['gpu_bf16_tflops']:.0f} TFLOP/s"
    return line


def save_profile(engine: Any, m: "Machine", prof: dict[str, Any]) -> None:
    import json

    from sqlmodel import Session

    from mentor.store.db import now_iso
    from mentor.store.models import MachineProfile

    with Session(engine) as s:
        s.add(MachineProfile(machine_key=machine_key(m), hostname=prof["hostname"], cpu_model=m.cpu_model,
                             gpu_name=m.gpu_name, measured_at=now_iso(), results_json=json.dumps(prof)))
        s.commit()


def latest_profiles(engine: Any) -> dict[str, dict[str, Any]]:
    """The newest measurement of every machine in this workspace, by machine key (measured_at included)."""
    import json

    from sqlmodel import Session, select

    from mentor.store.models import MachineProfile

    out: dict[str, dict[str, Any]] = {}
    with Session(engine) as s:
        for row in s.exec(select(MachineProfile).order_by(MachineProfile.id)).all():
            out[row.machine_key] = {**json.loads(row.results_json), "measured_at": row.measured_at,
                                    "machine_key": row.machine_key}
    return out
