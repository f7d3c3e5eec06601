"""What hidden tests use inside the sandbox: the context, assertions and structured failures.

A hidden test file is plain Python: functions named `test_*` taking one argument `ctx` (a
`Context`), run in definition order. A test that passes may return a short string: a note shown with
the result (e.g. a timing). Expected values come from `reference_impl` on inputs drawn
from `ctx.rng` (seeded per test from the check's seed, so `--seed` replays a run exactly).
Assertions raise `CheckFailure` carrying what the learner needs: what was checked, on which
input class, shapes/dtypes, max abs/rel error against the tolerance, the first mismatching index.

Everything here binds the library functions it uses at import time, before any learner code is
imported, so a learner module that monkeypatches numpy or torch cannot make a check pass.
"""

from __future__ import annotations

import hashlib
import math
import sys
from typing import Any, Callable

import numpy as _np

_asarray = _np.asarray
_abs = _np.abs
_isfinite = _np.isfinite
_argwhere = _np.argwhere
_max = _np.max
_array_equal = _np.array_equal
_float64 = _np.float64
_ndarray = _np.ndarray
_unravel = _np.unravel_index


class CheckFailure(AssertionError):
    """A hidden test's verdict that the learner's result is wrong (not a crash)."""

    def __init__(self, message: str, *, details: dict[str, Any] | None = None, help: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.help = help


def check(help: str | None = None, hidden: bool = False) -> Callable[[Callable], Callable]:
    """Decorate a test: `help` is shown when it fails; `hidden` hides expected/actual values."""

    def wrap(fn: Callable) -> Callable:
        fn.__check_help__ = help
        fn.__check_hidden__ = hidden
        return fn

    return wrap


def fail(message: str, **details: Any) -> None:
    raise CheckFailure(message, details=details)


def _to_numpy(x: Any) -> Any:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy() if x.is_floating_point() else x.detach().cpu().numpy()
    return _asarray(x)


def _dtype_name(x: Any) -> str:
    return str(getattr(x, "dtype", type(x).__name__)).replace("torch.", "")


def _shape(x: Any) -> tuple[int, ...]:
    shape = x.shape if hasattr(x, "shape") else _asarray(x).shape
    return tuple(int(s) for s in shape)


def _brief(a: Any, limit: int = 6) -> str:
    flat = _asarray(a).reshape(-1)
    items = ", ".join(f"{float(v):.6g}" if a.dtype.kind in "fc" else str(v) for v in flat[:limit])
    return f"[{items}{', ...' if flat.size > limit else ''}]"


def assert_shape(actual: Any, shape: tuple[int, ...], *, what: str) -> None:
    if actual is None:
        raise CheckFailure(f"{what} returned None; did you forget a `return`?")
    got = _shape(actual)
    if got != tuple(shape):
        raise CheckFailure(f"{what}: shape {got}, expected {tuple(shape)}", details={"actual_shape": got, "expected_shape": tuple(shape)})


def assert_dtype(actual: Any, dtype: Any, *, what: str) -> None:
    want = str(dtype).replace("torch.", "") if "torch" in str(type(dtype)) else str(_np.dtype(dtype))
    if _dtype_name(actual) != want:
        raise CheckFailure(f"{what}: dtype {_dtype_name(actual)}, expected {want}")


def assert_close(actual: Any, expected: Any, *, what: str, atol: float = 1e-6, rtol: float = 1e-6,
                 inputs: str | None = None, check_dtype: bool = False) -> None:
    """|actual - expected| <= atol + rtol * |expected| elementwise, with a diagnosis when not."""
    ctx = f" on {inputs}" if inputs else ""
    if actual is None:
        raise CheckFailure(f"{what} returned None{ctx}; did you forget a `return`?")
    if check_dtype and _dtype_name(actual) != _dtype_name(expected):
        raise CheckFailure(f"{what}: dtype {_dtype_name(actual)}, expected {_dtype_name(expected)}{ctx}")
    a, e = _to_numpy(actual), _to_numpy(expected)
    if a.shape != e.shape:
        raise CheckFailure(f"{what}: shape {a.shape}, expected {e.shape}{ctx}",
                           details={"actual_shape": a.shape, "expected_shape": e.shape, "inputs": inputs})
    if a.dtype.kind not in "biufc" or e.dtype.kind not in "biufc":
        raise CheckFailure(f"{what}: expected numbers, got dtype {a.dtype}{ctx}")
    a64, e64 = a.astype(_float64), e.astype(_float64)
    fin_a, fin_e = _isfinite(a64), _isfinite(e64)
    bad_nonfinite = fin_a != fin_e
    if bad_nonfinite.any():
        idx = tuple(int(i) for i in _argwhere(bad_nonfinite)[0])
        raise CheckFailure(
            f"{what}: non-finite value {a64[idx]} at index {idx} where {e64[idx]!r} was expected{ctx} "
            f"(overflow? look for exp() of a large number)",
            details={"index": idx, "actual": float(a64[idx]), "expected": float(e64[idx]), "inputs": inputs})
    both = fin_a & fin_e
    nonfinite_mismatch = (~both) & (a64 != e64) & ~(_np.isnan(a64) & _np.isnan(e64))
    err = _abs(_np.where(both, a64 - e64, 0.0))
    tol = atol + rtol * _abs(_np.where(both, e64, 0.0))
    bad = (err > tol) | nonfinite_mismatch
    if not bad.any():
        return
    max_abs = float(_max(err)) if err.size else 0.0
    denom = _abs(_np.where(both, e64, 0.0))
    rel = _np.where(denom > 0, err / _np.where(denom > 0, denom, 1.0), 0.0)
    max_rel = float(_max(rel)) if rel.size else 0.0
    first = tuple(int(i) for i in _argwhere(bad)[0])
    n_bad = int(bad.sum())
    raise CheckFailure(
        f"{what}: {n_bad} of {bad.size} values differ{ctx}; first at index {first}: got {a64[first]:.8g}, "
        f"expected {e64[first]:.8g}; max abs error {max_abs:.3g}, max rel error {max_rel:.3g} "
        f"(tolerance atol={atol:g}, rtol={rtol:g})",
        details={"shape": a.shape, "dtype": _dtype_name(actual), "max_abs_err": max_abs, "max_rel_err": max_rel,
                 "atol": atol, "rtol": rtol, "first_index": first, "mismatches": n_bad, "inputs": inputs,
                 "actual": _brief(a64), "expected": _brief(e64)})


def assert_equal(actual: Any, expected: Any, *, what: str, inputs: str | None = None) -> None:
    """Exact equality for ints, strings, lists, dicts and arrays."""
    ctx = f" on {inputs}" if inputs else ""
    if isinstance(expected, (_ndarray,)) or type(expected).__name__ == "Tensor":
        a, e = _to_numpy(actual), _to_numpy(expected)
        if a.shape != e.shape:
            raise CheckFailure(f"{what}: shape {a.shape}, expected {e.shape}{ctx}")
        if not _array_equal(a, e):
            first = tuple(int(i) for i in _argwhere(a != e)[0])
            raise CheckFailure(f"{what}: differs at index {first}: got {a[first]}, expected {e[first]}{ctx}",
                               details={"first_index": first, "inputs": inputs})
        return
    if actual != expected:
        a_s, e_s = repr(actual), repr(expected)
        raise CheckFailure(f"{what}: got {a_s[:300]}, expected {e_s[:300]}{ctx}",
                           details={"actual": a_s[:2000], "expected": e_s[:2000], "inputs": inputs})


def assert_true(cond: Any, message: str, **details: Any) -> None:
    if not cond:
        raise CheckFailure(message, details=details)


class Context:
    """Per-test state handed to each hidden test."""

    def __init__(self, seed: int, test_name: str, modules: dict[str, Any], importer: Callable[[str], Any]) -> None:
        self.seed = seed
        self.test_name = test_name
        digest = hashlib.sha256(f"{seed}:{test_name}".encode()).digest()
        self.subseed = int.from_bytes(digest[:8], "little") & (2**63 - 1)
        self.rng = _np.random.default_rng(self.subseed)
        self._modules = modules
        self._importer = importer

    @property
    def learner(self) -> Any:
        """The learner's module for this unit (myllm/<module>.py)."""
        return self._modules["__unit__"]

    def learner_module(self, name: str) -> Any:
        """Another learner module (myllm/<name>.py), e.g. for a later unit that builds on it."""
        return self._importer(name)

    def symbol(self, name: str) -> Any:
        """A name from the learner's module, failing clearly when it does not exist."""
        mod = self.learner
        if not hasattr(mod, name):
            raise CheckFailure(f"myllm/{mod.__name__.split('.')[-1]}.py has no `{name}`; define it with the signature from the lesson")
        return getattr(mod, name)

    def torch_generator(self) -> Any:
        import torch

        return torch.Generator().manual_seed(self.subseed)


def isclose(a: float, b: float, rel: float = 1e-9, abs_: float = 0.0) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


# --------------------------------------------------------------------------- memory budgets
def _vm_bytes() -> int | None:
    """This process's address space in use (VmSize), or None without /proc."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class address_space_budget:
    """`with address_space_budget(64):` lowers the soft RLIMIT_AS to what the check uses now plus 64 MiB and
    restores it afterwards: a memory test independent of how much address space torch's import mapped (it
    differs a lot between builds). Without /proc it relies on the gate's own limit."""

    def __init__(self, extra_mib: int) -> None:
        self.extra_mib = extra_mib
        self.saved: tuple[int, int] | None = None

    def __enter__(self) -> "address_space_budget":
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        used = _vm_bytes()
        if used is None:
            return self
        new = used + (self.extra_mib << 20)
        for lim in (soft, hard):
            if lim != resource.RLIM_INFINITY:
                new = min(new, lim)
        resource.setrlimit(resource.RLIMIT_AS, (new, hard))
        self.saved = (soft, hard)
        return self

    def __exit__(self, *exc: Any) -> None:
        import resource

        if self.saved is not None:
            resource.setrlimit(resource.RLIMIT_AS, self.saved)
