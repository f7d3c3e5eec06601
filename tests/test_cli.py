"""The new user's path through the real `mentor` entry point, and the commands around it."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from conftest import REPO, check_json, run_mentor

NEURON_REF = (REPO / "reference_impl" / "neuron.py").read_text()
ANSWERS = "\n".join([
    "Returns 0.0 with an overflow warning",  # sigmoid-neg, by text (the letters are shuffled per attempt)
    "[0.0, 0.0, 1.0]", "",  # predict (multi-line answer ends with an empty line)
    "16777216",
    "Each branch only exponentiates a non-positive number, so exp stays at most one; np.where evaluates both "
    "branches on every element so the naive branch would still overflow.", "",
    "y", "y",
]) + "\n"


def test_new_user_journey(workspace: Path):
    r = run_mentor("status", cwd=workspace)
    assert r.returncode == 0 and "neuron" in r.stdout and "← current" in r.stdout
    r = run_mentor("show", "neuron", "--plain", cwd=workspace)
    assert r.returncode == 0 and "Step 1/" in r.stdout and "linear(x, w, b)" in r.stdout

    rc, out = check_json(workspace, "neuron")
    assert rc == 1 and out["status"] == "fail" and out["verdict"] == "not_implemented"
    assert "linear() is not implemented yet (myllm/neuron.py:" in out["tests"][0]["message"]

    (workspace / "myllm" / "neuron.py").write_text(NEURON_REF)
    rc, out = check_json(workspace, "neuron")
    assert rc == 0 and out["status"] == "pass" and out["state"] == "available"
    assert "answer 4 question(s)" in " ".join(out["missing"])

    r = run_mentor("ask", "neuron", cwd=workspace, input=ANSWERS)
    assert r.returncode == 0, r.stderr
    assert "4/4 correct" in r.stdout and "neuron: proficient" in r.stdout
    assert "Unlocked: losses" in r.stdout
    assert (workspace / "myllm" / "losses.py").exists()

    st = json.loads(run_mentor("status", "--json", cwd=workspace).stdout)
    units = {u["id"]: u for p in st["phases"] for u in p["units"]}
    assert units["neuron"]["state"] == "proficient" and units["losses"]["state"] == "available"
    assert st["current"] == "losses"


def test_wrong_answers_are_recorded_and_do_not_unlock(workspace: Path):
    (workspace / "myllm" / "neuron.py").write_text(NEURON_REF)
    assert check_json(workspace, "neuron")[0] == 0
    r = run_mentor("ask", "neuron", "-q", "sigmoid-neg", "-a", "Returns nan", cwd=workspace)
    assert "✗" in r.stdout
    st = json.loads(run_mentor("status", "--json", cwd=workspace).stdout)
    assert st["phases"][0]["units"][0]["state"] == "available"
    import sqlite3

    rows = sqlite3.connect(workspace / ".mentor" / "progress.db").execute("SELECT question_id, answer, verdict FROM answer").fetchall()
    assert rows == [("sigmoid-neg", "Returns nan", "incorrect")]


def test_seed_replays_the_same_inputs(workspace: Path):
    mod = workspace / "myllm" / "neuron.py"
    mod.write_text(NEURON_REF.replace("return x @ w + b", "return x @ w + b + 1e-3"))
    _, a = check_json(workspace, "neuron", "--seed", "42")
    _, b = check_json(workspace, "neuron", "--seed", "42")
    assert a["seed"] == b["seed"] == 42
    assert a["tests"][0]["message"] == b["tests"][0]["message"]
    assert "max abs error" in a["tests"][0]["message"] and "tolerance" in a["tests"][0]["message"]


def test_hint_ladder_is_recorded_and_ends(workspace: Path):
    outs = [run_mentor("hint", "neuron", cwd=workspace).stdout for _ in range(6)]
    assert "Hint 1/5" in outs[0] and "Hint 5/5" in outs[4] and "All 5 hints" in outs[5]


def test_errors_are_messages_not_tracebacks(workspace: Path):
    for args in (["check", "nosuchunit"], ["show", "neuron", "--step", "99"], ["ask", "neuron", "-a", "B"],
                 ["ask", "neuron", "-q", "nope"], ["check", "gpt-9"], ["check", "neuron", "--seed", "abc"],
                 ["check", "--no-such-option"], ["show", "neuron", "--step", "0"]):
        r = run_mentor(*args, cwd=workspace)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert ("error:" in r.stderr or "Error" in r.stderr) and "Traceback" not in r.stderr, (args, r.stderr)


def _modules_imported(*args: str, cwd: Path) -> set[str]:
    code = ("import sys; sys.argv = ['mentor', *sys.argv[1:]]\nfrom mentor.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\nprint('MODS', ' '.join(sorted(sys.modules)))")
    r = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True)
    line = next(l for l in r.stdout.splitlines() if l.startswith("MODS"))
    return set(line.split()[1:])


def test_help_and_status_stay_light(workspace: Path):
    for args in (["--help"], ["status"]):
        mods = _modules_imported(*args, cwd=workspace)
        assert "torch" not in mods and "openai" not in mods, args
    assert "sqlmodel" not in _modules_imported("--help", cwd=workspace)


def test_doctor_reports_machine_and_workspace(workspace: Path):
    r = run_mentor("doctor", "--json", cwd=workspace)
    d = json.loads(r.stdout)
    assert d["machine"]["cpu_cores"] >= 1 and d["workspace"]["ok"] and d["workspace"]["integrity"] == "ok"
    assert d["course_scope"]["params_m"] in (10, 20, 50, 100)
    r = run_mentor("doctor", cwd=workspace)
    assert "Course model size here" in r.stdout


def test_watch_reruns_on_save(workspace: Path):
    from mentor.watch import watch_loop

    runs: list[float] = []
    mod = workspace / "myllm" / "neuron.py"

    def touch_later() -> None:
        time.sleep(0.6)
        mod.write_text(mod.read_text() + "\n# saved\n")

    threading.Thread(target=touch_later).start()
    watch_loop(workspace / "myllm", lambda: runs.append(time.time()) or 0, interval=0.1, max_runs=2)
    assert len(runs) == 2


def test_dev_check_validates_and_self_checks(tmp_path: Path):
    r = run_mentor("dev", "check", "neuron", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "curriculum valid" in r.stdout and "✓ neuron" in r.stdout


def _spawn_mentor(pexpect, ws: Path, *args: str):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("MENTOR_WORKSPACE")}
    return pexpect.spawn(sys.executable, ["-m", "mentor.cli", *args], cwd=str(ws), encoding="utf-8", timeout=90,
                         dimensions=(50, 140), env={**env, "COLUMNS": "140"})


def _attempts(ws: Path) -> int:
    import sqlite3

    return sqlite3.connect(ws / ".mentor" / "progress.db").execute("SELECT count(*) FROM attempt").fetchone()[0]


def test_ctrl_c_during_check_kills_the_sandbox_and_records_nothing(workspace: Path):
    import pytest

    pexpect = pytest.importorskip("pexpect")
    from sandbox_probe import assert_gone, kill_group, looping_neuron, wait_for_pid

    marker = workspace / "sandbox.pid"
    looping_neuron(workspace, marker)
    child = _spawn_mentor(pexpect, workspace, "check", "neuron")
    _, pgid = wait_for_pid(marker)
    try:
        child.sendintr()
        child.expect("\r\ncheck cancelled\r\n")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 130
        assert_gone(pgid)
    finally:
        kill_group(pgid)
    assert _attempts(workspace) == 0, "a cancelled check must not be recorded"


def test_ctrl_c_during_check_watch_stops_the_sandbox_too(workspace: Path):
    import pytest

    pexpect = pytest.importorskip("pexpect")
    from sandbox_probe import assert_gone, kill_group, looping_neuron, wait_for_pid

    marker = workspace / "sandbox.pid"
    looping_neuron(workspace, marker)
    child = _spawn_mentor(pexpect, workspace, "check", "neuron", "--watch")
    _, pgid = wait_for_pid(marker)
    try:
        child.sendintr()
        child.expect("check cancelled")
        child.expect("stopped watching")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 130
        assert_gone(pgid)
    finally:
        kill_group(pgid)
    assert _attempts(workspace) == 0


def test_timeout_names_where_the_code_was_and_counts_the_checks_not_run(workspace: Path):
    from sandbox_probe import loop_line_number, looping_neuron

    looping_neuron(workspace, workspace / "sandbox.pid")
    loop = loop_line_number(workspace)  # the frame is on the `while True:` line or its body
    rc, out = check_json(workspace, "neuron")
    assert rc == 1 and out["status"] == "timeout" and out["verdict"] == "timeout"
    line = next((n for n in (loop - 1, loop) if f"sigmoid() at myllm/neuron.py:{n} was still running" in out["message"]), None)
    assert line, out["message"]
    assert "during check test_sigmoid" in out["message"]
    statuses = [(t["name"], t["status"]) for t in out["tests"]]
    assert statuses[:3] == [("test_linear_single_output", "pass"), ("test_linear_many_outputs", "pass"),
                            ("test_sigmoid", "timeout")]
    assert [s for _, s in statuses[3:]] == ["not_run"] * 7 and len(statuses) == 10
    assert out["counts"] == {"pass": 2, "timeout": 1, "not_run": 7}
    r = run_mentor("check", "neuron", "--seed", str(out["seed"]), cwd=workspace)
    text = " ".join(r.stdout.replace("│", " ").split())
    assert "10 checks: 2 passed, 1 timed out, 7 not run" in text, r.stdout
    assert "sigmoid() at myllm/neuron.py:" in text and "was still running" in text, r.stdout
    assert "checks passed" not in text


def _flat(s: str) -> str:
    return " ".join(s.replace("│", " ").replace("▌", " ").replace("`", "").split())


def test_show_of_a_locked_unit_says_it_is_locked_and_what_unlocks_it(workspace: Path):
    out = _flat(run_mentor("show", "losses", cwd=workspace).stdout)
    assert "losses is locked: first make neuron proficient to unlock it" in out, out
    assert "mentor check losses writes its stubs to myllm/losses.py" in out
    assert "is locked" not in _flat(run_mentor("show", "neuron", cwd=workspace).stdout)


def test_check_of_a_locked_unit_says_it_wrote_the_stubs(workspace: Path):
    r = run_mentor("check", "losses", cwd=workspace)
    out = _flat(r.stdout)
    assert r.returncode == 1 and (workspace / "myllm" / "losses.py").exists()
    assert "losses is locked (first make neuron proficient)" in out, r.stdout
    assert "This check wrote the unit's stubs to myllm/losses.py" in out


def test_passing_check_of_a_proficient_unit_says_proficient(workspace: Path):
    import sqlite3

    from mentor.curriculum import course

    (workspace / "myllm" / "neuron.py").write_text(NEURON_REF)
    con = sqlite3.connect(workspace / ".mentor" / "progress.db")
    for q in course().unit("neuron").questions:
        con.execute("INSERT INTO answer (unit_id, question_id, created_at, answer, verdict, grader, feedback, is_review) "
                    "VALUES ('neuron', ?, '2026-12-01T10:00:00', 'x', 'correct', 'auto', '', 0)", (q.id,))
    con.commit()
    con.close()
    assert "neuron is now proficient" in run_mentor("check", "neuron", cwd=workspace).stdout
    r = run_mentor("check", "neuron", cwd=workspace)
    out = _flat(r.stdout)
    assert r.returncode == 0 and "neuron is already proficient" in out, r.stdout
    assert "Left for proficiency" not in out and "mentor ask" not in out
    assert "is locked" not in _flat(run_mentor("show", "losses", cwd=workspace).stdout)


def test_overflow_help_explains_np_where_to_a_learner_who_used_it(workspace: Path):
    ref_body = ("    e = np.exp(-np.abs(z))  # in (0, 1]\n"
                "    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))\n")
    where = "    return np.where(z >= 0, 1.0 / (1.0 + np.exp(-z)), np.exp(z) / (1.0 + np.exp(z)))\n"
    naive = "    return 1.0 / (1.0 + np.exp(-z))\n"
    mod = workspace / "myllm" / "neuron.py"
    assert ref_body in NEURON_REF
    mod.write_text(NEURON_REF.replace(ref_body, where))
    _, out = check_json(workspace, "neuron")
    t = next(t for t in out["tests"] if t["name"] == "test_sigmoid")
    assert t["status"] == "fail" and "returned the right values" in t["message"], t
    assert "evaluates both a and b on every element" in t["message"]
    assert "for z < 0 compute" not in (t["help"] or "").lower()  # not the code the learner already wrote
    mod.write_text(NEURON_REF.replace(ref_body, naive))  # one naive formula: the plain overflow message
    _, out = check_json(workspace, "neuron")
    t = next(t for t in out["tests"] if t["name"] == "test_sigmoid")
    assert t["status"] == "fail" and "only ever exponentiate a non-positive number" in t["message"], t
    assert "np.where" not in t["message"]


def test_sgd_momentum_accepts_a_rebound_velocity_but_not_rebound_parameters(workspace: Path):
    for mod in ("neuron", "losses", "mlp", "train_mlp"):
        src = (REPO / "reference_impl" / f"{mod}.py").read_text().replace("from reference_impl.", "from myllm.")
        (workspace / "myllm" / f"{mod}.py").write_text(src)
    path = workspace / "myllm" / "train_mlp.py"
    in_place = ("        v *= momentum  # in place: velocity[k] stays the same array\n        v += g\n"
                "        p -= lr * v  # in place: params[k] stays the same array\n")
    src = path.read_text()
    assert in_place in src
    path.write_text(src.replace(in_place, "        velocity[k] = momentum * v + g  # a new, correct array\n"
                                          "        p -= lr * velocity[k]\n"))
    _, out = check_json(workspace, "train-mlp")
    sgd = {t["name"]: t for t in out["tests"] if t["name"].startswith("test_sgd")}
    assert len(sgd) == 3 and all(t["status"] == "pass" for t in sgd.values()), sgd
    path.write_text(src.replace(in_place, "        v *= momentum\n        v += g\n        params[k] = p - lr * v\n"))
    _, out = check_json(workspace, "train-mlp")
    t = next(t for t in out["tests"] if t["name"] == "test_sgd_updates_in_place")
    assert t["status"] == "fail" and "the caller's model holds references" in t["message"], t


def test_losses_overflow_message_covers_np_where_over_two_formulas(workspace: Path):
    ref = (REPO / "reference_impl" / "losses.py").read_text()
    stable = "    per_elem = np.maximum(z, 0.0) - z * y + np.log1p(np.exp(-np.abs(z)))  # same shape as z\n"
    where = "    per_elem = np.where(z > 0, z + np.log1p(np.exp(-z)), np.log1p(np.exp(z))) - z * y\n"
    assert stable in ref
    (workspace / "myllm" / "losses.py").write_text(ref.replace(stable, where))
    _, out = check_json(workspace, "losses")
    t = next(t for t in out["tests"] if t["name"] == "test_bce_with_logits_large")
    assert t["status"] == "fail" and "evaluates both a and b on every element" in t["message"], t


def test_help_shows_boolean_flags_without_a_value_placeholder(tmp_path):
    for args in (["--help"], ["check", "--help"], ["status", "--help"], ["ask", "--help"], ["start", "--help"],
                 ["doctor", "--help"], ["dev", "check", "--help"]):
        r = run_mentor(*args, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert "<bool>" not in r.stdout, (args, r.stdout)
    assert "--json" in run_mentor("check", "--help", cwd=tmp_path).stdout


def test_show_works_outside_a_workspace(tmp_path):
    r = run_mentor("show", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Browsing the course outside a workspace" in " ".join(r.stdout.split()) and "mentor init" in r.stdout
    r = run_mentor("show", "attention", "--plain", cwd=tmp_path)
    assert r.returncode == 0 and "outside a workspace" in r.stdout
