"""Faults met against real local servers (llama-cpp-python, Ollama, Gemma-family templates), reproduced by the
scripted server: structured output degrades instead of failing, roles alternate, empty streams are named,
every request is bounded by max_tokens, the context budget holds, the session reconnects, junk is not kept."""

from __future__ import annotations

import json
import sqlite3
import time

import pytest
from pydantic import BaseModel

from mentor.errors import MentorError
from mentor.llm.client import EMPTY_STREAM, LLMClient
from mentor.llm.profiles import build_profile

LLAMA_CPP_500 = ("Traceback (most recent call last):\n  File \"/usr/lib/python3/llama_cpp/server/app.py\", line 412\n"
                 "ValueError: response_format type json_schema is not supported; use {'type': 'json_object', 'schema': ...}")


class Verdict(BaseModel):
    correct: bool
    quote: str


GOOD = json.dumps({"correct": True, "quote": "two plus two"})
MSG = [{"role": "system", "content": "You grade."}, {"role": "user", "content": "2+2=4"}]


def client(srv, **over) -> LLMClient:
    prof = build_profile("custom", {"base_url": srv.base_url, "model": "m", **over})
    return LLMClient(prof, deadline_s=10, max_retries=3, backoff_s=0.5)


def no_same_role_twice(requests: list[dict]) -> bool:
    return all(a["role"] != b["role"] for r in requests for a, b in zip(r["messages"], r["messages"][1:]))


def test_500_on_json_schema_falls_back_at_once_to_the_llama_cpp_form(fake_server):
    srv = fake_server([{"content": [GOOD]}], accept_formats=["json_object+schema"], reject_status=500, reject_body=LLAMA_CPP_500)
    c = client(srv, structured_output="json_schema")
    v = c.complete_json(MSG, Verdict)
    assert v.correct
    sent = [b.get("response_format") for b in srv.chat_requests]
    assert [f["type"] for f in sent] == ["json_schema", "json_object"]  # no retries of a 500 that names the format
    assert "schema" in sent[1] and sent[1]["schema"]["properties"]["quote"]["type"] == "string"
    assert c.profile.structured_output == "json_object_schema"


def test_empty_stream_is_named_and_moves_to_the_next_mode(fake_server):
    srv = fake_server([])
    c = client(srv, structured_output="json_object")
    assert c.stream_chat(MSG).error is None  # the default scenario answers "ok"
    srv.push({"content": []})
    r = c.stream_chat(MSG)
    assert r.status == "failed" and r.error == EMPTY_STREAM and "chat template or context-size" in r.error
    srv.scenarios.clear()
    srv.push({"content": []}, {"content": [f"```json\n{GOOD}\n```"]})
    v = c.complete_json(MSG, Verdict)
    assert v.correct and [(b.get("response_format") or {}).get("type") for b in srv.chat_requests[-2:]] == ["json_object", None]


def test_roles_alternate_in_judge_and_config_test_probes(fake_server):
    from mentor.curriculum import course
    from mentor.llm.probe import probe
    from mentor.session.judge import judge

    q = course().unit("neuron").question("explain-stable-sigmoid")
    answer = ("With e = exp(-|z|) each branch only exponentiates a non-positive number, so nothing overflows, and "
              "np.where evaluates both branches so the naive branch still warns.")
    verdict = {"criteria": [{"index": 1, "met": True, "evidence": "each branch only exponentiates a non-positive number"},
                            {"index": 2, "met": True, "evidence": "np.where evaluates both branches"}], "feedback": "Both shown."}
    srv = fake_server([], default={"content": [json.dumps(verdict)]}, alternating_roles=True)
    g, _ = judge(client(srv, structured_output="json_object"), q, answer)
    assert g.verdict == "correct"
    res = probe(build_profile("custom", {"base_url": srv.base_url, "model": "m"}), deadline_s=10)
    assert res.reply.status == "complete"
    assert no_same_role_twice(srv.chat_requests)
    assert all("max_tokens" in b for b in srv.chat_requests)


