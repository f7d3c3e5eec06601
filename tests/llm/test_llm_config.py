"""Profiles and config.toml: presets, env overrides, `mentor config set/show/list/test` through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

from mentor.errors import MentorError
from mentor.llm.config import active_profile, load_config, save_config, set_value, unset_value
from mentor.llm.profiles import PRESETS, build_profile

SECRET = "sk-test-SECRET-0123456789abcdef"
FAKE_SERVER = Path(__file__).resolve().parent.parent / "fake_llm_server.py"


# -- active_profile ---------------------------------------------------------------------------
def test_offline_without_config_or_env():
    assert active_profile() is None


def test_env_base_url_alone_makes_a_custom_profile(monkeypatch):
    monkeypatch.setenv("MENTOR_BASE_URL", "http://127.0.0.1:1234/v1")
    p = active_profile()
    assert p is not None and p.name == "custom" and p.base_url == "http://127.0.0.1:1234/v1" and p.key_env is None
    monkeypatch.setenv("MENTOR_MODEL", "tiny")
    monkeypatch.setenv("MENTOR_API_KEY", SECRET)
    p = active_profile()
    assert p.model == "tiny" and p.key_env == "MENTOR_API_KEY" and p.api_key() == SECRET
    assert active_profile(offline=True) is None
    monkeypatch.setenv("MENTOR_OFFLINE", "1")
    assert active_profile() is None


def test_config_profile_with_overrides_and_env_model(monkeypatch):
    cfg = load_config()
    set_value(cfg, "profile", "deepseek")
    set_value(cfg, "deepseek.model", "deepseek-reasoner")
    save_config(cfg)
    p = active_profile()
    assert (p.name, p.model, p.base_url, p.key_env) == ("deepseek", "deepseek-reasoner", "https://api.deepseek.com", "DEEPSEEK_API_KEY")
    monkeypatch.setenv("MENTOR_MODEL", "deepseek-chat")
    assert active_profile().model == "deepseek-chat"


def test_presets_are_complete():
    for name in PRESETS:
        p = build_profile(name)
        assert p.name == name
        if name != "custom":
            assert p.is_complete() and p.base_url.startswith("http")
    ds = build_profile("deepseek")
    assert (ds.price_cache_hit, ds.price_cache_miss, ds.price_output) == (0.07, 0.27, 1.10) and ds.prices_are_estimates
    assert build_profile("qwen").thinking_switch == "enable_thinking"
    assert build_profile("ollama").key_env is None


# -- set / unset ------------------------------------------------------------------------------
@pytest.mark.parametrize("key,value,needle", [
    ("budget_tokens", "lots", "budget_tokens"),
    ("budget_tokens", "-5", "budget_tokens"),
    ("show_reasoning", "maybe", "show_reasoning"),
    ("profile", "nosuch", "nosuch"),
    ("deepseek.structured_output", "xml", "deepseek.structured_output"),
    ("deepseek.price_output", "cheap", "deepseek.price_output"),
    ("deepseek.base_url", "ftp://x", "deepseek.base_url"),
    ("deepseek.colour", "red", "colour"),
    ("colour", "red", "colour"),
    ("deepseek.api_key", SECRET, "never stores"),
    ("deepseek.key_env", SECRET, "NAME of an environment variable"),
])
def test_set_errors_name_the_key(key, value, needle):
    with pytest.raises(MentorError) as ei:
        set_value(load_config(), key, value)
    assert needle in ei.value.message and ei.value.hint
    assert SECRET not in str(ei.value)


def test_set_and_unset_round_trip():
    cfg = load_config()
    set_value(cfg, "budget_tokens", "150000")
    set_value(cfg, "show_reasoning", "true")
    set_value(cfg, "qwen.thinking", "false")
    set_value(cfg, "openai.price_output", "none")
    set_value(cfg, "work.base_url", "http://10.0.0.2:8000/v1/")
    set_value(cfg, "work.model", "my-model")
    set_value(cfg, "profile", "work")
    path = save_config(cfg)
    again = load_config()
    assert (again.profile, again.budget_tokens, again.show_reasoning) == ("work", 150000, True)
    assert build_profile("qwen", again.profiles["qwen"]).thinking is False
    assert build_profile("openai", again.profiles["openai"]).price_output is None
    assert active_profile().base_url == "http://10.0.0.2:8000/v1"
    unset_value(again, "qwen.thinking")
    unset_value(again, "profile")
    save_config(again)
    assert active_profile() is None and "thinking" not in load_config().profiles.get("qwen", {})
    assert tomllib.loads(path.read_text())["budget_tokens"] == 150000


def test_broken_config_file_is_a_mentor_error(llm_env):
    llm_env.mkdir(parents=True)
    (llm_env / "config.toml").write_text("profile = [unclosed")
    with pytest.raises(MentorError, match="config.toml"):
        load_config()


# -- the CLI ----------------------------------------------------------------------------------
def test_cli_set_show_list(cli, llm_env):
    env = {"DEEPSEEK_API_KEY": SECRET}
    r = cli("config", "show", env=env)
    assert r.returncode == 0 and "offline" in r.stdout
    for args in (("profile", "deepseek"), ("deepseek.model", "deepseek-reasoner"), ("budget_tokens", "200000"),
                 ("show_reasoning", "false")):
        r = cli("config", "set", *args, env=env)
        assert r.returncode == 0, r.stderr
    r = cli("config", "show", env=env)
    assert r.returncode == 0 and "deepseek-reasoner" in r.stdout and "DEEPSEEK_API_KEY is set" in r.stdout
    assert str(llm_env / "config.toml") in r.stdout
    data = json.loads(cli("config", "show", "--json", env=env).stdout)
    assert data["profile"] == "deepseek" and data["settings"]["model"] == "deepseek-reasoner"
    assert "DEEPSEEK_API_KEY is NOT set" in cli("config", "show").stdout
    r = cli("config", "list")
    assert r.returncode == 0 and all(name in r.stdout for name in PRESETS) and "estimates" in r.stdout
    text = (llm_env / "config.toml").read_text()
    assert SECRET not in text and SECRET not in json.dumps(data) and SECRET not in r.stdout + r.stderr


def test_cli_errors_are_messages_not_tracebacks(cli):
    r = cli("config", "set", "budget_tokens", "many")
    assert r.returncode == 2 and "budget_tokens" in r.stderr and "hint" in r.stderr and "Traceback" not in r.stderr
    r = cli("config", "set", "deepseek.api_key", SECRET)
    assert r.returncode == 2 and SECRET not in r.stdout + r.stderr and "Traceback" not in r.stderr
    r = cli("config", "test")
    assert r.returncode == 2 and "offline" in r.stderr and "Traceback" not in r.stderr


def test_cli_config_test_against_fake_server(cli, fake_server, llm_env):
    srv = fake_server(default={"content": ['{"ok": true}'], "reasoning": ["hmm"],
                               "usage": {"prompt_tokens": 12, "completion_tokens": 5, "prompt_cache_hit_tokens": 0}},
                      accept_formats=["json_object"])
    env = {"MENTOR_BASE_URL": srv.base_url, "MENTOR_API_KEY": SECRET}
    r = cli("config", "test", "--deadline", "10", env=env)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "reply: complete" in out and "streaming usage: yes" in out and "reasoning field: reasoning_content" in out
    assert "json_schema: rejected (HTTP 400)" in out and "json_object: ok" in out
    assert SECRET not in out + r.stderr
    assert all(req["headers"]["authorization"] == f"Bearer {SECRET}" for req in srv.requests)
    assert not (llm_env / "config.toml").exists() or SECRET not in (llm_env / "config.toml").read_text()


def test_cli_config_test_reports_auth_failure(cli, fake_server):
    srv = fake_server(default={"status": 401, "error": "invalid api key"})
    cfg = load_config()
    set_value(cfg, "mine.base_url", srv.base_url)
    set_value(cfg, "mine.model", "m")
    set_value(cfg, "mine.key_env", "MY_LLM_KEY")
    set_value(cfg, "profile", "mine")
    save_config(cfg)
    r = cli("config", "test", env={"MY_LLM_KEY": SECRET})
    assert r.returncode == 2 and "MY_LLM_KEY" in r.stderr and "Traceback" not in r.stderr
    assert SECRET not in r.stdout + r.stderr and len(srv.chat_requests) == 1


def test_fake_server_runs_as_a_separate_process(tmp_path):
    script = tmp_path / "scenario.json"
    script.write_text(json.dumps({"scenarios": [{"content": ["from ", "script"]}], "default": {"content": ["again"]}}))
    port_file, log = tmp_path / "port", tmp_path / "requests.jsonl"
    proc = subprocess.Popen([sys.executable, str(FAKE_SERVER), "--script", str(script), "--port-file", str(port_file),
                             "--log", str(log), "--lifetime", "60"], stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if port_file.exists():
                break
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port_file.read_text()}/v1"
        models = json.load(urllib.request.urlopen(base + "/models", timeout=5))
        assert models["data"][0]["id"] == "fake-model"
        req = urllib.request.Request(base + "/chat/completions", data=json.dumps({"model": "m", "messages": []}).encode(),
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {SECRET}"})
        first = json.load(urllib.request.urlopen(req, timeout=5))
        second = json.load(urllib.request.urlopen(req, timeout=5))
        assert first["choices"][0]["message"]["content"] == "from script"
        assert second["choices"][0]["message"]["content"] == "again" and "usage" in second
        lines = [json.loads(x) for x in log.read_text().splitlines()]
        assert [x["path"] for x in lines] == ["/v1/models", "/v1/chat/completions", "/v1/chat/completions"]
        assert SECRET not in log.read_text()
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_cli_config_test_learns_the_mode_and_the_context_of_a_llama_cpp_server(cli, fake_server, llm_env):
    body = "Traceback (most recent call last):\nValueError: response_format json_schema is not supported"
    srv = fake_server(default={"content": ['{"ok": true}']}, accept_formats=["json_object+schema", "json_object"],
                      reject_status=500, reject_body=body, context_tokens=6000)
    cfg = load_config()
    set_value(cfg, "llamacpp.base_url", srv.base_url)
    set_value(cfg, "llamacpp.structured_output", "json_schema")  # what an older config (or a guess) says
    set_value(cfg, "profile", "llamacpp")
    save_config(cfg)
    r = cli("config", "test", "--deadline", "10")
    assert r.returncode == 0, r.stderr
    out = " ".join(r.stdout.split())
    assert "json_schema: rejected (HTTP 500)" in out and "json_object_schema: ok" in out
    assert "context window: 6000 tokens" in out and "compact system prompt" in out
    saved = load_config().profiles["llamacpp"]
    assert saved["context_tokens"] == 6000 and saved["structured_output"] == "json_object_schema"
    assert all("max_tokens" in b for b in srv.chat_requests)
    assert all(a["role"] != b["role"] for req in srv.chat_requests for a, b in zip(req["messages"], req["messages"][1:]))
