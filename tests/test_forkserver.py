"""Warm checks (mentor/gate/forkserver.py): forked from a warm parent, isolated exactly as a cold check.

The sandbox tests (test_sandbox.py, test_guard.py) run cold and warm through the `gate_mode`
fixture; here: the process state learner code sees is the same, mutants caught cold are caught warm,
each check sees the learner's latest code, the parent restarts when it dies, and through the real
`mentor` entry point `check --watch` forks from the parent and leaves no process behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mentor.curriculum import course
from mentor.gate.forkserver import available, imports_torch, warm_checks
from mentor.gate.runner import run_gate, spec_for
from mentor.mutants import mutant_module, mutant_source, reference_source
from mentor.selfcheck import reference_package

pytestmark = pytest.mark.skipif(not available(), reason="warm checks need os.fork and socket.send_fds (POSIX)")

REPO = Path(__file__).resolve().parent.parent
NEURON_REF = (REPO / "reference_impl" / "neuron.py").read_text()

# Learner code that records, at import, the process state a sandbox gives it (tmp dirs written as TMP).
PROBE = '''
def _probe(marker):
    import __main__
    import json as _json
    import os as _os
    import random as _random
    import resource as _resource
    import signal as _signal
    import sys as _sys
    import numpy as _np

    tmp = _os.getcwd()
    vm_mb = int(open("/proc/self/status").read().split("VmSize:")[1].split()[0]) // 1024
    fds = []
    for name in _os.listdir("/proc/self/fd"):
        try:
            target = _os.readlink("/proc/self/fd/" + name)
        except OSError:
            continue  # the directory listing's own fd
        fds.append([int(name) if int(name) < 3 else "n", target.split(":")[0]])
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
    state = {
        "fds": sorted(fds, key=str), "cwd_is_tmp": tmp.startswith(_os.path.realpath(_os.environ["TMPDIR"])),
        "env": {k: v.replace(_os.environ["TMPDIR"], "TMP") for k, v in _os.environ.items()},
        "limits": {n: _resource.getrlimit(getattr(_resource, n)) for n in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_CORE", "RLIMIT_NOFILE")},
        "own_group_and_session": _os.getpid() == _os.getpgrp() == _os.getsid(0),
        "threads": int(status["Threads"]),
        "flags": [_sys.flags.isolated, _sys.flags.ignore_environment, _sys.flags.no_user_site, _sys.dont_write_bytecode],
        "path": [p.replace(tmp, "TMP") for p in _sys.path],
        "main": _os.path.basename(__main__.__file__), "argv0": _os.path.basename(_sys.argv[0]),
        "signals": [str(_signal.getsignal(s)) for s in (_signal.SIGINT, _signal.SIGTERM, _signal.SIGCHLD, _signal.SIGPIPE)],
        "stdin": _os.readlink("/proc/self/fd/0"), "stdout_is_stderr": _os.readlink("/proc/self/fd/1") == _os.readlink("/proc/self/fd/2"),
    }
    state.update(_torch_state())
    rand = [_random.random(), float(_np.random.random())]
    with open(marker, "w") as f:
        _json.dump({"state": state, "rand": rand, "vm_mb": vm_mb, "parent": open("/proc/%d/cmdline" % _os.getppid()).read()}, f)
'''

TORCH_PROBE = """
def _torch_state():
    import torch

    return {"torch_threads": torch.get_num_threads(), "torch_works": float((torch.ones(64, 64) @ torch.ones(64, 64))[0, 0])}
"""
NO_TORCH = "\ndef _torch_state():\n    return {}\n"


def _probe_ws(root: Path, marker: Path, module: str, with_torch: bool) -> Path:
    ws = reference_package(root)
    mod = ws / "myllm" / f"{module}.py"
    mod.write_text(mod.read_text() + PROBE + (TORCH_PROBE if with_torch else NO_TORCH) + f"\n_probe({str(marker)!r})\n")
    return ws


def _neuron_spec(numpy_only: bool):
    return spec_for(course().unit("neuron"), numpy_only=numpy_only)


@pytest.mark.parametrize("uid", ["neuron", "bpe-train", "norms"])
def test_warm_sandbox_has_the_cold_sandbox_process_state(tmp_path, uid):
    """NumPy-only phase, a torch phase whose tests do not import torch, a torch unit: the parent
    imports only what the cold check imports, and the learner's code finds the same process."""
    c = course()
    unit = c.unit(uid)
    spec = spec_for(unit, c.phase_of(uid).numpy_only)
    uses_torch = uid == "norms"
    assert imports_torch(spec.tests_path) == uses_torch
    marker = tmp_path / "probe.json"
    ws = _probe_ws(tmp_path / "ws", marker, unit.exercise.module, with_torch=uses_torch)
    res = run_gate(ws, spec, seed=5)
    assert res.status == "pass", res.message
    cold = json.loads(marker.read_text())
    with warm_checks() as pool:
        warm = []
        for _ in range(2):
            res = run_gate(ws, spec, seed=5)
            assert res.status == "pass", res.message
            warm.append(json.loads(marker.read_text()))
        assert pool.stats["forks"] == 2 and pool.stats["starts"] == 1 and pool.stats["cold"] == 0, pool.stats
        [key] = pool.servers
        assert ("torch" in key) == uses_torch, key
    assert "gate/forkserver.py" in warm[0]["parent"] and "gate/forkserver.py" not in cold["parent"]
    for w in warm:
        assert w["state"] == cold["state"]
        # the address space in use when learner code starts (it counts against the same RLIMIT_AS)
        assert abs(w["vm_mb"] - cold["vm_mb"]) <= 0.1 * cold["vm_mb"], (w["vm_mb"], cold["vm_mb"])
    assert cold["state"]["own_group_and_session"] and cold["state"]["limits"]["RLIMIT_AS"][0] == spec.memory_mb << 20
    assert warm[0]["rand"][0] != warm[1]["rand"][0], "Python's random repeats from one warm check to the next"
    assert warm[0]["rand"][1] != warm[1]["rand"][1], "NumPy's global RNG repeats from one warm check to the next"


