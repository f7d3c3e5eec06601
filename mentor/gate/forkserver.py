"""Warm re-checks: a sandbox parent that has already imported numpy (and torch) forks each check.

A cold check pays ~2 s of `import torch` in its fresh sandbox process before any test runs. In
`mentor check --watch` and in `mentor start` the owner (the mentor process) keeps one *fork server*:
a fresh interpreter (`python -I` this file, exec'd, never a fork of mentor, so it holds none of the
owner's memory, environment or API keys) started with the sandbox's whitelisted environment, which
imports numpy (and torch, unless the unit is NumPy only) and then waits. Per check it forks one
child that becomes the sandbox exactly as a cold check's process would: its own session and process
group, the check's rlimits, stdin /dev/null, stdout+stderr on the owner's output pipe, every other
fd closed, the check's cwd and environment, fresh RNG seeds, then `harness.py` run as `__main__`
with the nonce config and results pipes. The parent never imports learner, reference or mentor
code, and never runs a torch op (an OpenMP pool started before a fork breaks the child's); the
harness sets the thread counts in the child.

Protocol (a Unix socket pair, one JSON line per message, fds as SCM_RIGHTS):
  server -> owner  {"event": "ready"} once imported (or {"event": "failed", "message": ...})
  owner -> server  {"limits": [[res, val], ...], "env": {...}, "cwd": "...", "harness": "..."}
                   with three fds: output write end, config read end, results write end
  server -> owner  {"event": "started", "pid": N}, later {"event": "exit", "pid": N, "returncode": rc}
                   (rc as subprocess: negative = killed by that signal). Before reaping, the server
                   kills the child's whole process group (nothing the learner started outlives it).
EOF on the socket (the owner closed it, exited or was killed) makes the server kill a running
child's group and exit: no orphans. The owner runs one check at a time per server; if the server
dies it is restarted for the next check, and the check that lost it runs again cold.
`MENTOR_WARM=0` in the environment turns warm checks off.
"""

from __future__ import annotations

import ast
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    from mentor.curriculum import Course, Unit
    from mentor.gate.runner import GateSpec

READY_TIMEOUT_S = 120.0  # importing torch on a loaded 2-core machine can take several seconds
REPORT_TIMEOUT_S = 10.0  # after the owner's SIGKILL of the group, the exit report is due at once
MAX_FDS = 3


class ServerLost(Exception):
    """The warm parent is gone or out of step: the check runs cold, the next one gets a fresh parent."""


class _Lines:
    """Newline-framed JSON over a stream socket, with fds passed alongside (SCM_RIGHTS)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buf, self.fds = sock, b"", []  # type: ignore[var-annotated]

    def send(self, msg: dict, fds: tuple[int, ...] = ()) -> None:
        data = json.dumps(msg).encode() + b"\n"
        if fds:
            n = socket.send_fds(self.sock, [data], list(fds))
            data = data[n:]
        if data:
            self.sock.sendall(data)

    def recv(self, timeout: float | None = None) -> tuple[dict | None, list[int]]:
        """The next message and the fds that came with it; (None, []) at EOF; TimeoutError after timeout."""
        while b"\n" not in self.buf:
            if timeout is not None and not select.select([self.sock], [], [], timeout)[0]:
                raise TimeoutError
            data, fds, _flags, _addr = socket.recv_fds(self.sock, 65536, MAX_FDS)
            self.fds += fds
            if not data:
                for fd in self.fds:
                    os.close(fd)
                self.fds = []
                return None, []
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        fds, self.fds = self.fds, []
        return json.loads(line), fds


# ---------------------------------------------------------------- server side (this file as a script)

def _close_other_fds(keep: set[int]) -> None:
    try:
        open_fds = [int(n) for n in os.listdir("/dev/fd")]
    except OSError:
        open_fds = list(range(3, 1024))
    for fd in open_fds:
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def _become_sandbox(req: dict, out_w: int, cfg_r: int, res_w: int, server_pid: int) -> None:
    """In the forked child: the same process state a cold check's `python -I harness.py` starts with."""
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.setsid()
    if sys.platform.startswith("linux"):  # die with the server should it be killed outright
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != server_pid:
            os._exit(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out_w, 1)
    os.dup2(out_w, 2)
    _close_other_fds({0, 1, 2, cfg_r, res_w})
    os.chdir(req["cwd"])
    os.environ.clear()
    os.environ.update(req["env"])
    if "tempfile" in sys.modules:
        sys.modules["tempfile"].tempdir = None  # re-read TMPDIR
    if "numpy.random" in sys.modules:
        sys.modules["numpy.random"].seed()  # the parent's global NumPy RNG state would repeat per check
    import resource

    for res, val in req["limits"]:
        try:
            resource.setrlimit(res, (val, val))
        except (ValueError, OSError):
            pass
    import runpy

    sys.argv = [req["harness"], str(cfg_r), str(res_w)]
    runpy.run_path(req["harness"], run_name="__main__")  # ends in os._exit(0)


