"""The sandbox survives hostile or broken learner code, names each verdict, and keeps the DB intact.

Every test that runs the gate takes `gate_mode`: it runs cold and warm (forked from the warm parent).
"""

from __future__ import annotations

import sqlite3
import textwrap
from pathlib import Path

import pytest

from conftest import check_json
from mentor.curriculum import course
from mentor.gate.runner import GateSpec, run_gate, spec_for
from warm_mode import gate_mode  # noqa: F401  (each sandbox test runs cold and warm)

REF = (Path(__file__).resolve().parent.parent / "reference_impl" / "neuron.py").read_text()


def _neuron_ws(tmp_path: Path, body: str, where: str = "linear") -> Path:
    """A workspace whose myllm/neuron.py is the reference with `body` injected at import or in linear()."""
    pkg = tmp_path / "myllm"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    code = textwrap.dedent(body)
    if where == "import":
        src = REF + "\n" + code
    else:
        inj = textwrap.indent(code, "    ")
        src = REF.replace('    assert x.ndim == 2', inj + '\n    assert x.ndim == 2', 1)
    (pkg / "neuron.py").write_text(src)
    return tmp_path


def _spec(**kw) -> GateSpec:
    u = course().unit("neuron")
    s = spec_for(u, numpy_only=True)
    for k, v in kw.items():
        setattr(s, k, v)
    return s


CASES = [
    ("infinite loop", "while True:\n    pass", "timeout", "timeout", {"time_limit_s": 3}),
    ("memory bomb", "x = []\nwhile True:\n    x.append(bytearray(50_000_000))", "fail", "memory", {}),
    ("print flood", "while True:\n    print('spam' * 1000)", "error", "output_limit", {}),
    ("sys.exit", "import sys\nsys.exit(3)", "fail", None, {}),
    ("os._exit", "import os\nos._exit(0)", "error", "exit", {}),
    ("segfault", "import ctypes\nctypes.string_at(0)", "error", "crash", {}),
    ("input()", "input('your name? ')", "fail", None, {}),
    ("sleeping child", "import subprocess\nsubprocess.Popen(['sleep', '600'])\nimport os\nos._exit(0)", "error", "exit", {}),
]


@pytest.mark.parametrize("name,body,status,verdict,limits", CASES, ids=[c[0] for c in CASES])
def test_hostile_code_in_a_function(gate_mode, tmp_path, name, body, status, verdict, limits):
    ws = _neuron_ws(tmp_path, body)
    res = run_gate(ws, _spec(**limits), seed=1)
    assert res.status == status, (res.status, res.verdict, res.message)
    assert res.verdict == verdict
    if name == "sys.exit":
        assert "sys.exit(3)" in res.first_failure().message
    if name == "input()":
        assert "input() was called" in res.first_failure().message
    if name == "segfault":
        assert "segmentation fault" in res.message
    if name == "infinite loop":
        assert "possible infinite loop" in res.message


def test_sleeping_child_is_killed(gate_mode, tmp_path):
    marker = tmp_path / "child.pid"
    ws = _neuron_ws(tmp_path, f"import subprocess\np = subprocess.Popen(['sleep', '600'])\nopen({str(marker)!r}, 'w').write(str(p.pid))")
    res = run_gate(ws, _spec(), seed=1)
    assert res.status == "pass"
    pid = int(marker.read_text())
    import os
    import time

    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the learner's child process outlived the check")


@pytest.mark.parametrize("body,verdict", [
    ("import reference_impl.neuron as r", "reference_import"),
    ("import importlib\nm = importlib.import_module('reference' + '_impl.neuron')", "reference_import"),
    ("from mentor.gate import testkit", "reference_import"),
    ("import numpy\nnumpy.abs = lambda x: 0 * x", "tampering"),
    ("import sys\nsys.modules['x'] = None", "tampering"),
    ("import torch", "numpy_only"),
])
def test_reference_import_and_tampering_refused(gate_mode, tmp_path, body, verdict):
    ws = _neuron_ws(tmp_path, body, where="import")
    res = run_gate(ws, _spec(), seed=1)
    assert res.status == "error"
    assert res.verdict == verdict, res.message


def test_dynamic_tampering_caught_at_run_time(gate_mode, tmp_path):
    # spelled so the static guard cannot see it: the runtime snapshot must
    ws = _neuron_ws(tmp_path, "import numpy\nsetattr(numpy, 'ab' + 's', lambda x: 0 * x)", where="import")
    res = run_gate(ws, _spec(), seed=1)
    assert (res.status, res.verdict) == ("error", "tampering"), res.message
    assert "numpy.abs" in res.message


def test_forged_results_on_stdout_are_ignored(gate_mode, tmp_path):
    forged = 'import json\nprint(json.dumps({"event": "done"}))\nprint("deadbeef {\\"event\\": \\"done\\"}")'
    ws = _neuron_ws(tmp_path, forged + "\nraise NotImplementedError", where="linear")
    res = run_gate(ws, _spec(), seed=1)
    assert res.status == "fail"


def test_syntax_error_names_file_and_line(gate_mode, tmp_path):
    ws = _neuron_ws(tmp_path, "def broken(:\n    pass", where="import")
    res = run_gate(ws, _spec(), seed=1)
    assert res.verdict == "syntax"
    assert "myllm/neuron.py:" in res.message


def test_every_verdict_through_the_cli_keeps_the_db_intact(workspace):
    mod = workspace / "myllm" / "neuron.py"
    bodies = ["import os\nos._exit(0)", "import ctypes\nctypes.string_at(0)", "import reference_impl", "x = = 1"]
    verdicts = []
    for body in bodies:
        mod.write_text(REF + "\n" + body + "\n")
        rc, out = check_json(workspace, "neuron")
        assert rc == 1
        verdicts.append(out["verdict"])
    assert verdicts == ["exit", "crash", "reference_import", "syntax"]
    con = sqlite3.connect(workspace / ".mentor" / "progress.db")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = con.execute("SELECT verdict FROM attempt ORDER BY id").fetchall()
    assert [r[0] for r in rows] == verdicts


def test_a_passing_test_may_return_a_note(gate_mode, tmp_path):
    ws = _neuron_ws(tmp_path / "ws", "", where="import")
    tests = tmp_path / "notes_tests.py"
    tests.write_text("def test_timed(ctx):\n    return 'cached 3.0x faster'\n\ndef test_plain(ctx):\n    pass\n")
    res = run_gate(ws, _spec(tests_path=tests), seed=1)
    assert res.status == "pass", res.message
    assert [(t.name, t.message) for t in res.tests] == [("test_timed", "cached 3.0x faster"), ("test_plain", "")]
