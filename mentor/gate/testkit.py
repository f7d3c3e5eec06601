"""What hidden tests use inside the sandbox: the context, assertions and structured failures.

A hidden test file is plain Python: functions named `test_*` taking one argument `ctx` (a
`Context`), run in definition order. A test that passes may return a short string: a note shown with
the result (e.g. a timing). Expected values come from `reference_impl` on inputs drawn
from `ctx.rng` (seeded per test from the check's seed, so `--seed` replays a run exactly).
Assertions raise `CheckFailure` carrying what the learner needs: what was checked, on which
input class, shapes/dtypes, max abs/rel error against the tolerance, the first mismatching index.

Each check is listed with a one-line description: `@check(describe=...)`, else the first line of
the test's docstring, else its name in words. A test exposes the call it makes with
`ctx.call("sigmoid", z, inputs="large |z|")` (or `ctx.record_call(...)` next to its own call): a
failure then shows the input at the first mismatching index (`z[2, 1] = -803.4: expected 0, got
nan`) and `mentor check --save-inputs DIR` can write the arguments and a script repeating the call.

Everything here binds the library functions it uses at import time, before any learner code is
imported, so a learner module that monkeypatches numpy or torch cannot make a check pass.
"""

from __future__ import annotations

import hashlib
import math
import sys
from typing import Any, Callable

import numpy as _np

from mentor.gate.catalog import first_doc_line, words_of

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


def check(help: str | None = None, hidden: bool = False, describe: str | None = None) -> Callable[[Callable], Callable]:
    """Decorate a test: `help` is shown when it fails; `hidden` hides expected/actual values and the
    inputs (the check's data is itself the secret); `describe` is its one-line description."""

    def wrap(fn: Callable) -> Callable:
        fn.__check_help__ = help
        fn.__check_hidden__ = hidden
        if describe:
            fn.__check_describe__ = describe
        return fn

    return wrap


def describe(fn: Callable) -> str:
    """The one-line description of a test: `@check(describe=)`, its docstring's first line, or its name in words."""
    text = getattr(fn, "__check_describe__", None) or first_doc_line(getattr(fn, "__doc__", None))
    return text or words_of(getattr(fn, "__name__", "check"))


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
        _note_mismatch(e, atol, rtol, what)
        raise CheckFailure(
            f"{what}: non-finite value {a64[idx]} at index {idx} where {e64[idx]!r} was expected{ctx} "
            f"(overflow? look for exp() of a large number){_at_input(idx, a.shape, e64[idx], a64[idx])}",
            details={"index": idx, "first_index": idx, "actual": float(a64[idx]), "expected": float(e64[idx]),
                     "inputs": inputs, "expected_at": float(e64[idx]), "actual_at": float(a64[idx]), **_input_at(idx, a.shape)})
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
    _note_mismatch(e, atol, rtol, what)
    raise CheckFailure(
        f"{what}: {n_bad} of {bad.size} values differ{ctx}; first at index {first}: got {a64[first]:.8g}, "
        f"expected {e64[first]:.8g}; max abs error {max_abs:.3g}, max rel error {max_rel:.3g} "
        f"(tolerance atol={atol:g}, rtol={rtol:g}){_at_input(first, a.shape, e64[first], a64[first])}",
        details={"shape": a.shape, "dtype": _dtype_name(actual), "max_abs_err": max_abs, "max_rel_err": max_rel,
                 "atol": atol, "rtol": rtol, "first_index": first, "mismatches": n_bad, "inputs": inputs,
                 "actual": _brief(a64), "expected": _brief(e64), "expected_at": float(e64[first]),
                 "actual_at": float(a64[first]), **_input_at(first, a.shape)})


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


# --------------------------------------------------------------------------- recorded calls
class RecordedCall:
    """One call of a learner function by a hidden test: its name, arguments (the test's own copies, taken
    before the call) and input class. The last one of a failing check is what --save-inputs writes."""

    def __init__(self, function: str, args: tuple[Any, ...], kwargs: dict[str, Any], inputs: str | None,
                 names: list[str], construct: tuple[tuple[Any, ...], dict[str, Any]] | None = None) -> None:
        self.function, self.args, self.kwargs, self.inputs, self.names = function, args, kwargs, inputs, names
        self.construct = construct  # a module: function(*construct[0], **construct[1])(*args, **kwargs)

    def construct_text(self) -> str | None:
        if self.construct is None:
            return None
        a, k = self.construct
        return ", ".join([repr(x) for x in a] + [f"{n}={v!r}" for n, v in k.items()])

    def named(self) -> list[tuple[str, Any]]:
        return list(zip(self.names, self.args)) + list(self.kwargs.items())

    def summary(self) -> dict[str, Any]:
        """JSON-able: the function, the input class and each argument's shape, dtype and (when small) values."""
        out = {"function": self.function, "inputs": self.inputs,
               "args": [{"name": n, **_describe_value(v)} for n, v in self.named()],
               "keywords": list(self.kwargs)}
        if self.construct is not None:
            out["construct"] = self.construct_text()
        return out