def _outcome(res) -> tuple:
    return res.status, res.verdict, [(t.name, t.status) for t in res.tests]


def test_mutants_caught_cold_are_caught_warm_and_each_check_sees_the_latest_code(tmp_path):
    c = course()
    unit = c.unit("norms")
    spec = spec_for(unit, c.phase_of(unit.id).numpy_only)
    ws = reference_package(tmp_path / "ws")
    module = unit.exercise.module
    variants = [("reference", module, reference_source(module))]
    variants += [(m.name, mutant_module(m, module), mutant_source(m, module)) for m in unit.mutants]
    assert len(variants) >= 6

    def run(name: str, mod: str, src: str) -> tuple:
        for _, other, _ in variants:  # every module back to the reference, then this variant's
            (ws / "myllm" / f"{other}.py").write_text(reference_source(other))
        (ws / "myllm" / f"{mod}.py").write_text(src)
        return _outcome(run_gate(ws, spec, seed=11))

    cold = {name: run(name, mod, src) for name, mod, src in variants}
    assert cold["reference"][0] == "pass" and all(o[0] != "pass" for n, o in cold.items() if n != "reference"), cold
    with warm_checks() as pool:
        for name, mod, src in variants + variants[:1]:  # back to the reference: nothing of a mutant lingers
            assert run(name, mod, src) == cold[name], name
        assert pool.stats == {"starts": 1, "forks": len(variants) + 1, "lost": 0, "cold": 0}


def _server_pids(owner: int) -> list[int]:
    """Warm parents started by process `owner`: its children running forkserver.py (their forked checks
    show the same argv, but their parent is the warm parent)."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            argv = (d / "cmdline").read_bytes().split(b"\0")
            state, ppid = (d / "stat").read_text().rpartition(")")[2].split()[:2]
        except OSError:
            continue
        if state != "Z" and int(ppid) == owner and any(a.endswith(b"gate/forkserver.py") for a in argv):
            found.append(int(d.name))
    return found


def _gone(pid: int, within: float = 10.0) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def test_parent_restarts_after_it_dies_and_is_gone_after_the_scope(tmp_path):
    ws = reference_package(tmp_path / "ws")
    spec = _neuron_spec(True)
    with warm_checks() as pool:
        assert run_gate(ws, spec, seed=1).status == "pass"
        [first] = _server_pids(os.getpid())
        os.kill(first, signal.SIGKILL)
        assert _gone(first)
        assert run_gate(ws, spec, seed=1).status == "pass"
        [second] = _server_pids(os.getpid())
        assert second != first
        assert pool.stats == {"starts": 2, "forks": 2, "lost": 0, "cold": 0}
    assert _gone(second), "the warm parent outlived its scope"
    assert _server_pids(os.getpid()) == []


def test_a_check_whose_parent_is_killed_runs_again_cold(tmp_path):
    from sandbox_probe import assert_gone, looping_neuron, wait_for_pid

    marker = tmp_path / "sandbox.pid"
    ws = reference_package(tmp_path / "ws")
    looping_neuron(ws, marker)
    spec = _neuron_spec(True)
    spec.time_limit_s = 4
    out = {}
    with warm_checks() as pool:
        t = threading.Thread(target=lambda: out.update(res=run_gate(ws, spec, seed=1)))
        t.start()
        warm_pid, warm_pgid = wait_for_pid(marker)
        marker.unlink()
        [server] = _server_pids(os.getpid())
        os.kill(server, signal.SIGKILL)
        assert_gone(warm_pgid)  # the forked sandbox dies with its parent (and its group is killed)
        cold_pid, _ = wait_for_pid(marker)  # the same check, started again cold
        t.join()
        assert pool.stats["lost"] == 1 and pool.stats["forks"] == 1, pool.stats
    assert cold_pid != warm_pid
    assert (out["res"].status, out["res"].verdict) == ("timeout", "timeout"), out["res"].message


def _mentor_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MENTOR_WORKSPACE")}
    env.pop("MENTOR_WARM", None)
    return {**env, "COLUMNS": "140", "PROMPT_TOOLKIT_NO_CPR": "1"}


def _parent_probe(ws: Path, marker: Path) -> Path:
    """myllm/neuron.py: the reference, recording at import its sandbox's parent (pid and argv)."""
    mod = ws / "myllm" / "neuron.py"
    mod.write_text(NEURON_REF + "\nimport os as _os\n"
                   f"with open({str(marker)!r}, 'w') as _f:\n"
                   "    _f.write(str(_os.getppid()) + ' ' + open('/proc/%d/cmdline' % _os.getppid()).read().replace('\\0', ' '))\n")
    return mod


