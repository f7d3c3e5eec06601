"""A full offline session: from the lesson to a proficient unit, in the engine and in a real terminal."""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest

from conftest import REPO, run_mentor

STEP_ANSWERS = ["(32, 4)", "nan, with overflow and invalid-value warnings", "0.25", "-0.091", "2.147"]
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
    assert any(k == "ok" and "One neuron: an affine map and its activations is now proficient" in t for k, t, _ in events)
    assert e.unit.id == "losses" and e.mode == "step"
    assert (workspace / "myllm" / "losses.py").exists()
    e.handle("/quit")
    assert e.finished and events[-1][0] == "end"
    con = sqlite3.connect(workspace / ".mentor" / "progress.db")
    summary, nxt, ended = con.execute("SELECT summary, next_step, ended_at FROM session").fetchone()
    assert "Steps passed: 5" in summary and nxt.startswith("Losses:") and ended
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
    """The line editor for real: a live toolbar, a nudge, history, multi-line answers, Ctrl-D, the transcript."""
    pytest.importorskip("pexpect")
    pytest.importorskip("pyte")
    from pty_screen import Term

    shutil.copy(REPO / "reference_impl" / "neuron.py", workspace / "myllm" / "neuron.py")
    t = Term(["start", "--offline", "--minutes", "30"], workspace)
    t.wait_screen(r"\[step 1/5\] >")
    first = t.wait_screen(r"(\d+:\d\d) left · One neuron: an affine map").group(1)
    assert "step 1/5: The neuron is a dot product" in t.toolbar()
    later = t.wait_screen(rf"(\d+:\d\d) left(?<!{first} left)").group(1)  # no key pressed in between
    assert later < first, (first, later)
    m = t.mark()
    t.enter("(31, 4)")
    t.wait_output(r"✗ not what we were looking for\s+A hint: A matmul \(a, b\) @ \(b, c\)", m)
    t.wait_screen(r"\[step 1/5\] >")
    t.type("\x1b[A")  # history: the arrow key brings the last answer back, to be edited
    t.wait_screen(r"\[step 1/5\] > \(31, 4\)")
    t.type("\x7f\x7f\x7f\x7f\x7f\x7f\x7f(32, 4)")
    t.enter()
    t.wait_output("Step passed", m)
    for a in STEP_ANSWERS[1:]:
        t.enter("/next")
        m = t.mark()
        t.enter(a)
        t.wait_output("Step passed", m)
    t.enter("/next")
    t.wait_screen(r"\[exercise\] >")
    m = t.mark()
    t.enter("/check")
    t.wait_output("PASS", m)
    t.wait_output("Hidden tests pass", m)
    t.enter("Returns 0.0 with an overflow warning")
    t.wait_screen(r"several lines: finish with a line holding only a dot, or press Esc then Enter\)\s*>")
    m = t.mark()
    t.type("[0.0, 0.0, 1.0]\x1b\r")  # Esc, Enter sends a multi-line answer
    t.wait_output("✓", m)
    t.enter("16777216")
    t.wait_screen(r"several lines")
    m = t.mark()
    t.enter("Each branch only exponentiates a non-positive number so exp stays at most one,")
    t.enter("and np.where evaluates both branches on every element so the naive branch would still overflow.")
    t.wait_screen("… and np.where")  # still editing: Enter started a new line
    t.enter(".")
    t.wait_output("Criterion 1/2", m)
    t.enter("y")
    t.enter("y")
    t.wait_output("One neuron: an affine map and its activations is now proficient", m)
    t.wait_screen(r"\[step 1/\d\] >")  # the next unit
    t.child.sendcontrol("d")
    t.wait_screen("session summary")
    t.finish()
    box = next(line for line in t.text().splitlines() if "session summary" in line)
    assert box.startswith("╭"), f"the summary box does not start its own line: {box!r}"
    shown = t.plain()
    for internal in ("step1-shape", "step2-overflow", "sigmoid-neg", "predict-relu-grad", "explain-stable-sigmoid"):
        assert internal not in shown, f"internal id {internal} on screen"
    from mentor.session.wording import SHELL_ADVICE

    assert not SHELL_ADVICE.search(shown), SHELL_ADVICE.search(shown)
    history = (workspace / ".mentor" / "history").read_text(encoding="utf-8")
    assert "(31, 4)" in history and "/check" in history
    con = sqlite3.connect(workspace / ".mentor" / "progress.db")
    explain = con.execute("SELECT answer FROM answer WHERE question_id = 'explain-stable-sigmoid'").fetchone()[0]
    assert explain == ("Each branch only exponentiates a non-positive number so exp stays at most one,\n"
                       "and np.where evaluates both branches on every element so the naive branch would still overflow.")
    st = json.loads(run_mentor("status", "--json", cwd=workspace).stdout)
    assert st["phases"][0]["units"][0]["state"] == "proficient"
    assert con.execute("SELECT count(*) FROM session WHERE ended_at IS NOT NULL").fetchone() == (1,)
    log = run_mentor("log", cwd=workspace).stdout
    for said in ("What is the shape of X @ W + b?", "(31, 4)", "not what we were looking for", "A hint: A matmul",
                 "✓ correct", "Criterion 2/2", "✓ self-assessed"):
        assert said in log, f"{said!r} missing from the transcript"


