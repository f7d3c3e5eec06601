"""The sandbox side of a check. Run as a script by the runner, never imported by mentor itself.

Protocol: the runner passes two pipe fds in argv: CONFIG (read once: JSON with the nonce, paths,
unit, seed) and RESULTS (write-only). Every message on RESULTS is one line `<nonce> <json>`; the
nonce is read from CONFIG and the fd closed before any learner code is imported, so learner code
cannot forge a result by printing, and exiting early leaves no "done" message (the runner names
that). stdin is /dev/null; stdout/stderr belong to the learner and are captured by the runner.

The file run is a unit's hidden tests (functions `test_*`) or its lab script (`prefix` lab_: each
function returns a dict of measured figures, sent with its result as `figures`).

Events, in order: `imported`, `plan` (every test name), then per test `start` and `test` (its
result), finally `done`; or a `fatal`. A watchdog thread sends one `stack` (the innermost frame of
the learner's package on the main thread, and the running test) at the config's `sample_at`
(CLOCK_MONOTONIC, shortly before the runner's wall-clock kill), so a timeout can say where the
code was; with `plan`/`start` the runner can tell the check that was cut off from those never run.
"""

from __future__ import annotations

import faulthandler
import importlib.abc
import importlib.util
import json
import os
import sys
import threading
import time
import traceback
from typing import Any

_write, _dumps, _monotonic, _sleep = os.write, json.dumps, time.monotonic, time.sleep
_current_frames = sys._current_frames


class _Channel:
    def __init__(self, fd: int, nonce: str) -> None:
        self.fd, self.nonce = fd, nonce
        self.lock = threading.Lock()  # the watchdog thread sends too: one whole line at a time

    def send(self, msg: dict[str, Any]) -> None:
        data = (self.nonce + " " + _dumps(msg, default=str) + "\n").encode()
        with self.lock:
            while data:
                n = _write(self.fd, data)
                data = data[n:]


class _Blocker(importlib.abc.MetaPathFinder):
    """Refuses imports of the answer key, mentor itself and banned modules once setup is over."""

    def __init__(self, blocked: dict[str, str]) -> None:
        self.blocked = blocked  # root module name -> violation kind
        self.attempts: list[tuple[str, str]] = []

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        root = fullname.split(".")[0]
        if root in self.blocked:
            self.attempts.append((self.blocked[root], fullname))
            raise ImportError(f"importing {fullname} is not allowed in this check")
        return None


def _learner_frame(tb: Any, learner_dir: str) -> tuple[str, int, str] | None:
    """The innermost traceback frame in the learner's package: (file, line, function)."""
    found = None
    for frame, line in traceback.walk_tb(tb):
        fn = frame.f_code.co_filename
        if fn.startswith(learner_dir):
            found = (os.path.relpath(fn, os.path.dirname(learner_dir.rstrip(os.sep))), line, frame.f_code.co_name)
    return found


def _stack_sample(frame: Any, learner_dir: str) -> dict[str, Any]:
    """Where a (running) frame stack is: the innermost frame in the learner's package, else the innermost one."""
    inner = frame
    while frame is not None:
        fn = frame.f_code.co_filename
        if fn.startswith(learner_dir):
            rel = os.path.relpath(fn, os.path.dirname(learner_dir.rstrip(os.sep)))
            return {"learner": True, "function": frame.f_code.co_name, "file": rel, "line": frame.f_lineno}
        frame = frame.f_back
    if inner is None:
        return {}
    return {"learner": False, "function": inner.f_code.co_name, "file": os.path.basename(inner.f_code.co_filename),
            "line": inner.f_lineno}


def _start_watchdog(chan: _Channel, at: float, learner_dir: str, state: dict[str, Any]) -> None:
    """Shortly before the runner's wall-clock kill, report where the main thread is (the runner cannot
    see inside the process once it is killed). A daemon thread: it needs the GIL only for a moment."""
    main = threading.main_thread().ident

    def run() -> None:
        delay = at - _monotonic()
        if delay > 0:
            _sleep(delay)
        sample = _stack_sample(_current_frames().get(main), learner_dir)
        chan.send({"event": "stack", "test": state.get("test"), **sample})

    threading.Thread(target=run, daemon=True, name="mentor-watchdog").start()


def _classify(exc: BaseException, learner_dir: str) -> dict[str, Any]:
    where = _learner_frame(exc.__traceback__, learner_dir)
    loc = f" ({where[0]}:{where[1]})" if where else ""
    if isinstance(exc, NotImplementedError) and where:
        return {"status": "not_implemented", "details": {"function": where[2], "where": f"{where[0]}:{where[1]}"},
                "message": f"{where[2]}() is not implemented yet{loc}"}
    if isinstance(exc, MemoryError):
        return {"status": "error", "kind": "memory", "message": f"memory limit hit{loc}: the code asked for more memory than the check allows"}
    if isinstance(exc, SystemExit):
        return {"status": "error", "kind": "exit", "message": f"learner code called sys.exit({exc.code!r}){loc}; return a value instead of exiting"}
    if isinstance(exc, KeyboardInterrupt):
        return {"status": "error", "kind": "interrupt", "message": f"KeyboardInterrupt raised{loc}"}
    tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return {"status": "error", "kind": "exception", "message": f"{tb[:600]}{loc}",
            "traceback": "".join(traceback.format_exception(exc))[-3000:]}


