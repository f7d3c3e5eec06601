"""What lab scripts use inside the sandbox: robust timing and memory measurement of the learner's code.

A lab script is plain Python in the unit folder: functions named `lab_*` taking the check's
`Context` (ctx.learner, ctx.symbol, ctx.rng) and returning a dict of figures (numbers, or for a
sweep `series: {name: {"x": [...], "y": [...]}}`). Like testkit, this module binds what it uses at
import time, before any learner code is imported.

Timing is for a noisy, shared machine: warm-up calls first (page faults, caches, lazy init), then
at least `repeats` timed calls and at least `min_time_s` in total; the figure is the median (the
typical call, robust to a few interrupted ones), reported with the best call and the spread
(interquartile range over the median). The garbage collector is paused while a call is timed.
"""

from __future__ import annotations

import gc as _gc
import math
import time as _time
import tracemalloc as _tracemalloc
from dataclasses import dataclass
from typing import Any, Callable

_perf = _time.perf_counter
_gc_disable, _gc_enable, _gc_isenabled, _gc_collect = _gc.disable, _gc.enable, _gc.isenabled, _gc.collect


@dataclass(frozen=True)
class Timing:
    median_s: float
    best_s: float
    spread: float  # (q3 - q1) / median
    calls: int

    def figures(self, prefix: str = "") -> dict[str, float]:
        return {f"{prefix}median_s": self.median_s, f"{prefix}best_s": self.best_s,
                f"{prefix}spread": self.spread, f"{prefix}calls": float(self.calls)}


def _quantile(sorted_xs: list[float], q: float) -> float:
    pos = q * (len(sorted_xs) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


def time_call(fn: Callable[[], Any], *, warmup: int = 1, repeats: int = 5, min_time_s: float = 0.2,
              max_calls: int = 1000, batch: int = 1) -> Timing:
    """Median wall time of `fn()` over at least `repeats` samples and `min_time_s` seconds (after `warmup` calls).

    `batch`: calls per timed sample (the times reported are per call). Give a short peer the batch that makes
    a sample as long as the subject's call (`matched_batch`): on a busy machine a call shorter than a scheduler
    time slice escapes the other processes, a long one does not, and the comparison would be unfair."""
    assert repeats >= 1 and warmup >= 0 and batch >= 1
    if batch > 1:
        one = fn

        def fn() -> None:
            for _ in range(batch):
                one()
    for _ in range(warmup):
        fn()
    times: list[float] = []
    total = 0.0
    while len(times) < repeats or (total < min_time_s and len(times) < max_calls):
        was = _gc_isenabled()
        _gc_disable()
        try:
            t0 = _perf()
            fn()
            dt = _perf() - t0
        finally:
            if was:
                _gc_enable()
        times.append(dt)
        total += dt
    xs = sorted(t / batch for t in times)
    med = _quantile(xs, 0.5)
    return Timing(med, xs[0], (_quantile(xs, 0.75) - _quantile(xs, 0.25)) / med if med > 0 else 0.0, len(xs) * batch)


def matched_batch(fn: Callable[[], Any], target_s: float, cap: int = 10000) -> int:
    """How many calls of `fn` last about `target_s` (one call timed after one warm-up call)."""
    fn()
    t0 = _perf()
    fn()
    one = max(_perf() - t0, 1e-7)
    return max(1, min(cap, round(target_s / one)))


def peak_traced_bytes(fn: Callable[[], Any]) -> tuple[int, Any]:
    """Peak bytes allocated through Python's allocators (objects, and NumPy's array buffers) while
    `fn()` runs, above what was allocated before; returns (peak, fn's result). Torch's tensor
    memory is not traced: use torch.autograd.graph.saved_tensors_hooks or sizes for that."""
    _gc_collect()
    started = not _tracemalloc.is_tracing()
    if started:
        _tracemalloc.start()
    try:
        base, _ = _tracemalloc.get_traced_memory()
        _tracemalloc.reset_peak()
        out = fn()
        _, peak = _tracemalloc.get_traced_memory()
    finally:
        if started:
            _tracemalloc.stop()
    return max(0, peak - base), out


def traced_bytes_kept(fn: Callable[[], Any]) -> tuple[int, Any]:
    """Bytes still allocated after `fn()` returns while its result is alive (what the result keeps)."""
    _gc_collect()
    started = not _tracemalloc.is_tracing()
    if started:
        _tracemalloc.start()
    try:
        base, _ = _tracemalloc.get_traced_memory()
        out = fn()
        _gc_collect()
        now, _ = _tracemalloc.get_traced_memory()
    finally:
        if started:
            _tracemalloc.stop()
    return max(0, now - base), out


def saved_tensor_bytes(fn: Callable[[], Any], exclude: Any = ()) -> tuple[int, Any]:
    """(bytes autograd saves for backward while fn() runs, fn's result): every saved tensor's storage
    counted once (a view and its base are one storage), storages whose data_ptr is in `exclude`
    (e.g. the model's parameters, the inputs) left out. torch is imported here, on first use."""
    import torch

    skip = set(exclude)
    seen: dict[tuple[int, int], int] = {}

    def pack(t: Any) -> Any:
        st = t.untyped_storage()
        if st.data_ptr() not in skip:
            seen[(st.data_ptr(), st.nbytes())] = st.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return sum(seen.values()), out
