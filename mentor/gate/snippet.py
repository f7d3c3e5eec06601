"""Run a short Python snippet (e.g. from a mentor reply, for /verify) under the sandbox's limits."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mentor.gate.runner import GateSpec, _kill_group, _limits, sandbox_env

KEEP = 20_000


@dataclass
class SnippetResult:
    output: str
    returncode: int
    timed_out: bool

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


def run_snippet(code: str, workspace: Path | None = None, time_limit_s: float = 20.0, memory_mb: int = 2048) -> SnippetResult:
    """Run `code` in a fresh isolated interpreter (cwd a temp dir, the workspace importable)."""
    spec = GateSpec(unit="snippet", module="", tests_path=Path("."), banned={}, numpy_only=False,
                    time_limit_s=time_limit_s, memory_mb=memory_mb)
    prelude = f"import sys; sys.path.insert(0, {str(workspace)!r})\n" if workspace else ""
    with tempfile.TemporaryDirectory(prefix="mentor-verify-") as tmp:
        proc = subprocess.Popen([sys.executable, "-I", "-c", prelude + code], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp, env=sandbox_env(spec, tmp),
                                start_new_session=True, preexec_fn=lambda: _limits(spec))
        timed_out = False
        try:
            out, _ = proc.communicate(timeout=time_limit_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc.pid)
            out, _ = proc.communicate()
        _kill_group(proc.pid)
    text = out.decode("utf-8", "replace")
    if len(text) > KEEP:
        text = text[:KEEP] + "\n... (output truncated)"
    return SnippetResult(text, proc.returncode, timed_out)