def _patch_banned(callables: list[str], learner_dir: str, violations: list[dict[str, Any]]) -> None:
    """Wrap banned functions so a call from learner code is recorded and refused.

    An entry ending in `*` (`torch._foreach_*`) stands for every attribute of its owner with that prefix.
    """
    for entry in callables:
        parts = entry.split(".")
        if parts[0] == "Tensor":
            parts = ["torch", "Tensor"] + parts[1:]
        try:
            owner: Any = importlib.import_module(parts[0])
            for p in parts[1:-1]:
                owner = getattr(owner, p)
        except (ImportError, AttributeError):
            continue
        if parts[-1].endswith("*"):
            prefix, base = parts[-1][:-1], entry.rsplit(".", 1)[0]
            names = [(n, f"{base}.{n}") for n in dir(owner) if n.startswith(prefix)]
        else:
            names = [(parts[-1], entry)]
        for name, api in names:
            _wrap_banned(owner, name, api, learner_dir, violations)


def _wrap_banned(owner: Any, name: str, api: str, learner_dir: str, violations: list[dict[str, Any]]) -> None:
    """Replace owner.name by a wrapper that refuses calls from learner code."""
    try:
        orig = getattr(owner, name)
    except AttributeError:
        return
    if not callable(orig) or isinstance(orig, type):
        return  # classes are refused statically; wrapping one would break isinstance()

    def wrapper(*a: Any, __orig: Any = orig, __api: str = api, **k: Any) -> Any:
        caller = sys._getframe(1).f_code.co_filename
        if caller.startswith(learner_dir):
            violations.append({"api": __api, "file": os.path.relpath(caller, os.path.dirname(learner_dir.rstrip(os.sep))),
                               "line": sys._getframe(1).f_lineno})
            raise RuntimeError(f"{__api} is banned in this unit")
        return __orig(*a, **k)

    try:
        setattr(owner, name, wrapper)
    except (TypeError, AttributeError):
        pass


def _snapshot(modules: list[Any]) -> dict[tuple[str, str], int]:
    snap = {}
    for m in modules:
        for k, v in list(vars(m).items()):
            snap[(getattr(m, "__name__", "?"), k)] = id(v)
    return snap


def _tampered(modules: list[Any], before: dict[tuple[str, str], int]) -> list[str]:
    after = _snapshot(modules)
    return sorted(f"{m}.{k}" for (m, k), i in before.items() if after.get((m, k)) != i)[:5]