def test_a_model_that_never_stops_is_bounded_by_max_tokens(fake_server):
    srv = fake_server([{"endless": True}, {"endless": True}])
    c = client(srv, max_tokens=64)
    r = c.stream_chat(MSG)
    assert r.status == "complete" and r.finish_reason == "length" and len(r.content.split()) == 64
    from mentor.llm.probe import probe

    probe(c.profile, structured=False)  # the config-test ping carries its own small bound
    assert [b["max_tokens"] for b in srv.chat_requests] == [64, 16]


def test_judge_feedback_that_echoes_the_prompt_is_discarded(fake_server):
    from mentor.curriculum import course
    from mentor.session.judge import judge

    q = course().unit("neuron").question("explain-stable-sigmoid")
    answer = ("With e = exp(-|z|) each branch only exponentiates a non-positive number, so nothing overflows, and "
              "np.where evaluates both branches so the naive branch still warns.")
    echo = {"criteria": [{"index": 1, "met": True, "evidence": "each branch only exponentiates a non-positive number"},
                         {"index": 2, "met": False, "evidence": ""}],
            "feedback": "one or two sentences for the learner, without giving away the model answer"}
    srv = fake_server([{"content": [json.dumps(echo)]}])
    g, record = judge(client(srv, structured_output="json_object"), q, answer)
    assert "one or two sentences" not in g.feedback and "1/2 criteria shown" in g.feedback and record["feedback_discarded"]


# --------------------------------------------------------------------------- the session's context budget
def _channel(tmp_path, srv, context_tokens: int, events: list):
    from mentor.session.channel import MentorChannel
    from mentor.session.prompting import default_persona
    from mentor.store import open_db

    from sqlmodel import Session

    from mentor.store.models import Session as SessionRow

    (tmp_path / ".mentor").mkdir(exist_ok=True)
    db = open_db(tmp_path / ".mentor" / "progress.db")
    with Session(db) as s:
        row = SessionRow(started_at="2026-12-04T00:00:00", minutes_planned=60, offline=0, mentor_name="default", mentor_hash="x")
        s.add(row)
        s.commit()
        sid = int(row.id or 0)
    c = client(srv, context_tokens=context_tokens, max_tokens=512)
    return MentorChannel(db, sid, c, default_persona(), "S" * 9000, lambda k, t, d=None: events.append((k, t))), db


def test_twenty_turns_at_8k_never_overflow_and_code_travels_once(tmp_path, fake_server):
    srv = fake_server([], default={"content": ["A short diagnostic reply. " * 20]}, context_tokens=8192)
    events: list = []
    ch, _ = _channel(tmp_path, srv, 8192, events)
    code = "def f(x):\n    return x\n" * 120  # ~3 KB of learner code in every message
    for i in range(20):
        ctx = f"[context] 30 min left.\n[context] The learner's myllm/neuron.py now:\n```python\n{code}\n```"
        turn = ch.say(f"question {i}: why does this overflow? " + "detail " * 60, ctx)
        assert turn is not None and turn.status == "complete", (i, events[-3:])
    for body in srv.chat_requests:
        prompt_chars = sum(len(m["content"]) for m in body["messages"])
        assert prompt_chars // 4 + body["max_tokens"] <= 8192  # what the server would have refused
        assert sum("```python" in m["content"] for m in body["messages"]) == 1  # the code once, in the newest message
        assert body["messages"][0]["content"] == "S" * 9000  # the system prompt byte-stable
        assert body["messages"][1]["role"] == "user"
    assert ch.trimmed > 0 and not any(k == "warn" for k, _ in events)