def _child_main(req: dict, fds: list[int], server_pid: int) -> None:
    code = 1
    try:
        _become_sandbox(req, *fds, server_pid=server_pid)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:  # noqa: BLE001 - as an uncaught exception in a cold interpreter: traceback, exit 1
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _reap(pid: int, chan: _Lines, wake_r: int) -> int | None:
    """Wait for the child; kill its group before reaping it. None: the owner went away (child killed)."""
    while True:
        ready = select.select([chan.sock, wake_r], [], [])[0]
        if wake_r in ready:
            try:
                while os.read(wake_r, 512):
                    pass
            except BlockingIOError:
                pass
        if chan.sock in ready:  # EOF: the owner closed the socket or died; stop the check
            _killpg(pid)
            os.waitpid(pid, 0)
            return None
        if hasattr(os, "waitid"):  # an exited child stays a zombie, so its group id cannot be reused yet
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
                continue
            _killpg(pid)
            _, status = os.waitpid(pid, 0)
        else:
            got, status = os.waitpid(pid, os.WNOHANG)
            if got == 0:
                continue
            _killpg(pid)
        return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _killpg(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def serve(sock_fd: int, preload: list[str]) -> None:
    chan = _Lines(socket.socket(fileno=sock_fd))
    try:
        import importlib

        for name in preload:
            importlib.import_module(name)
    except BaseException as e:  # noqa: BLE001 - the owner falls back to cold checks
        chan.send({"event": "failed", "message": f"importing {name} failed: {e!r}"})
        return
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler (not SIG_IGN): children stay reapable
    chan.send({"event": "ready", "pid": os.getpid(), "preloaded": preload})
    me = os.getpid()
    while True:
        req, fds = chan.recv()
        if req is None:
            return
        if len(fds) != 3:
            for fd in fds:
                os.close(fd)
            return
        pid = os.fork()
        if pid == 0:
            _child_main(req, fds, me)
        for fd in fds:
            os.close(fd)  # the owner must see EOF on the pipes once the child is gone
        chan.send({"event": "started", "pid": pid})
        rc = _reap(pid, chan, wake_r)
        if rc is None:
            return
        chan.send({"event": "exit", "pid": pid, "returncode": rc})


# ---------------------------------------------------------------- owner side

class WarmChild:
    """A forked sandbox, seen from the owner: the part of `subprocess.Popen` the runner uses."""

    def __init__(self, server: WarmServer, pid: int) -> None:
        self.server, self.pid = server, pid
        self.returncode: int | None = None

    def wait(self, timeout: float | None = None) -> int:
        """As Popen.wait; timeout None waits at most REPORT_TIMEOUT_S (the group has been killed)."""
        if self.returncode is not None:
            return self.returncode
        if self.server.chan is None or not self.server.busy:
            raise ServerLost("the warm parent was closed during the check")
        try:
            msg, _ = self.server.chan.recv(REPORT_TIMEOUT_S if timeout is None else timeout)
        except TimeoutError:
            if timeout is not None:
                raise subprocess.TimeoutExpired("warm sandbox", timeout) from None
            self.server.abandon()
            raise ServerLost("the warm parent did not report the end of the check") from None
        except BaseException:  # Ctrl-C inside the protocol: its state is unknown
            if timeout is None:
                self.server.abandon()
            raise
        if msg is None or msg.get("event") != "exit" or msg.get("pid") != self.pid:
            self.server.abandon()
            raise ServerLost("the warm parent stopped during the check")
        self.returncode = int(msg["returncode"])
        self.server.busy = False
        return self.returncode

    def kill_group(self) -> None:
        if self.returncode is None:  # once reported, the server has killed the group before reaping
            _killpg(self.pid)


class WarmServer:
    """One warm parent for checks with the same preloads and thread count."""

    def __init__(self, env: dict[str, str], preload: list[str], home: str, stats: dict[str, int]) -> None:
        self.env, self.preload, self.home, self.stats = env, preload, home, stats
        self.proc: subprocess.Popen | None = None
        self.chan: _Lines | None = None  # type: ignore[assignment]
        self.ready = False
        self.busy = False
        self.cannot_start = False

    def start(self) -> None:
        ours, theirs = socket.socketpair()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", str(Path(__file__).resolve()), str(theirs.fileno()), str(os.getpid()), *self.preload],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.home,
                env=self.env, pass_fds=(theirs.fileno(),), start_new_session=True)
        finally:
            theirs.close()
        self.chan = _Lines(ours)
        self.ready, self.busy = False, False
        self.stats["starts"] += 1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _await_ready(self) -> None:
        if self.ready:
            return
        try:
            msg, _ = self.chan.recv(READY_TIMEOUT_S)
        except TimeoutError:
            msg = {"event": "failed", "message": f"not ready after {READY_TIMEOUT_S:g} s"}
        except BaseException:
            self.abandon()
            raise
        if msg is None or msg.get("event") != "ready":
            self.abandon()
            self.cannot_start = True  # e.g. torch fails to import: cold checks say why, every time
            raise ServerLost((msg or {}).get("message", "the warm parent exited while starting"))
        self.ready = True

    def launch(self, out_w: int, cfg_r: int, res_w: int, limits: list[tuple[int, int]], env: dict[str, str],
               cwd: str, harness: Path) -> WarmChild:
        """Fork one sandbox (its limits are set before it reads its config). Raises ServerLost."""
        if not self.alive() or self.busy:
            self.abandon()
            self.start()
        self._await_ready()
        try:
            self.busy = True
            self.chan.send({"limits": limits, "env": env, "cwd": cwd, "harness": str(harness)}, (out_w, cfg_r, res_w))
            msg, _ = self.chan.recv(REPORT_TIMEOUT_S)
        except (OSError, TimeoutError) as e:
            self.abandon()
            raise ServerLost(f"the warm parent did not fork: {e!r}") from None
        except BaseException:
            self.abandon()
            raise
        if msg is None or msg.get("event") != "started":
            self.abandon()
            raise ServerLost("the warm parent did not fork the check")
        self.stats["forks"] += 1
        return WarmChild(self, int(msg["pid"]))

    def abandon(self) -> None:
        """Close the socket (the server kills any running check and exits); make sure it is gone."""
        if self.chan is not None:
            for fd in self.chan.fds:
                os.close(fd)
            self.chan.sock.close()
            self.chan = None  # type: ignore[assignment]
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _killpg(self.proc.pid)
                self.proc.wait()
            self.proc = None
        self.ready = False