def test_piped_session_nudges_and_logs_questions_answers_and_verdicts(workspace: Path):
    """stdin is not a terminal: plain lines (no editor), the same nudges, the same transcript."""
    r = run_mentor("start", "--offline", cwd=workspace, input="(31, 4)\n(32, 4)\n/next\ninf, with an overflow warning\n")  # then end of input
    assert r.returncode == 0, r.stderr
    out = r.stdout
    box = next(line for line in out.splitlines() if "session summary" in line)
    assert box.startswith("╭"), f"after end of input the summary box does not start its own line: {box!r}"
    assert "✗ not what we were looking for" in out and "A hint: A matmul (a, b) @ (b, c) keeps the outer sizes." in out
    assert "A hint: Follow the float64 values: what is np.exp(1000)" in " ".join(out.split())
    assert "step1-shape" not in out and "step2-overflow" not in out
    from mentor.session.wording import SHELL_ADVICE

    assert not SHELL_ADVICE.search(out), SHELL_ADVICE.search(out)
    assert "\x1b[?2004h" not in out  # no line editor on a pipe
    log = run_mentor("log", cwd=workspace).stdout
    flat = " ".join(log.split())
    for said in ("question ·", "step 1/5: The neuron is a dot product", "user ·", "(31, 4)", "verdict ·",
                 "✗ not what we were looking for A hint: A matmul", "✓ correct", "Someone writes the sigmoid's derivative directly",
                 "inf, with an overflow warning", "(inf, with an overflow warning) is not correct"):
        assert said in flat, f"{said!r} missing from the transcript"


def test_time_notices_only_when_they_apply_and_the_session_goes_on_after_time_is_up(workspace: Path):
    now = [0.0]
    events: list = []
    e = _engine(workspace, events, minutes=10, clock=lambda: now[0])  # a 10-minute session: no 10-minute warning
    e.start()
    for t in (0, 60, 9 * 60, 9 * 60 + 59):
        now[0] = t
        assert e.time_notices() == [], t
    now[0] = 10 * 60
    (kind, text), = e.time_notices()
    assert kind == "warn" and "Time is up" in text and "/quit" in text and "go on" in text
    assert e.time_notices() == []  # once
    assert "time is up (+0:00): /quit wraps up" in e.toolbar_text()
    e.handle(STEP_ANSWERS[0])  # the learner goes on
    assert not e.finished and events[-1][1].startswith("Step passed")
    e.end("quit")

    events = []
    now[0] = 0.0
    e = _engine(workspace, events, minutes=25, clock=lambda: now[0])
    e.start()
    now[0] = 14 * 60
    assert e.time_notices() == []
    assert e.toolbar_text().startswith(" 11:00 left · One neuron")
    now[0] = 15 * 60 + 30
    (kind, text), = e.time_notices()
    assert text.startswith("10 minutes left")
    now[0] = 20 * 60
    e.handle("/show")  # input also delivers due notices (a piped session has no live clock)
    assert not any("minutes left" in t for k, t, _ in events[-3:])
    now[0] = 26 * 60
    e.handle("/show")
    assert any(k == "warn" and "Time is up" in t for k, t, _ in events)
    assert not e.finished


