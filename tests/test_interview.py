"""`mentor interview`: the architecture reviews — bank, context from the learner's model, offline and online
grading (a real local OpenAI-compatible server), recording, status and sync."""

import json
import sqlite3
import sys
from pathlib import Path

from conftest import run_mentor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_llm_server import FakeLLMServer  # noqa: E402

# three answers to the phase1 review, long enough to pass screening
A1 = ("relu_grad reads 2^26 float32 values, that is 256 MiB, and writes another 256 MiB, so about half a GiB "
      "moves; divided by the one-core bandwidth that takes tens of milliseconds at best. Sigmoid needs an exp "
      "and a division per element so it costs more than the pure memory pass.")
FU = ("Every NumPy expression allocates a new temporary array, so exp(-|z|), one plus it and the quotient are "
      "each written and read again, which multiplies the memory traffic.")
A2 = ("The cache must hold the input X and every hidden activation plus the relu mask, because dW needs the "
      "layer input and the relu backward needs where the input was positive; the inputs are 4096 x 2832 float64, "
      "about 89 MiB. Storing float32 or a bool mask halves it, and it grows linearly with the batch size.")
A3 = ("A matrix-vector product of 1000 x 1000 builds about two million Value nodes, a million multiplies and a "
      "million adds, and each Python node costs a few hundred bytes, so hundreds of MB; NumPy streams the 8 MB of "
      "weights once in compiled code in about a millisecond, so autograd records one node per tensor operation.")


def _env(srv, home):
    return {"MENTOR_BASE_URL": srv.base_url, "MENTOR_MODEL": "judge", "MENTOR_API_KEY": "sk-test",
            "MENTOR_HOME": str(home)}


def _verdict(quotes: list[str | None]) -> dict:
    return {"criteria": [{"index": i, "met": q is not None, "evidence": q or ""} for i, q in enumerate(quotes, 1)],
            "feedback": "Graded against the rubric criteria."}


def test_every_placeholder_of_the_bank_resolves_for_the_course_model_and_a_project(workspace: Path):
    from mentor.curriculum import load_course
    from mentor.interview.bank import asked, load_bank, problems
    from mentor.interview.context import build_context
    from mentor.workspace import find_workspace

    ws, course = find_workspace(workspace), load_course()
    values = build_context(ws, course)
    assert problems(values) == []
    assert "course's model for this machine" in values["model.source"]
    (workspace / "data" / "project").mkdir(parents=True)
    (workspace / "data" / "project" / "project.toml").write_text(
        "[model]\nvocab_size = 1024\ncontext_length = 256\nd_model = 192\nn_layers = 4\nn_heads = 6\n"
        "[train]\nbatch_size = 16\n", encoding="utf-8")
    values = build_context(ws, course)
    assert values["model.d_model"] == "192" and values["train.batch_size"] == "16" and "project" in values["model.source"]
    # the facts are the audit's arithmetic: one (B, H, T, T) fp32 tensor of this config
    assert values["attn.scores_mib"] == f"{16 * 6 * 256 * 256 * 4 / 2**20:,.0f}"
    for r in load_bank().reviews:
        for q in r.questions:
            a = asked(q, values)
            assert "{me:" not in a.prompt + a.reference_answer + "".join(a.rubric), (r.id, q.id)
            assert "{hw:" not in a.prompt + a.reference_answer + "".join(a.rubric), (r.id, q.id)


def test_a_review_that_is_not_open_says_what_it_waits_for(workspace: Path):
    r = run_mentor("interview", "phase2", cwd=workspace)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    err = " ".join(r.stderr.split())
    assert "bpe-train" in err and "--practice" in err
    r = run_mentor("interview", "nonsense", cwd=workspace)
    assert r.returncode == 2 and "no review 'nonsense'" in " ".join(r.stderr.split())


def test_offline_review_is_self_assessed_and_recorded(workspace: Path):
    yes = "y\n" * 4
    answers = f"{A1}\n\n{yes}{A2}\n\n{yes}{A3}\n\n{yes}"
    r = run_mentor("interview", "phase1", "--practice", "--offline", cwd=workspace, input=answers)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Review phase1 passed (3/3, self-assessed)" in " ".join(r.stdout.split())
    con = sqlite3.connect(workspace / ".mentor" / "progress.db")
    row = con.execute("SELECT review, practice, grader, passed, questions_passed, finished_at FROM interview").fetchone()
    assert row[:5] == ("phase1", 1, "self", 1, 3) and row[5]
    ans = con.execute("SELECT question_id, grader, verdict, answer FROM interview_answer ORDER BY id").fetchall()
    assert [a[0] for a in ans] == ["p1-bandwidth-relu", "p1-backprop-cache", "p1-autograd-vs-arrays"]
    assert {a[1] for a in ans} == {"self"} and {a[2] for a in ans} == {"self_correct"} and ans[0][3] == A1
    # practice never counts: the review is still open-but-not-passed in the list
    lst = json.loads(run_mentor("interview", "--list", "--json", cwd=workspace).stdout)
    assert next(x for x in lst if x["id"] == "phase1")["passed"] is None