def _read_parent(marker: Path, timeout: float = 120) -> tuple[int, str]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        text = marker.read_text() if marker.exists() else ""
        if text.strip():
            pid, _, argv = text.partition(" ")
            return int(pid), argv
        time.sleep(0.05)
    raise AssertionError("the learner's module was never imported in a sandbox")


def test_watch_forks_rechecks_from_a_warm_parent_that_ctrl_c_ends(workspace):
    pexpect = pytest.importorskip("pexpect")
    marker = workspace / "parent.txt"
    mod = _parent_probe(workspace, marker)
    child = pexpect.spawn(sys.executable, ["-m", "mentor.cli", "check", "neuron", "--watch"], cwd=str(workspace),
                          encoding="utf-8", timeout=120, dimensions=(50, 140), env=_mentor_env())
    try:
        child.expect("PASS")
        child.expect("watching")
        server, argv = _read_parent(marker)
        assert "forkserver.py" in argv and str(child.pid) in argv.split()
        marker.unlink()
        mod.write_text(mod.read_text() + "\n# saved again\n")
        child.expect("change detected")
        child.expect("PASS")
        assert _read_parent(marker)[0] == server, "the re-check did not fork from the same warm parent"
        child.sendintr()
        child.expect("stopped watching")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert _gone(server), "the warm parent outlived `mentor check --watch`"


def test_a_killed_watch_leaves_no_warm_parent(workspace):
    marker = workspace / "parent.txt"
    _parent_probe(workspace, marker)
    proc = subprocess.Popen([sys.executable, "-m", "mentor.cli", "check", "neuron", "--watch"], cwd=workspace,
                            env=_mentor_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        server, argv = _read_parent(marker)
        assert "forkserver.py" in argv
        for line in proc.stderr:  # the first check is over: the warm parent is idle, waiting for the next
            if "watching" in line:
                break
    finally:
        proc.kill()  # SIGKILL: no cleanup code of mentor runs
        proc.wait()
    assert _gone(server), "the warm parent outlived its SIGKILLed owner"


def test_a_single_check_stays_cold(workspace):
    marker = workspace / "parent.txt"
    _parent_probe(workspace, marker)
    r = subprocess.run([sys.executable, "-m", "mentor.cli", "check", "neuron", "--json"], cwd=workspace,
                       env=_mentor_env(), capture_output=True, text=True, timeout=300)
    assert json.loads(r.stdout)["status"] == "pass", r.stdout + r.stderr
    _, argv = _read_parent(marker, timeout=1)
    assert "forkserver.py" not in argv and "mentor.cli" in argv


def test_session_checks_fork_from_a_warm_parent_started_with_the_session(workspace):
    pexpect = pytest.importorskip("pexpect")
    marker = workspace / "parent.txt"
    _parent_probe(workspace, marker)
    child = pexpect.spawn(sys.executable, ["-m", "mentor.cli", "start", "--offline"], cwd=str(workspace),
                          encoding="utf-8", timeout=120, dimensions=(50, 140), env=_mentor_env())
    try:
        child.expect("\\] >")
        [server] = _server_pids(child.pid)  # started with the session, before any /check
        servers = []
        for _ in range(2):
            child.sendline("/check")
            child.expect("PASS")
            servers.append(_read_parent(marker)[0])
            marker.unlink()
            child.expect("\\] >")
        assert servers == [server, server]
        child.sendintr()
        child.expect("session summary")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert _gone(server), "the warm parent outlived `mentor start`"


def test_mentor_warm_0_turns_warm_checks_off(monkeypatch, tmp_path):
    monkeypatch.setenv("MENTOR_WARM", "0")
    with warm_checks() as pool:
        assert pool is None
        assert run_gate(reference_package(tmp_path / "ws"), _neuron_spec(True), seed=1).status == "pass"
