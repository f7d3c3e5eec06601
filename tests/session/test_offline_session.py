"""A full offline session: from the lesson to a proficient unit, in the engine and in a real terminal."""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest

from conftest import REPO, run_mentor

STEP_ANSWERS = ["(32, 4)", "88.7", "0.25", "0.5", "2"]
EXPLAIN = ("Each branch only exponentiates a non-positive number so exp stays at most one, and np.where evaluates "
           "both branches on every element so the naive branch would still overflow.")
QUESTION_ANSWERS = ["Returns 0.0 with an overflow warning", "[0.0, 0.0, 1.0]", "16777216", EXPLAIN, "y", "y"]


def _engine(ws: Path, events: list, minutes: int = 60, clock=None):
    from mentor.curriculum import course
    from mentor.session.engine import SessionEngine
    from mentor.session.prompting import default_persona
    from mentor.workspace import find_workspace

    kw = {"clock": clock} if clock else {}
    return SessionEngine(find_workspace(ws), course(), minutes=minutes, client=None, persona=default_persona(),
                         emit=lambda k, t, d: events.append((k, t, d)), **kw)


def test_engine_completes_neuron_offline(workspace: Path):
    events: list = []
    e = _engine(workspace, events)
    e.start()
    assert e.mode == "step" and e.step == 0
    e.handle("/next")
    assert "answer this step's question first" in events[-1][1]
    e.handle("ok")  # a passive acknowledgement: refused (recorded, not a try), nothing lost
    for i, a in enumerate(STEP_ANSWERS):
        e.handle(a)
        assert events[-1][1].startswith("Step passed"), (i, events[-3:])
        e.handle("/next")
    assert e.mode == "exercise"
    e.handle("/check")
    assert any(k == "check" and d["outcome"].result.verdict == "not_implemented" for k, _, d in events)
    shutil.copy(REPO / "reference_impl" / "neuron.py", workspace / "myllm" / "neuron.py")
    e.handle("/check")
    assert e.mode == "questions"
    for a in QUESTION_ANSWERS:
        e.handle(a)
    assert any(k == "ok" and "neuron is now proficient" in t for k, t, _ in events)
    assert e.unit.id == "losses" and e.mode == "step"
    assert (workspace / "myllm" / "losses.py").exists()
    e.handle("/quit")
    assert e.finished and events[-1][0] == "end"
    con = sqlite3.connect(workspace / ".mentor" / "progress.db")
    summary, nxt, ended = con.execute("SELECT summary, next_step, ended_at FROM session").fetchone()
    assert "Steps passed: 5" in summary and nxt.startswith("losses") and ended
    answers = con.execute("SELECT question_id, verdict FROM answer ORDER BY id").fetchall()
    assert answers[0] == ("step1-shape", "refused")
    assert ("explain-stable-sigmoid", "self_correct") in answers


def test_resume_and_timer_warning(workspace: Path):
    events: list = []
    now = [0.0]
    e = _engine(workspace, events, minutes=15, clock=lambda: now[0])
    e.start()
    e.handle(STEP_ANSWERS[0])
    now[0] = 6 * 60
    e.handle("/next")
    assert any(k == "warn" and "minutes left" in t for k, t, _ in events)
    assert "[9 min left" in e.prompt_label()
    e.end("interrupted")
    events2: list = []
    e2 = _engine(workspace, events2)
    e2.start()
    assert e2.step == 1  # resumes at the first step without a correct answer
    assert any("Last time:" in t for k, t, _ in events2 if k == "markdown")


def test_full_offline_session_in_a_terminal(workspace: Path):
    pexpect = pytest.importorskip("pexpect")
    shutil.copy(REPO / "reference_impl" / "neuron.py", workspace / "myllm" / "neuron.py")
    child = pexpect.spawn(sys.executable, ["-m", "mentor.cli", "start", "--offline"], cwd=str(workspace),
                          encoding="utf-8", timeout=120, dimensions=(50, 140), env={**__import__("os").environ, "COLUMNS": "140"})
    child.expect("step 1/5\\] > ")
    for a in STEP_ANSWERS:
        child.sendline(a)
        child.expect("Step passed")
        child.sendline("/next")
    child.expect("exercise\\] > ")
    child.sendline("/check")
    child.expect("PASS")
    for a in QUESTION_ANSWERS:
        child.expect("\\] > ")
        child.sendline(a)
    child.expect("neuron is now proficient")
    child.expect("\\] > ")
    child.sendcontrol("c")
    child.expect("session summary")
    child.expect(pexpect.EOF)
    child.close()
    st = json.loads(run_mentor("status", "--json", cwd=workspace).stdout)
    assert st["phases"][0]["units"][0]["state"] == "proficient"
    con = sqlite3.connect(workspace / ".mentor" / "progress.db")
    assert con.execute("SELECT count(*) FROM session WHERE ended_at IS NOT NULL").fetchone() == (1,)


def test_ctrl_c_cancels_a_check_not_the_session(workspace: Path):
    """Ctrl-C during /check stops the sandbox and returns to the prompt; Ctrl-C at the prompt ends the session."""
    pexpect = pytest.importorskip("pexpect")
    sys.path.insert(0, str(REPO / "tests"))
    from sandbox_probe import assert_gone, kill_group, looping_neuron, wait_for_pid

    marker = workspace / "sandbox.pid"
    looping_neuron(workspace, marker)
    child = pexpect.spawn(sys.executable, ["-m", "mentor.cli", "start", "--offline"], cwd=str(workspace),
                          encoding="utf-8", timeout=90, dimensions=(50, 140), env={**__import__("os").environ, "COLUMNS": "140"})
    child.expect("step 1/5\\] > ")
    child.sendline("/check")
    _, pgid = wait_for_pid(marker)
    try:
        child.sendintr()
        child.expect("check cancelled")
        child.expect("step 1/5\\] > ")  # the session goes on
        assert_gone(pgid)
        child.sendline(STEP_ANSWERS[0])
        child.expect("Step passed")
        child.expect("\\] > ")
        child.sendintr()  # at the prompt: the session ends with its summary
        child.expect("session summary")
        child.expect(pexpect.EOF)
        child.close()
    finally:
        kill_group(pgid)
    con = sqlite3.connect(workspace / ".mentor" / "progress.db")
    assert con.execute("SELECT count(*) FROM attempt").fetchone() == (0,), "a cancelled check must not be recorded"
    summary, ended = con.execute("SELECT summary, ended_at FROM session").fetchone()
    assert ended and "Steps passed: 1" in summary and "checks: 0" in summary