def test_a_wrong_answer_that_shows_a_misconception_names_it(workspace: Path):
    events: list = []
    e = _engine(workspace, events)
    e.start()
    unit = e.course.unit("neuron")
    e.mode = "questions"
    e.ask(unit, unit.question("predict-relu-grad"), False)
    e.handle("[0.0, 1.0, 1.0]")
    said = [t for k, t, _ in events if k == "info"]
    assert any("common misconception: \"ReLU's derivative at 0 is 1.\"" in t for t in said), said
    assert not any("[0.0, 0.0, 1.0]" in t for t in said)  # the nudge does not give the answer away
    from mentor.curriculum import Misconception

    with pytest.raises(ValueError, match="trigger is not a valid regex"):
        Misconception(wrong="w", right="r", trigger="(")


def test_ctrl_c_cancels_a_check_not_the_session(workspace: Path):
    """Ctrl-C during /check stops the sandbox and returns to the prompt; Ctrl-C at the prompt ends the session."""
    pexpect = pytest.importorskip("pexpect")
    sys.path.insert(0, str(REPO / "tests"))
    from sandbox_probe import assert_gone, kill_group, looping_neuron, wait_for_pid

    marker = workspace / "sandbox.pid"
    looping_neuron(workspace, marker)
    child = pexpect.spawn(sys.executable, ["-m", "mentor.cli", "start", "--offline"], cwd=str(workspace),
                          encoding="utf-8", timeout=90, dimensions=(50, 140), env={**__import__("os").environ, "COLUMNS": "140", "PROMPT_TOOLKIT_NO_CPR": "1"})
    child.expect("step 1/5\\] >")
    child.sendline("/check")
    _, pgid = wait_for_pid(marker)
    try:
        child.sendintr()
        child.expect("check cancelled")
        child.expect("step 1/5\\] >")  # the session goes on
        assert_gone(pgid)
        child.sendline(STEP_ANSWERS[0])
        child.expect("Step passed")
        child.expect("\\] >")
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


def test_time_is_up_offer_appears_while_the_learner_thinks(workspace: Path):
    """At 0 minutes the offer to wrap up is printed above the prompt with no key pressed; the learner goes on."""
    pytest.importorskip("pexpect")
    pytest.importorskip("pyte")
    from pty_screen import Term

    t = Term(["start", "--offline", "--minutes", "5"], workspace, env={"MENTOR_SESSION_ELAPSED_S": str(5 * 60 - 2)})
    t.wait_screen(r"\[step 1/5\] >")
    m = t.mark()
    t.wait_screen(r"Time is up: the 5 minutes you planned are over\. /quit wraps up now")  # nothing typed
    t.wait_screen(r"time is up \(\+\d:\d\d\): /quit wraps up")  # the toolbar says it too
    t.enter(STEP_ANSWERS[0])
    t.wait_output("Step passed", m)
    t.enter("/quit")
    t.wait_screen("session summary")
    t.finish()
    assert "minutes left" not in t.plain(), "a 5-minute session got the 10-minute warning"
    con = sqlite3.connect(workspace / ".mentor" / "progress.db")
    assert con.execute("SELECT count(*) FROM answer WHERE verdict = 'correct'").fetchone() == (1,)
