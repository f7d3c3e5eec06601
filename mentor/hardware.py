"""What machine are we on, and what model size fits it.

The course's rule of thumb: ~100M parameters on a 16 GB GPU, ~10M on a CPU-only 8 GB machine.
Training memory with AdamW in fp32 is ~16 bytes/parameter (weights 4, grads 4, two moments 8)
plus activations, which dominate at long context; the advice keeps both well inside memory.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_tile", "asimd", "sve")


@dataclass
class Machine:
    python: str
    os: str
    cpu_model: str
    cpu_cores: int
    simd: list[str]
    ram_gb: float
    torch: str | None = None
    cuda: bool = False
    gpu_name: str | None = None
    vram_gb: float | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _cpuinfo() -> tuple[str, list[str]]:
    model, flags = platform.processor() or platform.machine(), set()
    p = Path("/proc/cpuinfo")
    if p.is_file():
        for line in p.read_text(errors="replace").splitlines():
            key, _, val = line.partition(":")
            key = key.strip().lower()
            if key in ("model name", "hardware") and val.strip():
                model = val.strip()
            elif key in ("flags", "features"):
                flags.update(val.split())
    return model, [f for f in SIMD_FLAGS if f in flags]


def _ram_gb() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return 0.0


def _gpu_from_torch(m: Machine) -> None:
    try:
        import torch
    except ImportError:
        m.notes.append("torch is not importable: install it (pip install torch) before Phase 2")
        return
    m.torch = torch.__version__
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        m.cuda, m.gpu_name, m.vram_gb = True, props.name, props.total_memory / 2**30
    elif shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True, timeout=10).stdout.strip().splitlines()
        except (OSError, subprocess.TimeoutExpired):
            out = []
        if out:
            name, mem = out[0].rsplit(",", 1)
            m.gpu_name, m.vram_gb = name.strip(), float(mem) / 1024
            m.notes.append("an NVIDIA GPU is present but this torch build cannot use it: install a CUDA build of torch")


def gpu_name_cheap() -> str | None:
    """The NVIDIA GPU's name without importing torch or running nvidia-smi (the driver's /proc file), if any."""
    for info in sorted(Path("/proc/driver/nvidia/gpus").glob("*/information")):
        try:
            for line in info.read_text(errors="replace").splitlines():
                key, _, val = line.partition(":")
                if key.strip().lower() == "model" and val.strip():
                    return val.strip()
        except OSError:
            continue
    return None


def detect(with_torch: bool = True) -> Machine:
    model, simd = _cpuinfo()
    m = Machine(python=platform.python_version(), os=f"{platform.system()} {platform.release()}", cpu_model=model,
                cpu_cores=os.cpu_count() or 1, simd=simd, ram_gb=_ram_gb())
    if with_torch:
        _gpu_from_torch(m)
    else:
        m.gpu_name = gpu_name_cheap()
    fake = os.environ.get("MENTOR_FAKE_GPU")  # tests only: this machine "has" that GPU (none can run here)
    if fake:
        m.gpu_name = fake
    return m


@dataclass
class ScopeAdvice:
    params_m: int  # target model size, millions of parameters
    d_model: int
    n_layers: int
    n_heads: int
    context_length: int
    reason: str


def advise(m: Machine) -> ScopeAdvice:
    """The course's model size for this machine."""
    if m.cuda and (m.vram_gb or 0) >= 14:
        return ScopeAdvice(100, 768, 12, 12, 1024, f"{m.gpu_name} with {m.vram_gb:.0f} GB: the full ~100M model "
                           "(fp32 AdamW state ~1.6 GB; activations at batch 8 x 1024 fit in bf16 with room to spare)")
    if m.cuda and (m.vram_gb or 0) >= 6:
        return ScopeAdvice(50, 512, 8, 8, 1024, f"{m.gpu_name} with {m.vram_gb:.0f} GB: ~50M parameters keeps batch sizes useful")
    if m.ram_gb >= 15:
        return ScopeAdvice(20, 384, 6, 6, 512, f"CPU only, {m.ram_gb:.0f} GB RAM: ~20M parameters trains overnight; "
                           "use the GPU workstation for Phase 4 runs")
    return ScopeAdvice(10, 256, 6, 4, 256, f"CPU only, {m.ram_gb:.0f} GB RAM: ~10M parameters "
                       "(the course's laptop size; Phase 5 INT8 inference targets this machine)")
