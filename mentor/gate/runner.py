"""The parent side of a check: static guard, then the harness in a fresh, limited subprocess.

Limits: wall time (the runner kills the process group), CPU seconds, address space, file size,
open files, output volume; a whitelisted environment; BLAS/OpenMP/torch threads bounded; cwd a
fresh temp dir; stdin /dev/null. Results come only over the nonce-tagged RESULTS pipe.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mentor.gate.forkserver import ServerLost, active_pool
from mentor.gate.guard import scan_unit
from mentor.gate.result import CheckResult, TestResult
from mentor.paths import package_root, reference_root

if TYPE_CHECKING:
    from mentor.gate.forkserver import WarmChild, WarmServer

HARNESS = Path(__file__).with_name("harness.py")
HARD_OUTPUT_BYTES = 8 << 20  # beyond this the learner's output floods: the process is killed
SIGNAL_NAMES = {signal.SIGSEGV: "segmentation fault", signal.SIGBUS: "bus error", signal.SIGABRT: "abort",
                signal.SIGFPE: "floating-point exception", signal.SIGILL: "illegal instruction"}
ENV_PASS = ("PATH", "LANG", "LC_ALL", "CUDA_VISIBLE_DEVICES", "TRITON_INTERPRET", "SYSTEMROOT")


@dataclass
class GateSpec:
    """What the runner needs of a unit (kept small so tests can build one by hand)."""

    unit: str
    module: str
    tests_path: Path
    banned: dict[str, str]
    numpy_only: bool
    time_limit_s: float = 30.0
    memory_mb: int = 1024
    threads: int = 1
    output_kb: int = 256
    missing_needs: list[str] = field(default_factory=list)  # messages of the packages the check needs but lacks
    prefix: str = "test_"  # the functions run: test_* of hidden tests, lab_* of a lab script
    only: list[str] | None = None  # -k: run only these checks (test names); the others are listed as not run
    save_inputs: bool = False  # --save-inputs: failing checks send the arguments of their last learner call


def spec_for(unit: Any, numpy_only: bool) -> GateSpec:
    return GateSpec(unit=unit.id, module=unit.exercise.module, tests_path=unit.tests_path,
                    banned={b.api: b.reason for b in unit.exercise.banned}, numpy_only=numpy_only,
                    time_limit_s=unit.gate.time_limit_s, memory_mb=unit.gate.memory_mb,
                    threads=unit.gate.threads, output_kb=unit.gate.output_kb, missing_needs=unit.gate.missing_needs())


def lab_spec_for(unit: Any, numpy_only: bool) -> GateSpec:
    """The same sandbox for a unit's lab script: its lab_* functions measure the learner's code."""
    lab = unit.lab
    spec = spec_for(unit, numpy_only)
    spec.tests_path = unit.lab_path
    spec.prefix = "lab_"
    spec.time_limit_s = lab.time_limit_s
    spec.memory_mb = lab.memory_mb or spec.memory_mb
    spec.threads = lab.threads or spec.threads
    return spec


def code_hash(workspace: Path) -> str:
    h = hashlib.sha256()
    for p in sorted((workspace / "myllm").rglob("*.py")):
        h.update(p.relative_to(workspace).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _limit_values(spec: GateSpec) -> list[tuple[int, int]]:
    cpu = int(spec.time_limit_s * max(spec.threads, 1)) + 5
    return [(resource.RLIMIT_AS, spec.memory_mb << 20), (resource.RLIMIT_CPU, cpu), (resource.RLIMIT_FSIZE, 64 << 20),
            (resource.RLIMIT_CORE, 0), (resource.RLIMIT_NOFILE, 256)]


def _limits(spec: GateSpec) -> None:
    """preexec: runs in the child between fork and exec (only where prlimit is missing)."""
    for res, val in _limit_values(spec):
        try:
            resource.setrlimit(res, (val, val))
        except (ValueError, OSError):
            pass


def _prlimit(pid: int, spec: GateSpec) -> None:
    """Limit a started child. The harness blocks on its config pipe until this is done, so no learner
    code runs unlimited; and no preexec_fn runs between fork and exec (unsafe with threads)."""
    for res, val in _limit_values(spec):
        try:
            resource.prlimit(pid, res, (val, val))
        except (ValueError, OSError):
            pass


def sandbox_env(spec: GateSpec, tmp: str) -> dict[str, str]:
    env = {k: os.environ[k] for k in ENV_PASS if k in os.environ}
    env.setdefault("PATH", "/usr/bin:/bin")
    t = str(spec.threads)
    env.update(HOME=tmp, TMPDIR=tmp, PYTHONIOENCODING="utf-8", OMP_NUM_THREADS=t, MKL_NUM_THREADS=t,
               OPENBLAS_NUM_THREADS=t, NUMEXPR_NUM_THREADS=t, VECLIB_MAXIMUM_THREADS=t,
               # torch._inductor (imported by the harness's use_deterministic_algorithms) otherwise sets this itself,
               # lazily, from TMPDIR: given here, a cold and a warm (forked) sandbox see the same environment
               TORCHINDUCTOR_CACHE_DIR=os.path.join(tmp, "torchinductor"))
    return env


class _OutputReader(threading.Thread):
    def __init__(self, stream: Any, keep: int, on_flood: Any) -> None:
        super().__init__(daemon=True)
        self.stream, self.keep, self.on_flood = stream, keep, on_flood
        self.buf = bytearray()
        self.total = 0

    def run(self) -> None:
        while chunk := self.stream.read1(65536):
            self.total += len(chunk)
            if len(self.buf) < self.keep:
                self.buf += chunk[: self.keep - len(self.buf)]
            if self.total > HARD_OUTPUT_BYTES:
                self.on_flood()
                return


class _ResultReader(threading.Thread):
    def __init__(self, fd: int, nonce: str) -> None:
        super().__init__(daemon=True)
        self.fd, self.prefix = fd, nonce + " "
        self.messages: list[dict[str, Any]] = []

    def run(self) -> None:
        with os.fdopen(self.fd, "rb") as f:
            for raw in f:
                line = raw.decode("utf-8", "replace")
                if line.startswith(self.prefix):
                    try:
                        self.messages.append(json.loads(line[len(self.prefix):]))
                    except json.JSONDecodeError:
                        continue


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_gate(workspace: Path, spec: GateSpec, seed: int | None = None) -> CheckResult:
    seed = secrets.randbits(31) if seed is None else seed
    t0 = time.monotonic()
    res = CheckResult(unit=spec.unit, status="error", seed=seed, code_hash=code_hash(workspace))
    if spec.missing_needs:  # nothing can run without the package: say what to install
        res.verdict, res.message = "missing_dependency", "; ".join(spec.missing_needs)
        return res
    module_file = workspace / "myllm" / f"{spec.module}.py"
    if not module_file.is_file():
        res.verdict, res.message = "missing", f"myllm/{spec.module}.py does not exist"
        return res
    violations = scan_unit(workspace, spec.module, spec.banned, spec.numpy_only)
    if violations:
        v = violations[0]
        res.verdict = v.kind
        res.message = f"{v.where()}: {v.message}"
        more = len(violations) - 1
        if more:
            res.message += f" (and {more} more: " + "; ".join(x.where() for x in violations[1:4]) + ")"
        res.duration_s = time.monotonic() - t0
        return res
    _spawn(workspace, spec, res)
    res.duration_s = round(time.monotonic() - t0, 3)
    return res


def _sample_margin(limit_s: float) -> float:
    """How long before the wall-clock kill the harness samples the learner's stack."""
    return min(1.0, max(0.2, 0.1 * limit_s))