_state: dict[str, Any] = {}  # "current": the running test's Context (mutated, never rebound: the harness
# snapshots this module's globals to detect tampering)
_last_expected: dict[str, Any] = {}  # the expected value of the last failed assert_close of the running test


def _note_mismatch(expected: Any, atol: float, rtol: float, what: str) -> None:
    _last_expected.clear()
    _last_expected.update(value=expected, atol=atol, rtol=rtol, what=what)


def _last_call() -> RecordedCall | None:
    cur = _state.get("current")
    return cur.calls[-1] if cur is not None and cur.calls and not cur.hidden else None


def _input_with_shape(shape: tuple[int, ...]) -> tuple[str, Any] | None:
    call = _last_call()
    if call is None:
        return None
    for name, v in call.named():
        if hasattr(v, "shape") and _shape(v) == tuple(shape) and getattr(v, "dtype", None) is not None:
            return name, v
    return None


def _input_at(idx: tuple[int, ...], shape: tuple[int, ...]) -> dict[str, Any]:
    found = _input_with_shape(shape)
    if found is None:
        return {}
    name, v = found
    try:
        return {"input_name": name, "input_value": float(_to_numpy(v)[idx])}
    except (TypeError, ValueError, IndexError):
        return {}


def _at_input(idx: tuple[int, ...], shape: tuple[int, ...], expected: float, actual: float) -> str:
    """'; at the first mismatch z[2, 1] = -803.4: expected 0, got nan' when an argument has the output's shape."""
    d = _input_at(idx, shape)
    if not d:
        return ""
    where = ", ".join(str(i) for i in idx)
    return f"; at the first mismatch {d['input_name']}[{where}] = {d['input_value']:.6g}: expected {expected:.8g}, got {actual:.8g}"


def _describe_value(v: Any) -> dict[str, Any]:
    torch = sys.modules.get("torch")
    if isinstance(v, _ndarray) or (torch is not None and isinstance(v, torch.Tensor)):
        d: dict[str, Any] = {"kind": "tensor" if not isinstance(v, _ndarray) else "ndarray",
                             "shape": list(_shape(v)), "dtype": _dtype_name(v)}
        a = _to_numpy(v)
        if a.size <= 24:
            d["values"] = _brief(a, 24)
        return d
    if _literal(v):
        r = repr(v)
        return {"kind": "literal", "repr": r if len(r) <= 200 else r[:200] + "..."}
    if isinstance(v, (dict, list, tuple)) and len(v) <= 64:
        items = v.items() if isinstance(v, dict) else enumerate(v)
        inner = ", ".join(f"{k}: {_short(x)}" for k, x in items)
        return {"kind": type(v).__name__, "repr": ("{" + inner + "}") if isinstance(v, dict) else f"[{inner}]"}
    return {"kind": "object", "type": type(v).__name__}


def _short(v: Any) -> str:
    d = _describe_value(v)
    if "shape" in d:
        return f"{tuple(d['shape'])} {d['dtype']}"
    return str(d.get("repr") or d.get("type"))


def _literal(v: Any) -> bool:
    """A value whose repr() is Python source that rebuilds it (the repro script writes it as is)."""
    t = type(v)  # exact types: a subclass could override __repr__
    if v is None or t in (bool, int, float, str, bytes):
        return not (t is float and not math.isfinite(v))
    if t in (list, tuple):
        return all(_literal(x) for x in v)
    if t is dict:
        return all(_literal(k) and _literal(x) for k, x in v.items())
    return False