def test_a_message_that_cannot_fit_is_named_not_sent(tmp_path, fake_server):
    srv = fake_server([])
    events: list = []
    ch, db = _channel(tmp_path, srv, 4096, events)
    assert ch.say("x " * 20000, "") is None
    assert srv.chat_requests == []
    assert any(k == "warn" and "4096-token context" in t and "saved" in t for k, t in events)
    con = sqlite3.connect(tmp_path / ".mentor" / "progress.db")
    assert con.execute("SELECT count(*) FROM message WHERE role = 'user'").fetchone() == (1,)  # the message is kept


def test_server_side_overflow_is_named(tmp_path, fake_server):
    srv = fake_server([], context_tokens=5000)  # the server's real window is smaller than the profile says
    events: list = []
    ch, _ = _channel(tmp_path, srv, 16384, events)
    assert ch.say("tell me about " + "softmax " * 1500, "") is None
    assert any(k == "warn" and "context window" in t and "context_tokens" in t for k, t in events), events


def test_offline_after_failures_then_back_when_the_server_returns(tmp_path, fake_server, monkeypatch):
    import mentor.session.channel as chmod

    monkeypatch.setattr(chmod, "RECONNECT_FIRST_S", 0.2)
    srv = fake_server([{"status": 503}] * 8, default={"content": ["I am back."]})
    events: list = []
    ch, _ = _channel(tmp_path, srv, 32768, events)
    ch.retry_wait = 0.2
    ch.client.max_retries = 0
    assert ch.say("one", "") is None and ch.say("two", "") is None
    assert not ch.online and any("tried again" in t for k, t in events)
    assert ch.say("three", "") is None  # offline: stored, not sent
    srv.scenarios.clear()
    time.sleep(0.3)
    assert ch.maybe_reconnect()
    turn = ch.say("four", "")
    assert turn is not None and turn.content == "I am back." and ch.online
    assert any(k == "info" and "back online" in t for k, t in events)
    con = sqlite3.connect(tmp_path / ".mentor" / "progress.db")
    kinds = [json.loads(c)["event"] for (c,) in con.execute("SELECT content FROM message WHERE role = 'tool'")]
    assert [k for k in kinds if k != "provider_error"] == ["went_offline", "back_online"]
    went, back = con.execute("SELECT went_offline_at, back_online_at FROM session").fetchone()
    assert went and back and went <= back


# --------------------------------------------------------------------------- generated text is checked
PERSONA_OK = ("You are {mentor_name}, a demanding mentor.\n\n# Your character\n" + "Precise about bytes and bandwidth. " * 30)


def test_junk_persona_is_not_saved(fake_server, tmp_path, monkeypatch):
    from mentor.personas import generate_persona, list_personas
    from mentor.workspace import Workspace

    ws = Workspace(tmp_path, {"learner": {"name": "Ada", "goal": "x"}})
    junk = {"content": ["rambling " * 3000], "finish_reason": "length"}
    srv = fake_server([junk, dict(junk)])
    with pytest.raises(MentorError, match="not usable twice"):
        generate_persona(client(srv), ws, "mentor")
    assert [p.name for p in list_personas()] == ["default"]
    srv.push({"content": ["no heading at all " * 20]}, {"content": [PERSONA_OK]})
    p = generate_persona(client(srv), ws, "mentor")
    assert p.name == "mentor-v1" and "# Your character" in p.text
    assert all(b["max_tokens"] == 900 for b in srv.chat_requests)


def test_summary_parsing_rejects_rambles_and_missing_markers():
    from mentor.session.generated import parse_summary

    assert parse_summary("SUMMARY: sigmoid done. NEXT: losses step 1.").next_step == "losses step 1."
    assert parse_summary("The learner did many things " * 200) is None
    assert parse_summary("SUMMARY: " + "x " * 1000 + " NEXT: y") is None
    assert parse_summary(None) is None


