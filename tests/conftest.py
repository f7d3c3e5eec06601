"""Shared fixtures: real workspaces in tmp dirs, the real `mentor` entry point as a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

# A runner that started the suite in the background (`cmd &` in a non-interactive shell, nohup) leaves SIGINT
# ignored, and an ignored signal is inherited through exec: the mentor processes the Ctrl-C tests drive would
# then never see their ^C. A handled signal resets to the default in children, so handle it here.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Triton reads TRITON_INTERPRET when it is imported, and torch imports it behind the scenes (e.g.
# torch.utils.flop_counter): without a GPU, every test in this process must see the interpreter set
# before any of them imports torch. (The gate's sandbox processes set it themselves.)
if not Path("/proc/driver/nvidia/gpus").is_dir():
    os.environ.setdefault("TRITON_INTERPRET", "1")

REPO = Path(__file__).resolve().parent.parent


def run_mentor(*args: str, cwd: Path | None = None, input: str | None = None, env: dict | None = None,
               timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the installed `mentor` console script (falls back to `python -m mentor.cli`)."""
    base = os.environ.copy()
    base.pop("MENTOR_WORKSPACE", None)
    base.update(env or {})
    base["COLUMNS"] = "120"
    exe = [sys.executable, "-m", "mentor.cli"]
    return subprocess.run(exe + list(args), cwd=cwd, input=input, capture_output=True, text=True, env=base, timeout=timeout)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    r = run_mentor("init", str(ws), "--yes", "--name", "Test Learner")
    assert r.returncode == 0, r.stderr
    return ws


@pytest.fixture
def mentor():
    return run_mentor


def check_json(ws: Path, unit: str, *extra: str) -> tuple[int, dict]:
    r = run_mentor("check", unit, "--json", *extra, cwd=ws)
    assert r.stdout.strip(), f"no JSON output; stderr: {r.stderr}"
    return r.returncode, json.loads(r.stdout)
