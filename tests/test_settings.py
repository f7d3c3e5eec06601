"""mentor.toml validated (type, range, unknown keys: file:line, exit 2, no traceback); a read-only workspace is
told apart from a damaged database; `mentor init` refuses to nest a workspace inside another."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_mentor

BAD_SETTINGS = [
    ('[session]\nminutes = "sixty"\n', "mentor.toml:2: [session] minutes must be a whole number", "'sixty'"),
    ("[session]\nminutes = -3\n", "mentor.toml:2: [session] minutes must be a whole number", "-3"),
    ("[session]\nminutes = 6.5\n", "[session] minutes must be a whole number", "6.5"),
    ("session = 5\n", "mentor.toml:1: [session] must be a table", "5"),
    ('learner = "x"\n', "mentor.toml:1: [learner] must be a table", "'x'"),
    ('[learner]\nname = 3\n', "mentor.toml:2: [learner] name must be a quoted string", "3"),
    ('[learner]\nname = "A"\nnmae = "B"\n', "mentor.toml:3: unknown key [learner] nmae", "known keys"),
]


CASES = [(*case, ("status",)) for case in BAD_SETTINGS] + [
    (*BAD_SETTINGS[0], ("start", "--offline")), (*BAD_SETTINGS[0], ("prompt",)),
    (*BAD_SETTINGS[3], ("start", "--offline")), (*BAD_SETTINGS[4], ("prompt",)), (*BAD_SETTINGS[1], ("check",))]


@pytest.mark.parametrize("toml,where,got,command", CASES)
def test_wrong_settings_name_file_line_key_and_value(workspace: Path, toml: str, where: str, got: str, command):
    (workspace / "mentor.toml").write_text(toml)
    r = run_mentor(*command, cwd=workspace, input="")
    assert r.returncode == 2, r.stdout + r.stderr
    flat = " ".join(r.stderr.split())
    assert "Traceback" not in r.stderr
    assert where in flat and got in flat, flat
    assert "progress is not affected" in flat


def test_valid_settings_are_used(workspace: Path):
    (workspace / "mentor.toml").write_text('[learner]\nname = "Ada"\n[session]\nminutes = 45\n[project]\nsize = "tiny"\n')
    r = run_mentor("status", "--json", cwd=workspace)
    assert r.returncode == 0, r.stderr
    assert '"learner": "Ada"' in r.stdout


def _read_only_runner(ws: Path):
    """Run mentor against `ws` on a read-only view of it: a read-only bind mount (root, in a private mount
    namespace) or plain permissions (non-root). Permissions alone cannot stop root, hence the mount."""
    exe = [sys.executable, "-m", "mentor.cli"]
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("MENTOR_WORKSPACE", None)
    if os.geteuid() == 0:
        if not shutil.which("unshare") or subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode:
            pytest.skip("running as root without mount namespaces: cannot make a read-only workspace here")

        def run(*args: str) -> subprocess.CompletedProcess:
            cmd = " ".join(map(_q, exe + list(args)))
            script = f"mount --bind -o ro {_q(str(ws))} {_q(str(ws))} && cd {_q(str(ws))} && exec {cmd}"
            return subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, env=env, timeout=120)
        return run
    for p in [ws / ".mentor", *(ws / ".mentor").iterdir()]:
        p.chmod(p.stat().st_mode & ~0o222)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(exe + list(args), cwd=ws, capture_output=True, text=True, env=env, timeout=120)
    return run


def _q(s: str) -> str:
    import shlex

    return shlex.quote(s)


def test_read_only_workspace_is_not_called_damaged(workspace: Path):
    assert run_mentor("status", cwd=workspace).returncode == 0  # the DB exists and is fine
    before = (workspace / ".mentor" / "progress.db").read_bytes()
    run = _read_only_runner(workspace)
    try:
        for args in (("status",), ("check", "neuron")):
            r = run(*args)
            flat = " ".join(r.stderr.split())
            assert r.returncode == 2, r.stdout + r.stderr
            assert "Traceback" not in r.stderr
            assert "intact" in flat and ("read-only" in flat or "not writable" in flat), flat
            assert "damaged" not in flat and "mentor init" not in flat, flat  # no step that loses progress
    finally:
        for p in [workspace / ".mentor", *(workspace / ".mentor").iterdir()]:
            p.chmod(p.stat().st_mode | 0o200)
    assert (workspace / ".mentor" / "progress.db").read_bytes() == before


def test_damaged_database_suggests_recovery_before_anything_lossy(workspace: Path):
    db = workspace / ".mentor" / "progress.db"
    for extra in (db.with_name("progress.db-wal"), db.with_name("progress.db-shm")):
        extra.unlink(missing_ok=True)
    db.write_bytes(b"this is not sqlite at all" * 100)
    r = run_mentor("status", cwd=workspace)
    flat = " ".join(r.stderr.split())
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "damaged" in flat and ".recover" in flat and "keep a copy first" in flat, flat


def test_init_inside_a_workspace_is_refused(workspace: Path):
    r = run_mentor("init", "myllm", "--yes", cwd=workspace)
    flat = " ".join(r.stderr.split())
    assert r.returncode == 2, r.stdout + r.stderr
    assert "inside the workspace" in flat
    assert not (workspace / "myllm" / "mentor.toml").exists()
    r = run_mentor("init", str(workspace / "data" / "deeper"), "--yes", cwd=workspace.parent)
    assert r.returncode == 2 and not (workspace / "data" / "deeper").exists()
    # re-running init on the workspace itself still repairs it
    assert run_mentor("init", str(workspace), "--yes").returncode == 0
