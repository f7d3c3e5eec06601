"""`mentor start` in a real terminal against a real local OpenAI-compatible server (SSE streaming),
scripted through every failure the client must survive. No learner text may be lost, and the system
prompt must be byte-identical in every request of the session."""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fake_llm_server import FakeLLMServer  # noqa: E402

pexpect = pytest.importorskip("pexpect")

SCENARIOS = [
    {"match": "Q1-broadcast", "reasoning": ["thinking ", "about shapes"], "reasoning_field": "reasoning_content",
     "content": ["Broadcasting ", "aligns shapes ", "from the right. What is (N, K) + (K,)?"], "keepalive": 2,
     "usage": {"prompt_tokens": 1200, "completion_tokens": 30, "total_tokens": 1230, "prompt_cache_hit_tokens": 1000}},
    {"match": "Q2-retry", "status": 429, "headers": {"Retry-After": "1"}},
    {"match": "Q2-retry", "reasoning": ["other field"], "reasoning_field": "reasoning", "content": ["After a 429: fine."]},
    {"match": "Q3-fivehundred", "status": 500},
    {"match": "Q3-fivehundred", "content": ["After a 500: fine."]},
    {"match": "Q4-drop", "content": ["This reply ", "will be cut ", "here and never", " finish"], "disconnect_after": 2},
    {"match": "Q5-drip", "content": ["drip "] * 40, "delay_s": 0.25},
    {"match": "Q6-auth", "status": 401},
    {"match": "Q7-auth", "status": 401},
]
LINES = ["? Q1-broadcast: how does b broadcast?", "? Q2-retry: and the bias gradient?", "? Q3-fivehundred: why sum over rows?",
         "? Q4-drop: what about K = 1?", "? Q5-drip: tell me more", "? Q6-auth: still there?", "? Q7-auth: hello?"]


def _spawn(ws: Path, srv: FakeLLMServer, home: Path, deadline_s: str = "2"):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MENTOR_", "DEEPSEEK", "DASHSCOPE", "OPENAI"))}
    env.update(MENTOR_BASE_URL=srv.base_url, MENTOR_MODEL="fake-mentor", MENTOR_API_KEY="sk-test-secret-123",
               MENTOR_HOME=str(home), MENTOR_REPLY_DEADLINE_S=deadline_s, COLUMNS="160", PROMPT_TOOLKIT_NO_CPR="1")
    return pexpect.spawn(sys.executable, ["-m", "mentor.cli", "start", "--minutes", "30"], cwd=str(ws), env=env,
                         encoding="utf-8", timeout=90, dimensions=(60, 160))