def _config(workspace: Path, spec: GateSpec, seed: int, nonce: str, sample_at: float | None = None) -> bytes:
    callables = [a for a in spec.banned if "." in a]
    blocked = {a: "banned" for a in spec.banned if "." not in a}
    if spec.numpy_only:
        blocked["torch"] = "numpy_only"
    return json.dumps({
        "nonce": nonce, "package_root": str(package_root()), "reference_root": str(reference_root()),
        "workspace": str(workspace.resolve()), "module": spec.module, "tests_path": str(spec.tests_path),
        "seed": seed, "threads": spec.threads, "banned_callables": callables, "blocked_modules": blocked,
        "numpy_only": spec.numpy_only, "sample_at": sample_at, "prefix": spec.prefix, "only": spec.only,
        "save_inputs": spec.save_inputs,
    }).encode()


def _spawn(workspace: Path, spec: GateSpec, res: CheckResult) -> None:
    """Run the harness in a fresh sandbox process: forked from the warm parent inside a `warm_checks()`
    scope (mentor/gate/forkserver.py), else (and if the warm parent is lost) a cold `python -I`."""
    pool = active_pool()
    if pool is not None and pool.lock.acquire(blocking=False):  # one check at a time per warm parent
        try:
            server = pool.server_for(spec)
            if server is not None:
                _run_sandbox(workspace, spec, res, server)
                return
        except ServerLost:
            pool.stats["lost"] += 1  # nothing of the lost run was kept: the check runs again, cold
        finally:
            pool.lock.release()
    if pool is not None:
        pool.stats["cold"] += 1
    _run_sandbox(workspace, spec, res, None)


