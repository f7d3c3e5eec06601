"""In `mentor start`: acknowledgements are no answers, /reveal after two honest tries on a step, and a
question whose answer was shown is left for its review instead of being accepted in the same sitting."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest

from conftest import REPO, run_mentor

DAY0 = {"MENTOR_FAKE_NOW": "2026-03-02T10:00:00+00:00"}


def test_reveal_a_step_after_two_honest_tries_in_a_terminal(workspace: Path):
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(sys.executable, ["-m", "mentor.cli", "start", "--offline"], cwd=str(workspace),
                          encoding="utf-8", timeout=120, dimensions=(50, 140), env={**os.environ, "COLUMNS": "140", "PROMPT_TOOLKIT_NO_CPR": "1", **DAY0})
    child.expect("step 1/5\\] >")
    for ack in ("", "ok", "makes sense"):
        child.sendline(ack)
        child.expect("not evidence")
        child.expect("step 1/5\\] >")
    child.sendline("/reveal")
    child.expect("Try it yourself first: /reveal opens after two honest tries \\(0 so far")
    child.sendline("(4, 32)")
    child.expect("not what we were looking for")
    child.expect("step 1/5\\] >")
    child.sendline("/reveal")
    child.expect("\\(1 so far")
    child.sendline("(32, 5)")
    child.expect("Stuck\\? /reveal")
    child.expect("step 1/5\\] >")
    child.sendline("/reveal")
    child.expect("The answer: \\(32, 4\\)")
    child.expect("Step passed with the answer revealed")
    child.expect("comes back in a review on 2026-03-03")
    child.sendline("/next")
    child.expect("step 2/5\\] >")
    child.sendline("/quit")
    child.expect("session summary")
    child.expect(pexpect.EOF)
    child.close()
    con = sqlite3.connect(workspace / ".mentor" / "progress.db")
    rows = con.execute("SELECT answer, verdict, counts, revealed FROM answer WHERE question_id = 'step1-shape' ORDER BY id").fetchall()
    assert rows == [("ok", "refused", 0, 0), ("makes sense", "refused", 0, 0), ("(4, 32)", "incorrect", 1, 0),
                    ("(32, 5)", "incorrect", 1, 0), ("", "revealed", 0, 1)]
    assert con.execute("SELECT due_at FROM review_card WHERE question_id = 'step1-shape'").fetchone() == ("2026-03-03T00:00:00+00:00",)
    st = json.loads(run_mentor("status", "--json", cwd=workspace, env=DAY0).stdout)
    assert [(x["unit"], x["question"]) for x in st["revealed"]] == [("neuron", "step1-shape")]


def _engine(ws: Path, events: list):
    from mentor.curriculum import course
    from mentor.session.engine import SessionEngine
    from mentor.session.prompting import default_persona
    from mentor.workspace import find_workspace

    return SessionEngine(find_workspace(ws), course(), minutes=60, client=None, persona=default_persona(),
                         emit=lambda k, t, d: events.append((k, t, d)))


def test_a_question_revealed_in_a_session_is_left_for_its_review(workspace: Path, monkeypatch):
    monkeypatch.setenv("MENTOR_FAKE_NOW", DAY0["MENTOR_FAKE_NOW"])
    shutil.copy(REPO / "reference_impl" / "neuron.py", workspace / "myllm" / "neuron.py")
    assert run_mentor("check", "neuron", cwd=workspace, env=DAY0).returncode == 0
    events: list = []
    e = _engine(workspace, events)
    e.start()
    for a in ["(32, 4)", "nan, with overflow and invalid-value warnings", "0.25", "-0.091", "2.147"]:
        e.handle(a)
        e.handle("/next")
    assert e.mode == "questions" and e.pending[1].id == "sigmoid-neg"
    e.handle("Returns nan")  # one wrong pick reveals a choice
    assert any(k == "info" and "The answer: Returns 0.0 with an overflow warning" in t for k, t, _ in events)
    assert e.pending[1].id == "predict-relu-grad"  # moved on; not asked again in this sitting
    e.handle("[1.0, 1.0, 1.0]")
    assert any(k == "info" and "1 more try before the answer is shown" in t for k, t, _ in events)
    assert not any("[0.0, 0.0, 1.0]" in t for _, t, _ in events)
    e.handle("[0.0, 0.0, 1.0]")
    e.handle("16777216")
    e.handle("Each branch only exponentiates a non-positive number so exp stays at most one, and np.where evaluates "
             "both branches on every element so the naive branch would still overflow.")
    e.handle("y")
    e.handle("y")
    assert e.mode == "done" and e.unit.id == "neuron"
    assert "question 1 comes back in a review on 2026-03-03" in events[-1][1]
    assert not any("sigmoid-neg" in t for _, t, _ in events), "a question id was shown"
    assert not any("now proficient" in t for _, t, _ in events)
    e.handle("/quit")
