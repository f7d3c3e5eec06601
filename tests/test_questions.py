"""Questions that cannot be passed by trial and error, through the real `mentor` entry point.

No direction hints on numbers; choice options shuffled per attempt; the answer is shown only after
the tries run out, and then nothing counts until the question comes back in a review (answered
right first time); passive acknowledgements are refused everywhere and are no tries."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from conftest import REPO, run_mentor

DAY0 = {"MENTOR_FAKE_NOW": "2026-03-02T10:00:00+00:00"}
DAY1 = {"MENTOR_FAKE_NOW": "2026-03-03T09:00:00+00:00"}
RIGHT_CHOICE = "Returns 0.0 with an overflow warning"
EXPLAIN = ("Each branch only exponentiates a non-positive number so exp stays at most one, and np.where evaluates "
           "both branches on every element so the naive branch would still overflow.")


def _pass_check(ws: Path) -> None:
    shutil.copy(REPO / "reference_impl" / "neuron.py", ws / "myllm" / "neuron.py")
    assert run_mentor("check", "neuron", cwd=ws, env=DAY0).returncode == 0


def _ask(ws: Path, qid: str, answer: str, env: dict = DAY0):
    r = run_mentor("ask", "neuron", "-q", qid, "-a", answer, cwd=ws, env=env)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    return r.stdout


def _rows(ws: Path, qid: str) -> list[tuple]:
    con = sqlite3.connect(ws / ".mentor" / "progress.db")
    return con.execute("SELECT answer, verdict, counts, revealed FROM answer WHERE question_id = ? ORDER BY id", (qid,)).fetchall()


def _neuron(ws: Path, env: dict = DAY0) -> dict:
    st = json.loads(run_mentor("status", "--json", cwd=ws, env=env).stdout)
    return {u["id"]: u for p in st["phases"] for u in p["units"]}["neuron"] | {"_revealed": st["revealed"]}


def test_numeric_gives_no_direction_and_a_revealed_answer_counts_only_in_its_review(workspace: Path):
    _pass_check(workspace)
    out = _ask(workspace, "flops-layer", "20000000")
    assert "✗" in out and "too high" not in out and "too low" not in out and "not correct" in out
    assert "16777216" not in out and "1 more try before the answer is shown" in out
    out = _ask(workspace, "flops-layer", "10000000")
    assert "too low" not in out and "The answer: 16777216" in out
    assert "comes back in a review on 2026-03-03" in out
    out = _ask(workspace, "flops-layer", "16777216")  # right, but after the answer was shown
    assert "does not count" in out
    assert _rows(workspace, "flops-layer") == [("20000000", "incorrect", 1, 0), ("10000000", "incorrect", 1, 1),
                                               ("16777216", "correct", 0, 0)]
    for qid, a in (("sigmoid-neg", RIGHT_CHOICE), ("predict-relu-grad", "[0.0, 0.0, 1.0]")):
        assert "✓" in _ask(workspace, qid, a)
    r = run_mentor("ask", "neuron", "-q", "explain-stable-sigmoid", cwd=workspace, env=DAY0, input=EXPLAIN + "\n\ny\ny\n")
    assert "✓" in r.stdout
    u = _neuron(workspace)
    assert u["state"] == "available" and "flops-layer right first time" in " ".join(u["missing"])
    assert [(x["unit"], x["question"], x["back_at"][:10], x["due"]) for x in u["_revealed"]] == [("neuron", "flops-layer", "2026-03-03", False)]
    text = run_mentor("status", cwd=workspace, env=DAY0).stdout
    assert "1 answer revealed" in text and "neuron/flops-layer comes back in a review on 2026-03-03" in text
    r = run_mentor("ask", "neuron", cwd=workspace, env=DAY0, input="")
    assert "flops-layer comes back in a review on 2026-03-03" in r.stdout  # not asked again today

    r = run_mentor("review", cwd=workspace, env=DAY1, input="16777216\n")  # it comes back: right first time
    assert "flops-layer" in r.stdout and "1/1 reviews correct" in r.stdout
    u = _neuron(workspace, DAY1)
    assert u["state"] == "proficient" and u["_revealed"] == []


def test_a_predict_output_is_not_shown_after_one_wrong_try_and_not_accepted_after_the_reveal(workspace: Path):
    _pass_check(workspace)
    out = _ask(workspace, "predict-relu-grad", "[0.0, 1.0, 1.0]")
    assert "✗" in out and "[0.0, 0.0, 1.0]" not in out and "1 more try" in out
    out = _ask(workspace, "predict-relu-grad", "[1.0, 0.0, 1.0]")
    assert "The answer: [0.0, 0.0, 1.0]" in out
    out = _ask(workspace, "predict-relu-grad", "[0.0, 0.0, 1.0]")
    assert "does not count" in out
    assert "predict-relu-grad" in " ".join(_neuron(workspace)["missing"])


def test_choice_options_are_shuffled_per_attempt_and_one_wrong_pick_reveals(workspace: Path):
    from mentor.grading import option_order

    _pass_check(workspace)
    first, second = option_order("neuron", "sigmoid-neg", 0, 4), option_order("neuron", "sigmoid-neg", 1, 4)
    assert first != second and first != [0, 1, 2, 3]
    wrong = next(k for k, i in enumerate(first) if i != 1)
    out = _ask(workspace, "sigmoid-neg", chr(65 + wrong))  # a letter of the order shown
    opts = ["Returns nan", RIGHT_CHOICE, "Raises OverflowError", "Returns exactly 0.0, no warning"]
    assert [out.index(opts[i]) for i in first] == sorted(out.index(opts[i]) for i in first)  # shown in that order
    assert "The answer: " + RIGHT_CHOICE in out and "comes back in a review" in out
    right = chr(65 + second.index(1))
    out = _ask(workspace, "sigmoid-neg", right)  # right by the new order, but after the reveal
    assert "✓" in out and "does not count" in out
    con = sqlite3.connect(workspace / ".mentor" / "progress.db")
    rows = con.execute("SELECT answer, chosen, option_order, counts FROM answer WHERE question_id = 'sigmoid-neg' ORDER BY id").fetchall()
    assert rows == [(chr(65 + wrong), opts[first[wrong]], ",".join(map(str, first)), 1),
                    (right, RIGHT_CHOICE, ",".join(map(str, second)), 0)]


def test_passive_acknowledgements_are_refused_everywhere_and_are_no_tries(workspace: Path):
    _pass_check(workspace)
    for qid, ack in (("step1-shape", "got it"), ("flops-layer", "ok"), ("predict-relu-grad", "makes sense"),
                     ("sigmoid-neg", "sure"), ("step2-overflow", "I get it")):
        out = _ask(workspace, qid, ack)
        assert "not evidence" in out and "✗" not in out, (qid, out)
        assert _rows(workspace, qid) == [(ack, "refused", 0, 0)]
    assert "1 more try" in _ask(workspace, "flops-layer", "1")  # the refusal was no try
    r = run_mentor("ask", "neuron", "--steps", cwd=workspace, env=DAY0, input="ok\nunderstood\n(32, 4)\n")
    assert r.stdout.count("not evidence") == 2 and "✓ correct" in r.stdout
    assert _rows(workspace, "step1-shape")[-1] == ("(32, 4)", "correct", 1, 0)