class WarmPool:
    """The owner's warm parents: at most one at a time (a session moves from unit to unit)."""

    def __init__(self) -> None:
        import tempfile

        self._tmp = tempfile.TemporaryDirectory(prefix="mentor-warm-")
        self.servers: dict[tuple[str, ...], WarmServer] = {}
        self.lock = threading.Lock()
        # servers started, checks forked, checks that lost their parent (re-run cold), checks run cold in the scope
        self.stats = {"starts": 0, "forks": 0, "lost": 0, "cold": 0}

    @staticmethod
    def _key(spec: GateSpec) -> tuple[str, ...]:
        """The modules the parent imports (the last entry is the thread count, set in its environment).

        Only what a cold check imports before learner code runs: numpy always (testkit), torch only when
        the hidden tests or the reference modules they use import it (a torch parent would otherwise
        leave the learner ~0.5 GB less of the check's address-space limit than a cold check, e.g. in
        the BPE units). With torch also torch._inductor.config (it imports torch._dynamo): the harness's
        `torch.use_deterministic_algorithms` imports it before its tampering snapshot, ~2 s more.
        """
        torch = not spec.numpy_only and imports_torch(spec.tests_path)
        mods = ("numpy", "torch", "torch._inductor.config") if torch else ("numpy",)
        return mods + (f"threads={spec.threads}",)

    def server_for(self, spec: GateSpec) -> WarmServer | None:
        from mentor.gate.runner import sandbox_env

        key = self._key(spec)
        srv = self.servers.get(key)
        if srv is None:
            for other in list(self.servers):
                self.servers.pop(other).abandon()
            srv = self.servers[key] = WarmServer(sandbox_env(spec, self._tmp.name), list(key[:-1]), self._tmp.name, self.stats)
        if srv.cannot_start:
            return None
        if not srv.alive():  # never started, or died since: a fresh one
            srv.abandon()
            srv.start()
        return srv

    def close(self) -> None:
        for srv in self.servers.values():
            srv.abandon()
        self.servers.clear()
        self._tmp.cleanup()


