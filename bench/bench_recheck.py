"""Re-check latency: warm (forked from the warm parent) vs cold vs `import torch` alone (issue #13 §4).

One run, side by side, interleaved round by round so that both see the same machine load: for each
Phase 2 unit (default: norms and attention; the reference stands in for the learner's code, so every
check passes), N re-checks through `mentor.checking.run_check` (what `mentor check --watch` and
`/check` in `mentor start` do per save: stubs, static guard, sandbox, attempt recorded in the
workspace's SQLite DB, states refreshed), once inside `warm_checks()` and once cold, plus N runs of
the peer `python -I -c "import torch"`. The first warm check (it waits for the parent's own
imports) is reported separately and left out of the warm median. Goal: warm median <= 1.0 s.

    python bench/bench_recheck.py [--runs 7] [--units norms attention] [--svg bench/results/recheck.svg]
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
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mentor.checking import run_check  # noqa: E402
from mentor.curriculum import course  # noqa: E402
from mentor.gate import forkserver  # noqa: E402
from mentor.mutants import reference_source  # noqa: E402
from mentor.plot import terminal_bars, write_bars_svg  # noqa: E402
from mentor.workspace import Workspace, find_workspace  # noqa: E402

GOAL_S = 1.0


@contextmanager
def cold() -> Iterator[None]:
    """Suspend the warm scope for one check (the parent stays up for the next warm round)."""
    saved, forkserver._ACTIVE = forkserver._ACTIVE, None
    try:
        yield
    finally:
        forkserver._ACTIVE = saved


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def check_once(ws: Workspace, c, unit) -> None:
    out = run_check(ws, c, unit, seed=1)
    assert out.result.passed, f"{unit.id}: {out.result.status} {out.result.message}"


def bench_unit(ws: Workspace, c, uid: str, runs: int) -> dict[str, object]:
    unit = c.unit(uid)
    for p in (REPO / "reference_impl").glob("*.py"):
        if p.name != "__init__.py":
            (ws.package / p.name).write_text(reference_source(p.stem), encoding="utf-8")
    torch_cmd = [sys.executable, "-I", "-c", "import torch"]
    with cold():
        check_once(ws, c, unit)  # page cache and curriculum cache warm for both
    times: dict[str, list[float]] = {"warm": [], "cold": [], "import torch": []}
    with forkserver.warm_checks(c, unit) as pool:
        assert pool is not None, "warm checks are not available on this platform"
        first = timed(lambda: check_once(ws, c, unit))
        for _ in range(runs):
            times["warm"].append(timed(lambda: check_once(ws, c, unit)))
            with cold():
                times["cold"].append(timed(lambda: check_once(ws, c, unit)))
            times["import torch"].append(timed(lambda: subprocess.run(torch_cmd, check=True)))
        stats = dict(pool.stats)
    assert stats["lost"] == 0 and stats["cold"] == 0 and stats["forks"] == runs + 1, stats
    return {"unit": uid, "first": first, "stats": stats, **{k: statistics.median(v) for k, v in times.items()},
            "spread": {k: (min(v), max(v)) for k, v in times.items()}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--units", nargs="+", default=["norms", "attention"])
    ap.add_argument("--svg", type=Path, default=None, help="also write the medians as an SVG bar chart")
    args = ap.parse_args()
    c = course()
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    with tempfile.TemporaryDirectory() as tmp:
        wsdir = Path(tmp) / "ws"
        subprocess.run([shutil.which("mentor") or "mentor", "init", str(wsdir), "--yes"], check=True, stdout=subprocess.DEVNULL)
        ws = find_workspace(wsdir)
        rows = [bench_unit(ws, c, uid, args.runs) for uid in args.units]
    load = os.getloadavg()
    print(f"machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}; {date.today()}; "
          f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; {args.runs} re-checks each")
    print(f"{'unit':<11}{'warm med s':>11}{'cold med s':>11}{'import torch s':>15}{'cold/warm':>10}{'1st warm s':>11}  goal <= {GOAL_S:g} s")
    bars = []
    for r in rows:
        verdict = "met" if r["warm"] <= GOAL_S else "NOT met"
        print(f"{r['unit']:<11}{r['warm']:>11.3f}{r['cold']:>11.3f}{r['import torch']:>15.3f}"
              f"{r['cold'] / r['warm']:>9.1f}x{r['first']:>11.3f}  {verdict}")
        print("           min-max: " + ", ".join(f"{k} {lo:.2f}-{hi:.2f}" for k, (lo, hi) in r["spread"].items()))
        bars += [(f"{r['unit']} warm", r["warm"]), (f"{r['unit']} cold", r["cold"]), (f"{r['unit']} import torch", r["import torch"])]
    print(terminal_bars(bars, unit="s"))
    if args.svg:
        args.svg.parent.mkdir(parents=True, exist_ok=True)
        print(f"wrote {write_bars_svg(bars, args.svg, title='re-check median (s)', unit='s')}")


if __name__ == "__main__":
    main()
