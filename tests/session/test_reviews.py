"""Reviews: due a day after proficiency; a correct review on a later day makes the unit mastered."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import REPO, run_mentor

ANSWERS = "Returns 0.0 with an overflow warning\n[0.0, 0.0, 1.0]\n\n16777216\nEach branch only exponentiates a non-positive number so exp stays at most one, and np.where evaluates both branches.\n\ny\ny\n"


def test_review_on_a_later_day_masters_the_unit(workspace: Path):
    day0 = {"MENTOR_FAKE_NOW": "2026-03-02T10:00:00+00:00"}
    shutil.copy(REPO / "reference_impl" / "neuron.py", workspace / "myllm" / "neuron.py")
    assert run_mentor("check", "neuron", cwd=workspace, env=day0).returncode == 0
    assert "proficient" in run_mentor("ask", "neuron", cwd=workspace, input=ANSWERS, env=day0).stdout
    r = run_mentor("review", cwd=workspace, env=day0)
    assert "No reviews due" in r.stdout

    day1 = {"MENTOR_FAKE_NOW": "2026-03-03T09:00:00+00:00"}
    r = run_mentor("review", "-n", "1", cwd=workspace, env=day1, input="Returns nan\n")  # wrong: comes back sooner
    assert "0/1 reviews correct" in r.stdout
    st = json.loads(run_mentor("status", "--json", cwd=workspace, env=day1).stdout)
    assert st["phases"][0]["units"][0]["state"] == "proficient"

    r = run_mentor("review", "-n", "1", cwd=workspace, env=day1, input="[0.0, 0.0, 1.0]\n\n")  # the next due card
    assert "predict-relu-grad" in r.stdout
    assert "1/1 reviews correct" in r.stdout and "neuron is now mastered" in r.stdout
    import sqlite3

    con = sqlite3.connect(workspace / ".mentor" / "progress.db")
    due = dict(con.execute("SELECT question_id, due_at FROM review_card").fetchall())
    assert "2026-03-03" < due["sigmoid-neg"] < due["predict-relu-grad"]  # the failed one comes back sooner
    assert con.execute("SELECT count(*) FROM answer WHERE is_review = 1").fetchone() == (2,)