def _executed_at_import(node: ast.AST) -> Iterator[ast.AST]:
    """The statements a module runs when imported: everything but the bodies of functions."""
    for child in ast.iter_child_nodes(node):
        yield child
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            yield from _executed_at_import(child)


def imports_torch(tests_path: Path) -> bool:
    """Whether loading hidden tests imports torch: at module level, theirs or of the reference/mentor
    modules they import (transitively)."""
    from mentor.paths import package_root, reference_root

    roots = {"reference_impl": reference_root(), "mentor": package_root()}
    todo, seen = [Path(tests_path)], set()
    while todo:
        path = todo.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        for node in _executed_at_import(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] == "torch":
                    return True
                if parts[0] in roots:
                    base = roots[parts[0]].joinpath(*parts)
                    todo += [base.with_suffix(".py"), base / "__init__.py"]
    return False


_ACTIVE: WarmPool | None = None


def available() -> bool:
    return (os.environ.get("MENTOR_WARM", "1") != "0" and hasattr(os, "fork") and hasattr(socket, "send_fds")
            and sys.platform != "win32")


def active_pool() -> WarmPool | None:
    """The pool of the enclosing `warm_checks()` scope (None: checks run cold)."""
    return _ACTIVE


@contextmanager
def warm_checks(course: Course | None = None, unit: Unit | None = None) -> Iterator[WarmPool | None]:
    """Within this scope checks fork from a warm parent; with a unit, its parent starts importing now."""
    global _ACTIVE
    if _ACTIVE is not None or not available():
        yield _ACTIVE
        return
    pool = _ACTIVE = WarmPool()
    try:
        if course is not None and unit is not None and not unit.gate.missing_needs():
            from mentor.gate.runner import spec_for

            pool.server_for(spec_for(unit, course.phase_of(unit.id).numpy_only))
        yield pool
    finally:
        _ACTIVE = None
        pool.close()


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[3:])
    os._exit(0)
