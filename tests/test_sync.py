"""mentor sync: progress exported from one workspace and imported into another (two real workspaces, the real
CLI): nothing lost, nothing duplicated on a second import, conflicts reported, bad files refused clearly."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from conftest import REPO, check_json, run_mentor


def _counts(ws: Path) -> dict[str, int]:
    con = sqlite3.connect(ws / ".mentor" / "progress.db")
    return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("attempt", "answer", "hint_use", "session", "message", "review_card")}


def _make(tmp: Path, name: str) -> Path:
    ws = tmp / name
    assert run_mentor("init", str(ws), "--yes", "--name", "Ada").returncode == 0
    return ws


def test_progress_travels_between_two_workspaces(tmp_path: Path):
    gpu, laptop = _make(tmp_path, "workstation"), _make(tmp_path, "laptop")
    # on the workstation: neuron done (check passes, questions answered), a hint, an offline session
    shutil.copy(REPO / "reference_impl" / "neuron.py", gpu / "myllm" / "neuron.py")
    assert check_json(gpu, "neuron")[1]["status"] == "pass"
    run_mentor("hint", "neuron", cwd=gpu)
    for qid, a in (("sigmoid-neg", "Returns 0.0 with an overflow warning"), ("predict-relu-grad", "[0.0, 0.0, 1.0]"),
                   ("flops-layer", "16777216")):
        assert run_mentor("ask", "neuron", "-q", qid, "-a", a, cwd=gpu).returncode == 0
    explain = ("Each branch only exponentiates a non-positive number so exp stays at most one, and np.where evaluates "
               "both branches on every element so the naive branch would still overflow.")
    run_mentor("ask", "neuron", "-q", "explain-stable-sigmoid", "-a", explain, cwd=gpu, input="y\ny\n")
    run_mentor("start", "--offline", cwd=gpu, input="(32, 4)\n/quit\n")
    before = json.loads(run_mentor("status", "--json", cwd=gpu).stdout)
    assert before["phases"][0]["units"][0]["state"] == "proficient"
    # on the laptop: an attempt of its own
    check_json(laptop, "neuron")
    laptop_before = _counts(laptop)

    out = tmp_path / "progress.json"
    r = run_mentor("sync", "export", str(out), cwd=gpu)
    assert r.returncode == 0 and out.is_file(), r.stderr
    r = run_mentor("sync", "import", str(out), cwd=laptop)
    assert r.returncode == 0, r.stderr
    merged, source = _counts(laptop), _counts(gpu)
    for t in merged:
        assert merged[t] == laptop_before[t] + source[t], t  # everything from the workstation, nothing of the laptop lost
    after = json.loads(run_mentor("status", "--json", cwd=laptop).stdout)
    assert after["phases"][0]["units"][0]["state"] == "proficient"
    con = sqlite3.connect(laptop / ".mentor" / "progress.db")
    # transcripts keep their session: every imported message points at an imported session
    orphans = con.execute("SELECT count(*) FROM message WHERE session_id NOT IN (SELECT id FROM session)").fetchone()[0]
    assert orphans == 0
    # a second import adds nothing; importing back into the source adds only the laptop's attempt
    r = run_mentor("sync", "import", str(out), cwd=laptop)
    assert "nothing new" in r.stdout and _counts(laptop) == merged
    back = tmp_path / "back.json"
    run_mentor("sync", "export", str(back), cwd=laptop)
    run_mentor("sync", "import", str(back), cwd=gpu)
    assert _counts(gpu)["attempt"] == source["attempt"] + laptop_before["attempt"]


def test_conflicting_review_cards_are_reported_and_the_later_kept(tmp_path: Path):
    a, b = _make(tmp_path, "a"), _make(tmp_path, "b")
    for ws, when in ((a, "2026-12-01T10:00:00+00:00"), (b, "2026-12-03T10:00:00+00:00")):
        con = sqlite3.connect(ws / ".mentor" / "progress.db")
        con.execute("INSERT INTO review_card (unit_id, question_id, due_at, state_json, reps, lapses, last_review_at) "
                    "VALUES ('neuron', 'sigmoid-neg', ?, '{}', 1, 0, ?)", (when, when))
        con.commit()
        con.close()
    out = tmp_path / "b.json"
    run_mentor("sync", "export", str(out), cwd=b)
    r = run_mentor("sync", "import", str(out), "--dry-run", cwd=a)
    assert "conflict: review card neuron/sigmoid-neg" in " ".join(r.stdout.split())
    con = sqlite3.connect(a / ".mentor" / "progress.db")
    assert con.execute("SELECT last_review_at FROM review_card").fetchone()[0].startswith("2026-12-01")  # dry run
    run_mentor("sync", "import", str(out), cwd=a)
    assert con.execute("SELECT last_review_at FROM review_card").fetchone()[0].startswith("2026-12-03")


def test_a_file_that_is_not_an_export_is_refused_clearly(tmp_path: Path):
    ws = _make(tmp_path, "ws")
    bad = tmp_path / "notes.json"
    bad.write_text('{"hello": 1}')
    for f in (bad, tmp_path / "missing.json"):
        r = run_mentor("sync", "import", str(f), cwd=ws)
        assert r.returncode == 2 and "Traceback" not in r.stderr and ("not a mentor progress export" in r.stderr
                                                                      or "cannot read" in r.stderr)
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({"format": "mentor-progress", "version": 1, "migrations": ["9999_future"], "tables": {}}))
    r = run_mentor("sync", "import", str(newer), cwd=ws)
    assert r.returncode == 2 and "newer mentor" in r.stderr