def test_online_session_survives_every_provider_failure(workspace: Path, tmp_path: Path):
    with FakeLLMServer(SCENARIOS, default={"content": ["SUMMARY: worked on neuron. NEXT: step 2."]}) as srv:
        child = _spawn(workspace, srv, tmp_path / "home")
        child.expect("Mentor: default via custom / fake-mentor")
        child.expect("step 1/5\\] >")
        child.sendline(LINES[0])
        child.expect("What is \\(N, K\\) \\+ \\(K,\\)\\?")
        child.expect("\\] >")
        child.sendline(LINES[1])
        child.expect("After a 429: fine.")
        child.expect("\\] >")
        child.sendline(LINES[2])
        child.expect("After a 500: fine.")
        child.expect("\\] >")
        child.sendline(LINES[3])
        child.expect("cut off")
        child.expect("\\] >")
        child.sendline(LINES[4])
        child.expect("cut off")  # the deadline ends the drip; what arrived is kept
        child.expect("\\] >")
        child.sendline(LINES[5])
        child.expect("could not answer")
        child.expect("\\] >")
        child.sendline(LINES[6])
        child.expect("continuing offline")
        child.expect("\\] >")
        child.sendline("(32, 4)")  # the micro-question still works offline
        child.expect("Step passed")
        child.expect("\\] >")
        child.sendline("/quit")
        child.expect("session summary")
        child.expect(pexpect.EOF)
        child.close()
        requests = srv.chat_requests

    con = sqlite3.connect(workspace / ".mentor" / "progress.db")
    user_texts = [r[0] for r in con.execute("SELECT content FROM message WHERE role = 'user' ORDER BY id")]
    for line in LINES:
        assert any(line[2:] in t for t in user_texts), f"learner text lost: {line}"
    assert "(32, 4)" in user_texts
    systems = {r["messages"][0]["content"] for r in requests}
    assert len(systems) == 1, "the system prompt changed within the session"
    assert all(r["messages"][0]["role"] == "system" for r in requests)
    for r in requests:
        sent = str(r["messages"])
        assert "about shapes" not in sent and "other field" not in sent, "reasoning text was sent back"
    rows = con.execute("SELECT status, reasoning, prompt_tokens, cached_tokens, cost_usd, latency_s FROM message "
                       "WHERE role = 'assistant' ORDER BY id").fetchall()
    assert rows[0][0] == "complete" and rows[0][1] == "thinking about shapes" and rows[0][2] == 1200 and rows[0][3] == 1000
    assert rows[1][1] == "other field"
    assert any(s == "partial" for s, *_ in rows)
    sess = con.execute("SELECT provider, model, mentor_name, mentor_hash, ended_at FROM session").fetchone()
    assert sess[1] == "fake-mentor" and sess[2] == "default" and sess[3] and sess[4]
    db_text = (workspace / ".mentor" / "progress.db").read_bytes()
    assert b"sk-test-secret-123" not in db_text


def _engine_online(ws: Path, srv: FakeLLMServer, events: list):
    from mentor.curriculum import course
    from mentor.llm.profiles import build_profile
    from mentor.llm.client import LLMClient
    from mentor.session.engine import SessionEngine
    from mentor.session.prompting import default_persona
    from mentor.workspace import find_workspace

    prof = build_profile("custom", {"base_url": srv.base_url, "model": "fake"})
    return SessionEngine(find_workspace(ws), course(), minutes=60, client=LLMClient(prof, deadline_s=10),
                         persona=default_persona(), emit=lambda k, t, d: events.append((k, t, d)))


def test_solution_guard_withholds_working_code_and_asks_for_a_hint(workspace: Path):
    solution = (REPO / "reference_impl" / "neuron.py").read_text()
    leak = f"Here is everything:\n```python\n{solution}\n```\nDone."
    with FakeLLMServer([{"match": "give me", "content": [leak]}, {"match": "withheld", "content": ["Hint: think of exp(-|z|)."]}]) as srv:
        events: list = []
        e = _engine_online(workspace, srv, events)
        e.start()
        e.handle("? give me the code")
        requests = srv.chat_requests
    shown = " ".join(t for k, t, _ in events if k in ("delta", "reply_end"))
    assert "def sigmoid" not in shown and "Hint: think of exp(-|z|)." in shown
    assert any(k == "warn" and "withheld" in t for k, t, _ in events)
    assert len(requests) == 2 and "withheld" in requests[1]["messages"][-1]["content"]
    con = sqlite3.connect(workspace / ".mentor" / "progress.db")
    assert con.execute("SELECT count(*) FROM message WHERE status = 'withheld'").fetchone() == (1,)


def test_harmless_code_is_shown_and_verify_runs_it(workspace: Path):
    reply = "Try this:\n```python\nimport numpy as np\nprint(np.exp(np.float32(89)))\n```\nWhat do you see?"
    with FakeLLMServer([{"content": [reply]}]) as srv:
        events: list = []
        e = _engine_online(workspace, srv, events)
        e.start()
        e.handle("? does float32 exp overflow at 89?")
        e.handle("/verify")
    assert any(k == "reply_end" and "np.exp(np.float32(89))" in t for k, t, _ in events)
    out = [(t, d) for k, t, d in events if k == "verify"]
    assert out and "inf" in out[0][0] and out[0][1]["ok"]


