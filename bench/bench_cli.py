"""Start-up and check latency of the real `mentor` command (targets from the foundation issue).

Prints the median of N runs for: `python -c pass` (the peer: interpreter start-up alone),
`mentor --help` (target <= 0.3 s), `mentor status` (<= 1.0 s) and `mentor check neuron` on a
correct solution (<= 1.5 s), plus each one's ratio to bare interpreter start-up.

    python bench/bench_cli.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MENTOR = shutil.which("mentor") or "mentor"


def timed(cmd: list[str], cwd: Path, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "ws"
        subprocess.run([MENTOR, "init", str(ws), "--yes"], check=True, stdout=subprocess.DEVNULL)
        shutil.copy(REPO / "reference_impl" / "neuron.py", ws / "myllm" / "neuron.py")
        subprocess.run([MENTOR, "check", "neuron"], cwd=ws, stdout=subprocess.DEVNULL)  # warm the page cache
        rows = [
            ("python -c pass (peer)", [sys.executable, "-c", "pass"], None),
            ("mentor --help", [MENTOR, "--help"], 0.3),
            ("mentor status", [MENTOR, "status"], 1.0),
            ("mentor check neuron", [MENTOR, "check", "neuron"], 1.5),
        ]
        base = None
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; {date.today()}")
        print(f"{'command':<26}{'median s':>10}{'x python':>10}{'target s':>10}  verdict")
        for name, cmd, target in rows:
            t = timed(cmd, ws, args.runs)
            base = base or t
            verdict = "" if target is None else ("ok" if t <= target else "OVER")
            print(f"{name:<26}{t:>10.3f}{t / base:>10.1f}{target if target else '':>10}  {verdict}")


if __name__ == "__main__":
    main()