def _param_names(fn: Any, n: int, skip_self: bool = False) -> list[str]:
    """The names of the first n positional parameters of fn (arg0, arg1, ... where they cannot be read)."""
    import inspect

    try:
        params = [p.name for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    if skip_self and params[:1] == ["self"]:
        params = params[1:]
    return [params[i] if i < len(params) else f"arg{i}" for i in range(n)]


def _copy(v: Any) -> Any:
    torch = sys.modules.get("torch")
    if isinstance(v, _ndarray):
        return v.copy()
    if torch is not None and isinstance(v, torch.Tensor):
        return v.detach().clone().requires_grad_(v.requires_grad) if v.is_leaf else v.clone()
    if isinstance(v, (list, tuple)):
        return type(v)(_copy(x) for x in v) if not hasattr(v, "_fields") else v
    if isinstance(v, dict):
        return {k: _copy(x) for k, x in v.items()}
    return v


SAVE_LIMIT_BYTES = 16 << 20  # the arguments of one call that --save-inputs writes, at most


def _encode(v: Any) -> dict[str, Any]:
    """One value as JSON for the parent: arrays as base64 .npy bytes (tensors too, with their dtype), literals as repr."""
    import base64
    import io

    torch = sys.modules.get("torch")
    if isinstance(v, _ndarray) or (torch is not None and isinstance(v, torch.Tensor)):
        out: dict[str, Any] = {"kind": "ndarray", "dtype": _dtype_name(v), "shape": list(_shape(v))}
        if torch is not None and isinstance(v, torch.Tensor):
            t = v.detach().cpu()
            out.update(kind="tensor", requires_grad=bool(v.requires_grad))
            if t.dtype in (torch.bfloat16,) or str(t.dtype).startswith("torch.float8"):
                t = t.float()  # numpy has no bfloat16: stored as float32, cast back by the script
            a = t.numpy()
        else:
            a = v
        if a.dtype.kind not in "biufc":
            return {"kind": "object", "type": f"array of {a.dtype}"}
        buf = io.BytesIO()
        _np.save(buf, a, allow_pickle=False)
        out["npy"] = base64.b64encode(buf.getvalue()).decode()
        return out
    if _literal(v):
        return {"kind": "literal", "repr": repr(v)}
    if type(v) is dict and all(_literal(k) for k in v):
        return {"kind": "dict", "items": [[repr(k), _encode(x)] for k, x in v.items()]}
    if type(v) in (list, tuple):
        return {"kind": type(v).__name__, "items": [_encode(x) for x in v]}
    return {"kind": "object", "type": type(v).__name__}


def _npy_size(enc: dict[str, Any]) -> int:
    return len(enc.get("npy", "")) + sum(_npy_size(x[1] if isinstance(x, list) else x) for x in enc.get("items", []))


def call_payload(call: RecordedCall) -> dict[str, Any]:
    """What --save-inputs needs to rebuild a call: every argument encoded, and the expected value of the
    failed comparison (the check's inputs are random draws, so the expected value is no secret)."""
    args = [{"name": n, "keyword": n in call.kwargs, **_encode(v)} for n, v in call.named()]
    out: dict[str, Any] = {"function": call.function, "inputs": call.inputs, "args": args}
    if call.construct is not None:
        a, k = call.construct
        if not (all(_literal(x) for x in a) and all(_literal(x) for x in k.values())):
            return {"function": call.function, "inputs": call.inputs, "args": [{"name": "the module", "kind": "object",
                                                                              "type": "module built from non-literal arguments"}]}
        out["construct"] = call.construct_text()
    if "value" in _last_expected:
        out["expected"] = {**_encode(_last_expected["value"]), "what": _last_expected["what"],
                           "atol": _last_expected["atol"], "rtol": _last_expected["rtol"]}
    size = sum(_npy_size(a) for a in args) + len(out.get("expected", {}).get("npy", ""))
    if size > SAVE_LIMIT_BYTES:
        return {"function": call.function, "inputs": call.inputs, "too_large": size}
    return out


class Context:
    """Per-test state handed to each hidden test."""

    def __init__(self, seed: int, test_name: str, modules: dict[str, Any], importer: Callable[[str], Any],
                 hidden: bool = False) -> None:
        self.seed = seed
        self.test_name = test_name
        digest = hashlib.sha256(f"{seed}:{test_name}".encode()).digest()
        self.subseed = int.from_bytes(digest[:8], "little") & (2**63 - 1)
        self.rng = _np.random.default_rng(self.subseed)
        self._modules = modules
        self._importer = importer
        self.hidden = hidden
        self.calls: list[RecordedCall] = []
        _state["current"] = self
        _last_expected.clear()

    def record_call(self, function: str, *args: Any, inputs: str | None = None,
                    construct: tuple[Any, ...] | tuple[tuple[Any, ...], dict[str, Any]] | None = None, **kwargs: Any) -> None:
        """Note that the test calls the learner's `function(*args, **kwargs)` now (on input class `inputs`).
        For a module (a class), `construct` holds its constructor's arguments, literals only: a tuple of
        positional ones, or (args, kwargs); the call is then `function(*construct)(*args, **kwargs)`.
        Arrays and tensors are copied here, before the call: what the learner's code does to its arguments
        does not change what was recorded."""
        fn = getattr(self.learner, function, None)
        init = None
        if construct is not None:
            init = construct if (len(construct) == 2 and type(construct[0]) is tuple and type(construct[1]) is dict) \
                else (tuple(construct), {})
            fn = getattr(fn, "forward", None) or getattr(fn, "__call__", None)
        names = _param_names(fn, len(args), skip_self=init is not None)
        self.calls.append(RecordedCall(function, tuple(_copy(a) for a in args), {k: _copy(v) for k, v in kwargs.items()},
                                       inputs, names, init))

    def call(self, function: str, *args: Any, inputs: str | None = None, **kwargs: Any) -> Any:
        """Record and make the call: the learner's `function` gets copies of the arguments."""
        fn = self.symbol(function)
        self.record_call(function, *args, inputs=inputs, **kwargs)
        return fn(*[_copy(a) for a in args], **{k: _copy(v) for k, v in kwargs.items()})

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