def test_explain_answer_graded_by_the_judge_with_verified_quotes(workspace: Path):
    import json

    from mentor.curriculum import course
    from mentor.llm.client import LLMClient
    from mentor.llm.profiles import build_profile
    from mentor.session.judge import judge

    q = course().unit("neuron").question("explain-stable-sigmoid")
    answer = ("With e = exp(-|z|) each branch only exponentiates a non-positive number, so the value stays in (0, 1]. "
              "np.where computes both branches for every element, so a naive branch still overflows.")
    verdict = {"criteria": [{"index": 1, "met": True, "evidence": "each branch only exponentiates a non-positive number"},
                            {"index": 2, "met": True, "evidence": "this quote is not in the answer at all"}],
               "feedback": "Good on the exponent."}
    with FakeLLMServer([{"content": [json.dumps(verdict)]}], accept_formats=["json_object"]) as srv:
        prof = build_profile("custom", {"base_url": srv.base_url, "model": "judge", "structured_output": "json_object"})
        g, record = judge(LLMClient(prof, deadline_s=10), q, answer)
        body = srv.chat_requests[0]
    assert g.verdict == "incorrect" and record["met"] == [True, False]
    assert "<<<ANSWER" in body["messages"][-1]["content"] or "<<<ANSWER" in str(body["messages"])


def test_self_assessed_explanation_regraded_by_the_judge(workspace: Path, tmp_path: Path):
    import json

    from conftest import run_mentor

    explain = ("Each branch only exponentiates a non-positive number so the exponential stays at most one, and "
               "np.where evaluates both branches on every element, so a naive branch would still overflow.")
    r = run_mentor("ask", "neuron", "-q", "explain-stable-sigmoid", "-a", explain, cwd=workspace, input="y\ny\n")
    assert "self-assessed" in r.stdout
    verdict = {"criteria": [{"index": 1, "met": True, "evidence": "Each branch only exponentiates a non-positive number"},
                            {"index": 2, "met": True, "evidence": "np.where evaluates both branches on every element"}],
               "feedback": "Both points made."}
    with FakeLLMServer([{"content": [json.dumps(verdict)]}]) as srv:
        env = {"MENTOR_BASE_URL": srv.base_url, "MENTOR_MODEL": "judge", "MENTOR_HOME": str(tmp_path / "home")}
        r = run_mentor("ask", "neuron", "--regrade", cwd=workspace, env=env)
    assert r.returncode == 0, r.stderr
    assert "✓ explain-stable-sigmoid" in r.stdout
    con = sqlite3.connect(workspace / ".mentor" / "progress.db")
    assert [g for (g,) in con.execute("SELECT grader FROM answer WHERE question_id = 'explain-stable-sigmoid' ORDER BY id")] == ["self", "llm"]