def _start(spec: GateSpec, tmp: str, cfg_r: int, res_w: int) -> subprocess.Popen:
    late = hasattr(resource, "prlimit")
    proc = subprocess.Popen(
        [sys.executable, "-I", str(HARNESS), str(cfg_r), str(res_w)], stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp, env=sandbox_env(spec, tmp),
        pass_fds=(cfg_r, res_w), start_new_session=True, preexec_fn=None if late else (lambda: _limits(spec)))
    if late:
        try:
            _prlimit(proc.pid, spec)
        except BaseException:
            _kill_group(proc.pid)
            proc.wait()
            raise
    return proc


def _run_sandbox(workspace: Path, spec: GateSpec, res: CheckResult, server: WarmServer | None) -> None:
    nonce = secrets.token_hex(16)
    cfg_r, cfg_w = os.pipe()
    res_r, res_w = os.pipe()
    with tempfile.TemporaryDirectory(prefix="mentor-check-") as tmp:
        # CLOCK_MONOTONIC is system-wide on Linux and macOS: the harness can compare against it
        sample_at = time.monotonic() + spec.time_limit_s - _sample_margin(spec.time_limit_s)
        proc: subprocess.Popen | WarmChild
        try:
            if server is None:
                proc = _start(spec, tmp, cfg_r, res_w)
                stdout = proc.stdout
            else:  # the child sets the same limits itself, before it reads its config
                out_r, out_w = os.pipe()
                try:
                    proc = server.launch(out_w, cfg_r, res_w, _limit_values(spec), sandbox_env(spec, tmp), tmp, HARNESS)
                except BaseException:
                    os.close(out_r)
                    raise
                finally:
                    os.close(out_w)
                stdout = os.fdopen(out_r, "rb")
        except BaseException:
            for fd in (cfg_r, cfg_w, res_r, res_w):
                os.close(fd)
            raise
        lost = None
        try:  # from here on the sandbox never outlives this call, Ctrl-C (KeyboardInterrupt) included
            os.close(cfg_r)
            os.close(res_w)
            with os.fdopen(cfg_w, "wb") as f:
                f.write(_config(workspace, spec, res.seed, nonce, sample_at))
            flooded = threading.Event()

            def flood() -> None:
                flooded.set()
                _kill(proc)

            out = _OutputReader(stdout, spec.output_kb << 10, flood)
            results = _ResultReader(res_r, nonce)
            out.start()
            results.start()
            timed_out = False
            try:
                proc.wait(timeout=spec.time_limit_s)
            except subprocess.TimeoutExpired:
                timed_out = True
            except ServerLost as e:
                lost = e
        finally:
            _kill(proc)
            try:
                proc.wait()
            except ServerLost as e:
                lost = lost or e
        out.join(timeout=2)
        results.join(timeout=2)
    if lost is not None:
        raise lost
    res.output = out.buf.decode("utf-8", "replace")
    res.output_truncated = out.total > len(out.buf)
    _interpret(res, spec, results.messages, proc.returncode, timed_out, flooded.is_set())
    if res.verdict == "harness" and not res.tests and spec.prefix != "test_":
        res.message = f"{spec.tests_path.name} defines no {spec.prefix}* functions"


def _kill(proc: subprocess.Popen | WarmChild) -> None:
    if isinstance(proc, subprocess.Popen):
        _kill_group(proc.pid)
    else:
        proc.kill_group()


def _interpret(res: CheckResult, spec: GateSpec, msgs: list[dict[str, Any]], rc: int, timed_out: bool, flooded: bool) -> None:
    res.tests = [TestResult.from_msg(m) for m in msgs if m.get("event") == "test"]
    fatal = next((m for m in msgs if m.get("event") == "fatal"), None)
    done = any(m.get("event") == "done" for m in msgs)
    running = _running_test(res, msgs)
    during = f" (while check {running} was running)" if running else ""
    if flooded:
        res.verdict, res.message = "output_limit", f"learner code printed more than {HARD_OUTPUT_BYTES >> 20} MiB{during}; remove the prints in loops"
    elif timed_out:
        res.status, res.verdict = "timeout", "timeout"
        res.message = (f"time limit of {spec.time_limit_s:g} s reached: {_where_it_ran(msgs, running, spec.module)}; "
                       "possible infinite loop, or an algorithm far slower than needed")
    elif fatal is not None:
        res.verdict = fatal.get("kind") or fatal.get("status")
        if fatal.get("status") == "not_implemented":
            res.verdict = "not_implemented"
            res.status = "fail"
        res.message = fatal.get("message", "")
    elif rc < 0 and -rc == signal.SIGXCPU:
        res.status, res.verdict = "timeout", "timeout"
        res.message = f"CPU time limit reached{during}: possible infinite loop"
    elif rc < 0 and -rc == signal.SIGXFSZ:
        res.verdict, res.message = "output_limit", f"a file written by learner code passed the 64 MiB limit{during}"
    elif rc < 0 and -rc == signal.SIGKILL:
        res.verdict, res.message = "memory", f"the process was killed (SIGKILL){during}, most likely for using too much memory (limit {spec.memory_mb} MiB)"
    elif rc < 0:
        name = SIGNAL_NAMES.get(-rc, signal.Signals(-rc).name if -rc in signal.valid_signals() else str(-rc))
        res.verdict, res.message = "crash", f"the process crashed: {name} (signal {-rc}){during}"
    elif not done:
        res.verdict = "exit"
        res.message = f"the process exited (code {rc}) before the checks finished{during}: learner code called os._exit() or similar"
    else:
        _selection(res, spec, msgs)
        _summarise(res)
        _describe(res, msgs)
        return
    _unfinished(res, msgs, running, spec.only)
    _selection(res, spec, msgs)
    _describe(res, msgs)