def test_input_ending_mid_review_keeps_the_answers(workspace: Path):
    r = run_mentor("interview", "phase1", "--practice", "--offline", cwd=workspace, input=f"{A1}\n\n" + "y\n" * 4)
    assert r.returncode == 1 and "answers so far are saved" in " ".join(r.stdout.split())
    con = sqlite3.connect(workspace / ".mentor" / "progress.db")
    assert con.execute("SELECT count(*) FROM interview_answer").fetchone()[0] == 1
    assert con.execute("SELECT finished_at, passed FROM interview").fetchone() == (None, 0)


def test_online_review_judged_with_a_follow_up_on_the_missing_criterion(workspace: Path, tmp_path: Path):
    scenarios = [
        # question 1: criteria 1-3 shown, 4 (temporaries) not -> the interviewer asks one follow-up
        {"match": "256 MiB, and writes another", "content": [json.dumps(_verdict(
            ["writes another 256 MiB, so about half a GiB", "divided by the one-core bandwidth that takes tens",
             "Sigmoid needs an exp and a division per element", None]))]},
        {"match": "interviewer in an AI architect interview", "content": ["What does NumPy allocate for each step?"]},
        {"match": "allocates a new temporary array", "content": [json.dumps(_verdict(
            ["writes another 256 MiB, so about half a GiB", "divided by the one-core bandwidth that takes tens",
             "Sigmoid needs an exp and a division per element", "allocates a new temporary array, so exp(-|z|)"]))]},
        {"match": "The cache must hold", "content": [json.dumps(_verdict(
            ["must hold the input X and every hidden activation", "the inputs are 4096 x 2832 float64",
             "Storing float32 or a bool mask halves it", "it grows linearly with the batch size"]))]},
        # question 3: the judge claims a quote that is not in the answer: not met, and no follow-up is available
        {"match": "A matrix-vector product", "content": [json.dumps(_verdict(
            ["builds about two million Value nodes", "each Python node costs a few hundred bytes",
             "NumPy streams the 8 MB of weights once", "autograd is always slower than arrays, full marks"]))]},
    ]
    with FakeLLMServer(scenarios, default={"content": [""]}) as srv:
        r = run_mentor("interview", "phase1", "--practice", cwd=workspace, env=_env(srv, tmp_path / "home"),
                       input=f"{A1}\n\n{FU}\n\n{A2}\n\n{A3}\n\n\n")
        requests = srv.chat_requests
    out = " ".join(r.stdout.split())
    assert "Interviewer: What does NumPy allocate for each step?" in out
    assert r.returncode == 1 and "Review phase1: 2/3 (graded by the judge)" in out, r.stdout + r.stderr
    interviewer = [q for q in requests if "interviewer in an AI architect" in json.dumps(q)]
    assert interviewer and "temporaries" in json.dumps(interviewer[0])  # it is told what is missing
    con = sqlite3.connect(workspace / ".mentor" / "progress.db")
    rows = con.execute("SELECT question_id, grader, verdict, follow_up, follow_up_answer, met_json "
                       "FROM interview_answer ORDER BY id").fetchall()
    assert rows[0][1:5] == ("llm", "correct", "What does NumPy allocate for each step?", FU)
    assert rows[1][2] == "correct" and rows[1][3] is None
    assert rows[2][2] == "incorrect" and json.loads(rows[2][5]) == [True, True, True, False]


def test_status_and_sync_carry_the_reviews(workspace: Path, tmp_path: Path):
    from mentor.interview.flow import passed_reviews
    from mentor.status import _next_step
    from mentor.workspace import find_workspace

    run_mentor("interview", "phase1", "--practice", "--offline", cwd=workspace,
               input=f"{A1}\n\n" + "y\n" * 4 + f"{A2}\n\n" + "y\n" * 4 + f"{A3}\n\n" + "y\n" * 4)
    con = sqlite3.connect(workspace / ".mentor" / "progress.db")
    con.execute("UPDATE interview SET practice = 0")  # as if it had been taken once the phase was done
    con.commit()
    st = json.loads(run_mentor("status", "--json", cwd=workspace).stdout)
    assert next(x for x in st["reviews"] if x["id"] == "phase1")["passed"]["grader"] == "self"
    assert st["course_complete"] is False
    assert "phase1 ✓ (self-assessed)" in run_mentor("status", cwd=workspace).stdout
    # sync: the review and its answers move to a second workspace, once
    out = tmp_path / "progress.json"
    assert run_mentor("sync", "export", str(out), cwd=workspace).returncode == 0
    other = tmp_path / "laptop"
    assert run_mentor("init", str(other), "--yes", "--name", "T").returncode == 0
    for _ in range(2):
        assert run_mentor("sync", "import", str(out), cwd=other).returncode == 0
    con2 = sqlite3.connect(other / ".mentor" / "progress.db")
    assert con2.execute("SELECT count(*) FROM interview").fetchone()[0] == 1
    assert con2.execute("SELECT count(*) FROM interview_answer").fetchone()[0] == 3
    assert "phase1" in passed_reviews(find_workspace(other).engine())

    class Snap:  # every unit proficient: the course completes only with the final review passed
        states: dict = {}
    final_open = [{"id": "final", "blocked_by": [], "passed": None}]
    assert "mentor interview final" in _next_step(None, Snap(), type("C", (), {"order": []})(), final_open)
    final_done = [{"id": "final", "blocked_by": [], "passed": {"grader": "llm", "at": "x"}}]
    assert _next_step(None, Snap(), type("C", (), {"order": []})(), final_done) == "Course complete."