def test_long_session_at_8k_reconnects_and_keeps_no_junk(workspace: Path, tmp_path: Path):
    """`mentor start` against a server with an 8K window: 20 turns never overflow, the session goes offline when
    the server stops answering, comes back when it answers again, and a rambling summary is not kept."""
    ramble = {"match": "Summarise this tutoring session", "content": ["The learner did many things. " * 200]}
    scenarios = [{"match": f"Q-down-{i}", "hang_s": 5} for i in (1, 2)] + [ramble, dict(ramble)]
    with FakeLLMServer(scenarios, default={"content": ["Short answer. What is the shape of x @ w?"]},
                       context_tokens=8192) as srv:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MENTOR_", "DEEPSEEK", "DASHSCOPE", "OPENAI"))}
        env.update(MENTOR_BASE_URL=srv.base_url, MENTOR_MODEL="small-local", MENTOR_HOME=str(tmp_path / "home"),
                   MENTOR_REPLY_DEADLINE_S="2", MENTOR_CONTEXT_TOKENS="8192", MENTOR_RECONNECT_S="1", COLUMNS="160", PROMPT_TOOLKIT_NO_CPR="1")
        child = pexpect.spawn(sys.executable, ["-m", "mentor.cli", "start", "--minutes", "30"], cwd=str(workspace),
                              env=env, encoding="utf-8", timeout=90, dimensions=(60, 160))
        child.expect("\\] >")
        for i in range(20):
            child.sendline(f"? turn {i}: why does the exponent overflow here? " + "details " * 40)
            child.expect("What is the shape")
            child.expect("\\] >")
        for i in (1, 2):
            child.sendline(f"? Q-down-{i}: hello?")
            child.expect("could not answer")
            child.expect("\\] >")
        child.expect_exact("continuing offline") if "continuing offline" not in child.before else None
        time.sleep(1.5)
        child.sendline("? are you back?")
        child.expect("back online")
        child.expect("\\] >")
        child.sendline("/quit")
        child.expect("not usable")
        child.expect("session summary")
        child.expect(pexpect.EOF)
        child.close()
        requests = srv.chat_requests
    for body in requests:
        assert sum(len(m["content"]) for m in body["messages"]) // 4 + body["max_tokens"] <= 8192
    con = sqlite3.connect(workspace / ".mentor" / "progress.db")
    summary, went, back = con.execute("SELECT summary, went_offline_at, back_online_at FROM session").fetchone()
    assert "many things" not in summary and summary.startswith("Session ended")
    assert went and back


def test_learner_can_dispute_a_judge_verdict_and_self_assess(workspace: Path):
    import json

    from mentor.curriculum import course

    unit = course().unit("neuron")
    q = unit.question("explain-stable-sigmoid")
    answer = ("With e = exp(-|z|) each branch only exponentiates a non-positive number, so the value stays in (0, 1], and "
              "np.where computes both branches for every element, so a naive branch still overflows.")
    harsh = {"criteria": [{"index": 1, "met": False, "evidence": ""}, {"index": 2, "met": False, "evidence": ""}],
             "feedback": "Not convincing."}
    with FakeLLMServer([{"match": "strict grader", "content": [json.dumps(harsh)]}]) as srv:
        events: list = []
        e = _engine_online(workspace, srv, events)
        e.start()
        e.ask(unit, q, False)
        e.handle(answer)
        assert any(k == "info" and "/dispute" in t for k, t, _ in events)
        e.handle("/dispute")
        assert any(k == "info" and q.reference_answer.strip()[:60] in t for k, t, _ in events)  # the model answer is shown
        for _ in q.rubric:
            e.handle("y")
    assert any(k == "ok" and "disputed the judge" in t for k, t, _ in events)
    con = sqlite3.connect(workspace / ".mentor" / "progress.db")
    rows = con.execute("SELECT grader, verdict, counts FROM answer WHERE question_id = ? ORDER BY id", (q.id,)).fetchall()
    assert rows == [("llm", "incorrect", 1), ("self", "self_correct", 1)]
    events.clear()
    e.handle("/dispute")  # nothing left to dispute
    assert any(k == "warn" and "Nothing to dispute" in t for k, t, _ in events)


