"""Labs: predict, measure, explain — through the real `mentor lab` entry point, plus the parts it is built of."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import REPO, run_mentor

EXPLAIN = ("ReLU does one comparison per eight bytes moved so it is memory bound far below the ridge point; "
           "my version allocates a fresh output whose pages fault and are zeroed on first touch, so it is slower "
           "than the copy; writing into a preallocated buffer with out= gets closer.")


def _write_relu(ws: Path) -> None:
    shutil.copy(REPO / "reference_impl" / "neuron.py", ws / "myllm" / "neuron.py")


def _rows(ws: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(ws / ".mentor" / "progress.db")
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


# ------------------------------------------------------------------ the command
def test_lab_refuses_a_function_not_written_yet(workspace: Path):
    r = run_mentor("lab", "neuron", "--predict", "5", cwd=workspace)
    assert r.returncode == 2
    err = " ".join(r.stderr.split())
    assert "the lab of unit 'neuron' measures your relu() in myllm/neuron.py, which is not written yet" in err, r.stderr
    assert "write relu() first" in err
    assert _rows(workspace, "SELECT count(*) FROM lab_run") == [(0,)]  # nothing ran, nothing recorded


def test_lab_refuses_a_unit_without_a_lab(workspace: Path):
    from mentor.curriculum import load_course
    from mentor.errors import MentorError
    from mentor.labs.flow import prepare
    from mentor.workspace import find_workspace

    c = load_course()
    bare = c.units["neuron"].model_copy(update={"lab": None})
    with pytest.raises(MentorError) as e:
        prepare(find_workspace(workspace), c, bare)
    assert e.value.message == "unit 'neuron' has no lab yet" and "units with a lab: neuron" in (e.value.hint or "")


def test_lab_refuses_a_locked_unit(workspace: Path):
    from mentor.curriculum import load_course
    from mentor.errors import MentorError
    from mentor.labs.flow import prepare
    from mentor.workspace import find_workspace

    c = load_course()
    locked = c.units["losses"].model_copy(update={"lab": c.units["neuron"].lab})  # a lab on a unit that is locked
    with pytest.raises(MentorError) as e:
        prepare(find_workspace(workspace), c, locked)
    assert "losses is locked (first make neuron proficient)" in e.value.message


def test_lab_predict_measure_plot_explain_and_record(workspace: Path):
    _write_relu(workspace)
    stdin = f"fast\n0 GB/s\n6 GB/s\n{EXPLAIN}\n\ny\ny\ny\n"
    r = run_mentor("lab", "neuron", cwd=workspace, input=stdin, env={"MENTOR_OFFLINE": "1"})
    out = " ".join(r.stdout.split())
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Lab: ReLU at memory speed" in out
    assert "'fast' is not a number" in out and "predict a positive number" in out  # bad input: asked again
    assert "measured achieved bandwidth of relu:" in out and "bound (one-core copy bandwidth): 20 GB/s" in out
    assert "from the class figure" in out  # no profile measured in this workspace
    assert "self-assessed: every criterion met" in out
    svg = Path(out.split("picture saved: ")[1].split()[0])
    assert svg.is_file() and svg.parent == workspace / "data" / "labs" and svg.read_text().startswith("<svg")
    (measured, predicted, within, bound, source, status, figures), = _rows(
        workspace, "SELECT measured, predicted, within, bound, bound_source, status, figures_json FROM lab_run")
    assert status == "measured" and predicted == 6.0 and bound == 20.0 and source == "class"
    assert measured > 0 and within == int(measured / 2 <= 6.0 <= measured * 2)
    assert json.loads(figures)["copy_gbps"] > 0
    answers = _rows(workspace, "SELECT question_id, verdict, counts FROM answer ORDER BY id")
    assert answers[0] == ("lab-predict", "correct" if within else "incorrect", 1)
    assert answers[-1] == ("lab-relu-gap", "self_correct", 1)

    # a second run on the same machine: the learner has seen the figure, so the prediction is recorded only
    r = run_mentor("lab", "neuron", "--json", "--predict", "800 MB/s", cwd=workspace)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["predicted"] == pytest.approx(0.8) and doc["counts"] is False and doc["figure"]["unit"] == "GB/s"
    assert doc["bound"]["source"] == "class" and doc["explain"]["id"] == "lab-relu-gap"
    assert _rows(workspace, "SELECT counts FROM answer WHERE question_id = 'lab-predict' ORDER BY id")[-1] == (0,)

    # progress travels: the lab runs go with `mentor sync`
    exp = workspace.parent / "export.json"
    assert run_mentor("sync", "export", str(exp), cwd=workspace).returncode == 0
    other = workspace.parent / "other"
    assert run_mentor("init", str(other), "--yes", "--name", "T").returncode == 0
    assert run_mentor("sync", "import", str(exp), cwd=other).returncode == 0
    assert run_mentor("sync", "import", str(exp), cwd=other).returncode == 0  # twice: nothing added the second time
    assert _rows(other, "SELECT count(*), sum(measured > 0) FROM lab_run") == [(2, 2)]


def test_lab_json_needs_a_valid_prediction(workspace: Path):
    _write_relu(workspace)
    r = run_mentor("lab", "neuron", "--json", "--predict", "12 furlongs", cwd=workspace)
    assert r.returncode == 2 and "'furlongs' is not a unit this figure can be given in; answer in GB/s" in " ".join(r.stderr.split())
    r = run_mentor("lab", "neuron", "--json", cwd=workspace, input="")
    assert r.returncode == 2 and "--json needs a prediction" in r.stderr


def test_lab_reports_a_failing_measurement(workspace: Path):
    src = (REPO / "reference_impl" / "neuron.py").read_text()
    (workspace / "myllm" / "neuron.py").write_text(src.replace("return np.maximum(z, 0)", "raise ValueError('oops')"))
    r = run_mentor("lab", "neuron", "--predict", "5", cwd=workspace)
    assert r.returncode == 1 and "ValueError: oops" in r.stdout, r.stdout
    assert _rows(workspace, "SELECT status, measured FROM lab_run") == [("failed", None)]
    assert _rows(workspace, "SELECT count(*) FROM answer") == [(0,)]  # nothing measured: the prediction is not graded


# ------------------------------------------------------------------ the parts
def test_parse_prediction_accepts_units_and_prefixes():
    from mentor.labs.compare import parse_prediction

    assert parse_prediction("12", "GB/s") == (12.0, "")
    assert parse_prediction(" 12 GB/s ", "GB/s") == (12.0, "")
    assert parse_prediction("800 MB/s", "GB/s")[0] == pytest.approx(0.8)
    assert parse_prediction("1.5e1 gb/s", "GB/s") == (15.0, "")
    assert parse_prediction("0.5 us", "ns")[0] == pytest.approx(500.0)
    assert parse_prediction("2 KiB", "bytes")[0] is None  # bytes has no prefix to strip: refused, not guessed
    assert parse_prediction("2 KiB", "B")[0] == 2048
    assert parse_prediction("3 GFLOP/s", "TFLOP/s")[0] == pytest.approx(0.003)
    for bad in ("", "fast", "-3", "0", "nan", "inf"):
        assert parse_prediction(bad, "GB/s")[0] is None, bad


def test_within_factor():
    from mentor.labs.compare import within_factor

    assert within_factor(5, 10, 2) and within_factor(20, 10, 2) and within_factor(10, 10, 2)
    assert not within_factor(4.99, 10, 2) and not within_factor(20.01, 10, 2)


def test_formula_allows_arithmetic_only():
    from mentor.labs.formula import evaluate, names

    assert names("min(peak, bw * intensity) / 2") == ["peak", "bw", "intensity"]
    assert evaluate("min(peak, bw * intensity) / 2", {"peak": 100, "bw": 10, "intensity": 4}) == 20
    assert evaluate("2 ** 3 - -1", {}) == 9
    for bad in ("__import__('os')", "a.b", "x if y else z", "[1]", "open('f')", "min(x, key=y)", "1 +"):
        with pytest.raises(ValueError):
            names(bad)
    with pytest.raises(KeyError):
        evaluate("a + 1", {})


def test_bound_prefers_this_run_then_the_profile_then_the_class_figure():
    from mentor.curriculum import load_course
    from mentor.labs.compare import bound

    lab = load_course().units["neuron"].lab
    b, _ = bound(lab, {}, None)
    assert (b.value, b.source) == (20.0, "class") and "10–20 GB/s" in b.detail
    b, _ = bound(lab, {}, {"cpu_copy_gbs_1core": 13.5, "measured_at": "2026-12-04T10:00:00"})
    assert (b.value, b.source) == (13.5, "profile") and "2026-12-04" in b.detail
    b, _ = bound(lab, {"cpu_copy_gbs_1core": 11.0}, {"cpu_copy_gbs_1core": 13.5})
    assert (b.value, b.source) == (11.0, "run")
    none, why = bound(lab.model_copy(update={"bound": lab.bound.model_copy(update={"formula": "x * 2", "fallback": {}})}), {}, None)
    assert none is None and "'x' is neither measured by the lab nor in your machine profile" in why


def test_unwritten_reads_stubs_without_running_code(tmp_path: Path):
    from mentor.labs.measure import unwritten

    (tmp_path / "myllm").mkdir()
    (tmp_path / "myllm" / "m.py").write_text(
        'def f(x):\n    """doc"""\n    raise NotImplementedError\n\n'
        'def g(x):\n    return x\n\n'
        'class V:\n    def __init__(self):\n        raise NotImplementedError("write me")\n'
        '    def mul(self, o):\n        return 1\n')
    assert unwritten(tmp_path, "m", ["f", "g", "h", "V", "V.__init__", "V.mul"]) == ["f", "h", "V", "V.__init__"]
    assert unwritten(tmp_path, "missing", ["f"]) == ["f"]


def _unit_yaml_with(tmp_path: Path, edit) -> Path:
    src = REPO / "curriculum" / "p1" / "01-neuron"
    dst = tmp_path / "01-neuron"
    shutil.copytree(src, dst)
    p = dst / "unit.yaml"
    p.write_text(edit(p.read_text()))
    return dst


def test_lab_schema_errors_name_the_file_line_and_field(tmp_path: Path):
    from mentor.curriculum import load_unit
    from mentor.errors import MentorError

    folder = _unit_yaml_with(tmp_path, lambda t: t.replace("formula: cpu_copy_gbs_1core", "formula: __import__('os')"))
    with pytest.raises(MentorError) as e:
        load_unit(folder)
    assert "unit.yaml:" in e.value.message and "field 'lab.bound.formula'" in e.value.message and "is not allowed" in e.value.message

    folder = _unit_yaml_with(tmp_path / "b", lambda t: t.replace("id: lab-relu-gap", "id: flops-layer"))
    with pytest.raises(MentorError) as e:
        load_unit(folder)
    assert "question ids must be unique in a unit; repeated: flops-layer" in e.value.message

    folder = _unit_yaml_with(tmp_path / "c", lambda t: t.replace("    factor: 2\n", "    factor: 1\n"))
    with pytest.raises(MentorError) as e:
        load_unit(folder)
    assert "field 'lab.predict.factor'" in e.value.message


def test_terminal_chart_with_a_log_x_sweep_and_svg(tmp_path: Path):
    from mentor.plot import Chart, Series, terminal_chart, write_svg

    c = Chart([Series("yours", [1, 64, 4096], [0.5, 20, 80])], x_label="N", y_label="GFLOP/s", log_x=True,
              log_y=True, hlines=[("bound", 100.0)])
    text = terminal_chart(c, width=30, height=6)
    assert "4096" in text and "N (log scale)" in text and "bound = 100" in text
    svg = write_svg(c, tmp_path / "s.svg").read_text()
    assert "N (log)" in svg and "<polyline" in svg


# ------------------------------------------------------------------ /lab in a live session
def test_slash_lab_in_an_offline_session(workspace: Path):
    from mentor.curriculum import course
    from mentor.session.engine import SessionEngine
    from mentor.session.prompting import default_persona
    from mentor.workspace import find_workspace

    events: list = []
    e = SessionEngine(find_workspace(workspace), course(), minutes=60, client=None, persona=default_persona(),
                      emit=lambda k, t, d: events.append((k, t, d)))
    e.start()
    e.handle("/lab")
    assert events[-1][0] == "warn" and "relu() in myllm/neuron.py, which is not written yet" in events[-1][1]
    _write_relu(workspace)
    e.handle("/lab")
    assert any(k == "markdown" and "# Lab: ReLU at memory speed" in t for k, t, _ in events)
    assert "Type /lab followed by your prediction" in events[-1][1]
    e.handle("/lab fast")
    assert events[-1][0] == "warn" and "'fast' is not a number" in events[-1][1]
    e.present_exercise()  # past the lesson steps: no question pending, so the lab asks its explanation
    e.handle("/lab 6 GB/s")
    info = next(t for k, t, _ in reversed(events) if k == "info" and "measured achieved bandwidth of relu" in t)
    assert "bound (one-core copy bandwidth): 20 GB/s" in info and "picture saved:" in info
    assert events[-1][0] == "question" and events[-1][2]["id"] == "lab-relu-gap"
    e.handle(EXPLAIN)
    for _ in range(3):
        e.handle("y")
    assert _rows(workspace, "SELECT question_id, verdict, session_id IS NOT NULL FROM answer ORDER BY id")[-2:] == [
        ("lab-predict", "correct" if _rows(workspace, "SELECT within FROM lab_run")[0][0] else "incorrect", 1),
        ("lab-relu-gap", "self_correct", 1)]