def test_unreported_usage_is_unknown_in_status_and_failed_calls_are_not_replies(workspace, fake_server):
    from conftest import run_mentor

    srv = fake_server([{"content": ["no usage here"], "usage": None}, {"status": 500}, {"status": 500}])
    events: list = []
    ch, _ = _channel(workspace, srv, 32768, events)
    ch.client.max_retries = 0
    assert ch.say("hello", "") is not None
    assert ch.say("again", "") is None  # a failed call
    r = run_mentor("status", "--json", cwd=workspace)
    week = json.loads(r.stdout)["llm_week"]
    assert week["replies"] == 1 and week["prompt_tokens"] is None and week["cost_usd"] is None
    r = run_mentor("status", cwd=workspace)
    assert "1 replies, unknown prompt tokens" in " ".join(r.stdout.split())


def test_a_traceback_body_is_one_line_on_screen_and_whole_in_the_log(tmp_path, fake_server):
    srv = fake_server([{"status": 500, "error": LLAMA_CPP_500}] * 2)
    events: list = []
    ch, _ = _channel(tmp_path, srv, 32768, events)
    ch.client.max_retries = 0
    assert ch.say("hi", "") is None
    warn = [t for k, t in events if k == "warn"][0]
    assert "Traceback" not in warn and "ValueError: response_format type json_schema" in warn and "\n" not in warn
    con = sqlite3.connect(tmp_path / ".mentor" / "progress.db")
    logged = [json.loads(c) for (c,) in con.execute("SELECT content FROM message WHERE role = 'tool'")]
    assert logged[0]["event"] == "provider_error" and "Traceback (most recent call last)" in logged[0]["error"]


def test_try_endpoint_script_reports_against_a_llama_cpp_like_server(fake_server):
    """The documented pre-flight script (scripts/try_endpoint.py) runs end to end against the scripted server."""
    import subprocess
    import sys
    from pathlib import Path

    verdict = {"criteria": [{"index": 1, "met": True, "evidence": "each branch only exponentiates a non-positive number"},
                            {"index": 2, "met": True, "evidence": "np.where computes both branches for every element"}],
               "feedback": "Both shown clearly."}
    srv = fake_server([{"match": "Summarise this tutoring session", "content": ["SUMMARY: sigmoid. NEXT: losses."]},
                       {"match": "strict grader", "content": [json.dumps(verdict)]}],
                      default={"content": ['{"ok": true}']}, accept_formats=["json_object+schema", "json_object"],
                      reject_status=500, reject_body=LLAMA_CPP_500, context_tokens=8192)
    script = Path(__file__).resolve().parents[2] / "scripts" / "try_endpoint.py"
    r = subprocess.run([sys.executable, str(script), "--base-url", srv.base_url, "--model", "m", "--turns", "2",
                        "--deadline", "10"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "json_schema" in out and "json_object_schema  ok" in out and "context window: 8192 tokens" in out
    assert "turn 1: reply" in out and "turn 2: reply" in out and "summary: usable" in out
    assert "judge: correct" in out and "mode used: json_object_schema" in out


def test_mentors_generate_through_the_cli_keeps_no_junk(workspace, fake_server, llm_env):
    from conftest import run_mentor

    junk = {"content": ["rambling " * 3000], "finish_reason": "length"}
    srv = fake_server([junk, dict(junk), {"content": [PERSONA_OK]}])
    env = {"MENTOR_BASE_URL": srv.base_url, "MENTOR_MODEL": "m", "MENTOR_HOME": str(llm_env)}
    r = run_mentor("mentors", "generate", "mentor", cwd=workspace, env=env)
    assert r.returncode == 2 and "not usable twice" in r.stderr and "Traceback" not in r.stderr
    assert not (llm_env / "mentors").exists() or not list((llm_env / "mentors").glob("*.md"))
    r = run_mentor("mentors", "generate", "mentor", cwd=workspace, env=env)
    assert r.returncode == 0, r.stderr
    assert "saved persona mentor-v1" in r.stdout and len(list((llm_env / "mentors").glob("*.md"))) == 1