def test_ctrl_c_cancels_a_streaming_reply_or_a_check_and_a_second_one_ends_the_session(workspace: Path, tmp_path: Path):
    from sandbox_probe import assert_gone, kill_group, looping_neuron, wait_for_pid

    slow = {"match": "Q-slow", "content": ["drip "] * 400, "delay_s": 0.05}
    with FakeLLMServer([slow], default={"content": ["SUMMARY: cancelled twice. NEXT: step 2."]}) as srv:
        child = _spawn(workspace, srv, tmp_path / "home", deadline_s="60")
        child.expect("step 1/5\\] >")
        child.sendline("? Q-slow: tell me slowly")
        child.expect("drip drip drip")
        child.sendintr()
        child.expect("reply cancelled")
        child.expect("step 1/5\\] >")  # the session goes on
        child.sendline("(32, 4)")
        child.expect("Step passed")
        child.expect("\\] >")
        marker = workspace / "sandbox.pid"
        looping_neuron(workspace, marker)
        child.sendline("/check")
        _, pgid = wait_for_pid(marker)
        try:
            child.sendintr()
            child.expect("check cancelled")
            child.expect("\\] >")
            assert_gone(pgid)
            child.sendintr()  # the second Ctrl-C, at the prompt: ends the session with the summary
            child.expect("session summary")
            child.expect("cancelled twice")
            child.expect(pexpect.EOF)
            child.close()
        finally:
            kill_group(pgid)
    con = sqlite3.connect(workspace / ".mentor" / "progress.db")
    assert con.execute("SELECT count(*) FROM attempt").fetchone() == (0,)
    partial = con.execute("SELECT status, content FROM message WHERE role = 'assistant' ORDER BY id").fetchall()[0]
    assert partial[0] == "partial" and partial[1].startswith("drip drip") and len(partial[1]) < 2000
    assert con.execute("SELECT ended_at FROM session").fetchone()[0]


def test_a_new_unit_starts_a_new_conversation_segment(workspace: Path):
    """When the unit changes mid-session, the mentor gets the new unit's system prompt (recorded), not a stale one."""
    import json
    import shutil

    from test_offline_session import QUESTION_ANSWERS, STEP_ANSWERS

    verdict = {"criteria": [{"index": 1, "met": True, "evidence": "Each branch only exponentiates a non-positive number"},
                            {"index": 2, "met": True, "evidence": "np.where evaluates both branches on every element"}],
               "feedback": "Both points made."}
    with FakeLLMServer([{"match": "strict grader", "content": [json.dumps(verdict)]}], default={"content": ["Noted."]}) as srv:
        events: list = []
        e = _engine_online(workspace, srv, events)
        e.start()
        e.handle("? a question about neuron")
        for a in STEP_ANSWERS:
            e.handle(a)
            e.handle("/next")
        shutil.copy(REPO / "reference_impl" / "neuron.py", workspace / "myllm" / "neuron.py")
        e.handle("/check")
        for a in QUESTION_ANSWERS[:4]:  # the explanation goes to the judge
            e.handle(a)
        assert e.unit.id == "losses", [t for k, t, _ in events if k in ("bad", "warn")][-3:]
        e.handle("? and now about losses")
        chats = [r for r in srv.chat_requests if "strict grader" not in r["messages"][0]["content"]]
    assert "neuron" in chats[0]["messages"][0]["content"].split("\n# The current unit")[1][:40]
    assert "losses" in chats[-1]["messages"][0]["content"].split("\n# The current unit")[1][:40]
    assert len(chats[-1]["messages"]) == 2  # the new segment starts fresh: system + the new question
    con = sqlite3.connect(workspace / ".mentor" / "progress.db")
    assert con.execute("SELECT count(*) FROM message WHERE role = 'system'").fetchone() == (2,)
    assert con.execute("SELECT count(*) FROM message WHERE role = 'tool' AND content LIKE '%new_segment%'").fetchone() == (1,)


def test_the_toolbar_shows_titles_and_the_tokens_used(workspace: Path):
    usage = {"prompt_tokens": 1200, "completion_tokens": 30, "total_tokens": 1230}
    with FakeLLMServer([{"content": ["What is the shape of x @ w?"], "usage": usage}]) as srv:
        events: list = []
        e = _engine_online(workspace, srv, events)
        e.start()
        bar = e.toolbar_text()
        assert "0 tokens" in bar and "One neuron: an affine map" in bar and "step 1/5: The neuron is a dot product" in bar
        assert "neuron ·" not in bar and "step1-shape" not in bar
        e.handle("? how do shapes work?")
    assert "1,230 tokens" in e.toolbar_text()