def _plan(msgs: list[dict[str, Any]]) -> dict[str, Any]:
    return next((m for m in msgs if m.get("event") == "plan"), {})


def _selection(res: CheckResult, spec: GateSpec, msgs: list[dict[str, Any]]) -> None:
    """-k: list the checks it did not select as not run, so the result says the run was partial."""
    if spec.only is None:
        return
    res.selected = list(spec.only)
    finished = {t.name for t in res.tests}
    for name in _plan(msgs).get("tests") or []:
        if name not in finished and name not in spec.only:
            res.tests.append(TestResult(name, "not_run", "not run: not selected (-k)", details={"deselected": True}))


def _describe(res: CheckResult, msgs: list[dict[str, Any]]) -> None:
    """Every check gets its one-line description and the hidden tests' order."""
    plan = _plan(msgs)
    desc = plan.get("descriptions") or {}
    order = {n: i for i, n in enumerate(plan.get("tests") or [])}
    for t in res.tests:
        t.description = t.description or str(desc.get(t.name) or "")
    res.tests.sort(key=lambda t: order.get(t.name, len(order)))


def _running_test(res: CheckResult, msgs: list[dict[str, Any]]) -> str | None:
    """The check that had started but not reported when the process ended (None: between checks, or importing)."""
    finished = {t.name for t in res.tests}
    started = [m.get("name") for m in msgs if m.get("event") == "start"]
    return started[-1] if started and started[-1] not in finished else None


def _where_it_ran(msgs: list[dict[str, Any]], running: str | None, module: str) -> str:
    """Where the code was when time ran out, from the harness's stack sample taken just before the kill."""
    sample = next((m for m in reversed(msgs) if m.get("event") == "stack"), None)
    if sample and sample.get("test") != running:
        sample = None  # taken during an earlier check: it says nothing about where this one was
    during = f"check {running}" if running else f"importing myllm.{module}"
    if sample and sample.get("learner"):
        return f"{sample['function']}() at {sample['file']}:{sample['line']} was still running (during {during})"
    if sample and sample.get("function"):
        return (f"{during} was still running, outside your code ({sample['function']}() at "
                f"{sample['file']}:{sample['line']})")
    return f"{during} was still running"


def _unfinished(res: CheckResult, msgs: list[dict[str, Any]], running: str | None, only: list[str] | None = None) -> None:
    """Add the check that was cut off and the checks that never ran, so the count shows them."""
    plan = _plan(msgs).get("tests") or []
    finished = {t.name for t in res.tests}
    for name in plan:
        if name in finished or (only is not None and name not in only):
            continue
        if name == running:
            res.tests.append(TestResult(name, "timeout" if res.verdict == "timeout" else "error", res.message))
        else:
            res.tests.append(TestResult(name, "not_run", "not run: the check stopped before reaching it"))


def _summarise(res: CheckResult) -> None:
    bad = [t for t in res.tests if t.status != "pass" and not t.details.get("deselected")]
    if not res.tests:
        res.status, res.verdict, res.message = "error", "harness", "the hidden tests define no test_* functions"
    elif not bad and res.partial:
        ran = len(res.tests) - sum(1 for t in res.tests if t.details.get("deselected"))
        res.status = "partial"
        res.message = (f"the {ran} selected check(s) passed; {len(res.tests) - ran} not run (-k): "
                       "a partial run never counts as a pass of the unit")
    elif not bad:
        res.status, res.message = "pass", f"all {len(res.tests)} checks passed"
    else:
        res.status = "fail"
        if all(t.status == "not_implemented" for t in bad):
            res.verdict = "not_implemented"
        mem = next((t for t in bad if "memory limit" in t.message), None)
        if mem:
            res.verdict = "memory"
        ran = len(res.tests) - sum(1 for t in res.tests if t.details.get("deselected"))
        res.message = f"{len(bad)} of {ran} checks did not pass" + (" (a partial run: -k)" if res.partial else "")
