"""Fixtures for the LLM layer: a real fake OpenAI-compatible server, a clean environment, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterator

import pytest

TESTS = Path(__file__).resolve().parent.parent
REPO = TESTS.parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from fake_llm_server import FakeLLMServer  # noqa: E402

_ENV_VARS = ("MENTOR_BASE_URL", "MENTOR_MODEL", "MENTOR_API_KEY", "MENTOR_OFFLINE", "DEEPSEEK_API_KEY",
             "DASHSCOPE_API_KEY", "OPENAI_API_KEY", "MENTOR_WORKSPACE")


@pytest.fixture(autouse=True)
def llm_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No provider settings leak in from the developer's shell; config lives in a tmp MENTOR_HOME."""
    for name in _ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "mentor-home"
    monkeypatch.setenv("MENTOR_HOME", str(home))
    return home


@pytest.fixture
def fake_server() -> Iterator[Callable[..., FakeLLMServer]]:
    """Factory: fake_server([scenarios], default=..., accept_formats=...) -> a started server, stopped at teardown."""
    servers: list[FakeLLMServer] = []

    def make(scenarios: list[dict] | None = None, **kw: object) -> FakeLLMServer:
        srv = FakeLLMServer(scenarios, **kw).start()  # type: ignore[arg-type]
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        srv.stop()


def _entry_args() -> list[str]:
    """`python -m mentor.cli` once cli.py registers `config`; until then the same app with it mounted."""
    if "config_cmd" in (REPO / "mentor" / "cli.py").read_text():
        return [sys.executable, "-m", "mentor.cli"]
    return [sys.executable, "-c",
            "from mentor import cli; from mentor.commands import config_cmd; config_cmd.register(cli.app); cli.main()"]


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess]:
    """cli("config", "show", env={...}): run `mentor ARGS` in a subprocess with this test's environment plus env."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        full = os.environ.copy()
        full.update(env or {})
        full["COLUMNS"] = "200"
        return subprocess.run(_entry_args() + list(args), capture_output=True, text=True, env=full,
                              timeout=timeout, cwd=REPO)

    return run