def _load_tests(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("_hidden_tests", path)
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def _setup_torch(threads: int) -> None:
    torch = sys.modules.get("torch")
    if torch is None:
        return
    torch.set_num_threads(threads)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.use_deterministic_algorithms(False)


def _attach_call(res: dict[str, Any], ctx: Any, hidden: bool, save: bool, testkit: Any) -> None:
    """The failing check's last recorded call of learner code: its summary, and with --save-inputs its arguments."""
    if hidden:
        res["call"] = {"recordable": False, "why": "this check's inputs are hidden data"}
        return
    if not ctx.calls:
        res["call"] = {"recordable": False, "why": "inputs not recordable for this check"}
        return
    try:
        call = ctx.calls[-1]
        res["call"] = {"recordable": True, **call.summary()}
        if save:
            res["payload"] = testkit.call_payload(call)
    except Exception as e:  # noqa: BLE001 - an odd argument must not cost the check its verdict
        res["call"] = {"recordable": False, "why": f"inputs could not be recorded: {e!r}"[:300]}


def main() -> None:
    cfg_fd, res_fd = int(sys.argv[1]), int(sys.argv[2])
    with os.fdopen(cfg_fd, "rb") as f:
        cfg = json.loads(f.read().decode())
    chan = _Channel(res_fd, cfg.pop("nonce"))
    faulthandler.enable()
    sys.path[:0] = [cfg["package_root"], cfg["reference_root"]]
    sys.dont_write_bytecode = True

    from mentor.gate import testkit  # noqa: E402  (imported before learner code on purpose)

    try:
        tests_mod = _load_tests(cfg["tests_path"])
    except Exception as e:  # a broken hidden test file is mentor's bug, not the learner's
        chan.send({"event": "fatal", "kind": "harness", "message": f"hidden tests failed to load: {e!r}"})
        return
    _setup_torch(cfg["threads"])
    learner_dir = os.path.join(cfg["workspace"], "myllm") + os.sep
    violations: list[dict[str, Any]] = []
    _patch_banned(cfg["banned_callables"], learner_dir, violations)

    watched = [testkit, tests_mod] + [m for n, m in list(sys.modules.items())
                                      if m is not None and (n in ("numpy", "torch", "builtins", "math", "json", "os")
                                                            or n.startswith(("reference_impl", "torch.nn.functional", "numpy.testing")))]
    snap = _snapshot(watched)
    blocker = _Blocker({**cfg["blocked_modules"], "reference_impl": "reference_import", "mentor": "reference_import"})
    for name in [n for n in sys.modules if n.split(".")[0] in ("mentor", "reference_impl")]:
        del sys.modules[name]
    sys.meta_path.insert(0, blocker)
    for p in (cfg["package_root"], cfg["reference_root"]):
        sys.path.remove(p)  # the first occurrence: the one prepended above
    sys.path.insert(0, cfg["workspace"])

    def _no_input(*_: Any) -> str:
        raise EOFError("input() was called: checks run without a keyboard; take values as arguments instead")

    import builtins
    builtins.input = _no_input
    snap.update(_snapshot([builtins]))
    watched.append(builtins)

    def guard_verdict() -> dict[str, Any] | None:
        if blocker.attempts:
            kind, name = blocker.attempts[0]
            why = {"numpy_only": "this phase is NumPy only", "banned": "it is banned in this unit"}.get(kind, "learner code may not use the answer key or mentor")
            return {"kind": kind, "message": f"learner code tried to import `{name}`: {why}"}
        if violations:
            v = violations[0]
            return {"kind": "banned", "message": f"{v['file']}:{v['line']} calls `{v['api']}`, banned in this unit"}
        changed = _tampered(watched, snap)
        if changed:
            return {"kind": "tampering", "message": f"learner code replaced {', '.join(changed)}; the harness must not be patched"}
        if cfg["numpy_only"] and "torch" in sys.modules:
            return {"kind": "numpy_only", "message": "learner code imported torch, but this phase is NumPy only"}
        return None

    modules: dict[str, Any] = {}

    def importer(name: str) -> Any:
        return importlib.import_module(f"myllm.{name}")

    state: dict[str, Any] = {"test": None}
    if cfg.get("sample_at") is not None:
        _start_watchdog(chan, float(cfg["sample_at"]), learner_dir, state)
    t0 = _monotonic()
    try:
        modules["__unit__"] = importer(cfg["module"])
    except BaseException as e:  # noqa: BLE001 - every failure is reported, none escapes
        verdict = guard_verdict()
        if isinstance(e, SyntaxError) and not verdict:
            rel = os.path.relpath(e.filename or "?", cfg["workspace"])
            verdict = {"kind": "syntax", "message": f"syntax error in {rel}:{e.lineno}: {e.msg}"}
        info = verdict or {**_classify(e, learner_dir), "kind": "import"}
        if not verdict and info.get("status") != "not_implemented":
            info["message"] = f"importing myllm.{cfg['module']} failed: {info['message']}"
        chan.send({"event": "fatal", **info})
        return
    verdict = guard_verdict()
    if verdict:
        chan.send({"event": "fatal", **verdict})
        return
    chan.send({"event": "imported", "seconds": _monotonic() - t0})

    prefix = cfg.get("prefix") or "test_"  # a lab script's functions are lab_*
    tests = [(n, f) for n, f in vars(tests_mod).items() if n.startswith(prefix) and callable(f)]
    descriptions = {n: testkit.describe(f) for n, f in tests}
    chan.send({"event": "plan", "tests": [n for n, _ in tests], "descriptions": descriptions})
    only = cfg.get("only")
    for name, fn in tests:
        if only is not None and name not in only:
            continue  # deselected (-k): the runner lists it as not run
        state["test"] = name
        chan.send({"event": "start", "name": name})
        hidden = bool(getattr(fn, "__check_hidden__", False))
        ctx = testkit.Context(cfg["seed"], name, modules, importer, hidden=hidden)
        res: dict[str, Any] = {"event": "test", "name": name, "help": getattr(fn, "__check_help__", None),
                               "description": descriptions[name]}
        t0 = _monotonic()
        try:
            note = fn(ctx)
            res["status"] = "pass"
            if isinstance(note, str) and note:
                res["message"] = note[:1000]  # a passing test may return a note (e.g. a timing), shown as is
            elif isinstance(note, dict):
                res["figures"] = note  # a lab's measured figures (JSON-serialisable values)
        except testkit.CheckFailure as e:
            res.update(status="fail", message=e.message, details={} if hidden else e.details)
            if e.help:
                res["help"] = e.help
        except BaseException as e:  # noqa: BLE001
            res.update(_classify(e, learner_dir))
        res["seconds"] = round(_monotonic() - t0, 4)
        if res["status"] in ("fail", "error"):
            _attach_call(res, ctx, hidden, bool(cfg.get("save_inputs")), testkit)
        verdict = guard_verdict()
        if verdict:
            res.update(status="error", **verdict)
        chan.send(res)
        if verdict:
            chan.send({"event": "fatal", **verdict})
            return
    chan.send({"event": "done"})


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip atexit hooks the learner may have registered
