"""check50-style check feedback through the real `mentor` entry point: every check listed with ✓ / ✗ /
not run and a description, the first mismatch with the input there, -k, --save-inputs with a script that
reproduces the failure on the workspace's code, and progress drawing only on a terminal."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import numpy as np

from conftest import REPO, check_json, run_mentor

NEURON_REF = (REPO / "reference_impl" / "neuron.py").read_text()
RELU_GRAD_BUG = NEURON_REF.replace("(np.asarray(z) > 0)", "(np.asarray(z) >= 0)")  # relu'(0) = 1: a classic
ESC = "\x1b["


def _neuron(ws: Path, src: str) -> None:
    (ws / "myllm" / "neuron.py").write_text(src)


def test_assert_close_names_the_input_at_the_first_mismatch():
    from mentor.gate import testkit

    ctx = testkit.Context(1, "test_x", {"__unit__": object()}, lambda name: None)
    z = np.array([[0.5, 2.0], [-803.4, 1.0]])
    ctx.record_call("f", z, inputs="large |z|")
    expected, got = np.array([[0.5, 2.0], [0.0, 1.0]]), np.array([[0.5, 2.0], [np.nan, 1.0]])
    try:
        testkit.assert_close(got, expected, what="f(z)", inputs="large |z|")
    except testkit.CheckFailure as e:
        assert "at index (1, 0)" in e.message and "arg0[1, 0] = -803.4: expected 0, got nan" in e.message, e.message
        assert e.details["input_value"] == -803.4 and e.details["first_index"] == (1, 0)
    else:
        raise AssertionError("assert_close accepted a nan where 0 was expected")
    z[1, 0] = 7.0  # recorded before the call: what happens to the caller's array later changes nothing
    assert ctx.calls[-1].args[0][1, 0] == -803.4


def test_every_check_is_listed_with_a_mark_and_a_description(workspace: Path):
    _neuron(workspace, RELU_GRAD_BUG)
    r = run_mentor("check", "neuron", cwd=workspace)
    assert r.returncode == 1, r.stderr
    out = r.stdout
    assert "✓ linear with one output" in out and "✗ relu_grad: 1 where z > 0" in out
    assert "first failure: relu_grad: 1 where z > 0" in out
    assert out.index("first failure") < out.index("✓ linear with one output")  # the first failure comes first
    assert "at the first mismatch z[0, 0] = 0: expected 0, got 1" in " ".join(out.split())
    assert "input: exact zeros: relu_grad(z (3, 2) float64)" in out
    assert "test_relu_grad" not in out  # descriptions, not function names
    assert ESC not in out and ESC not in r.stderr  # piped: no colours, no spinner

    rc, js = check_json(workspace, "neuron")
    tests = {t["name"]: t for t in js["tests"]}
    t = tests["test_relu_grad"]
    assert t["status"] == "fail" and t["description"].startswith("relu_grad: 1 where z > 0")
    assert t["details"]["input_name"] == "z" and t["details"]["expected_at"] == 0.0 and t["details"]["actual_at"] == 1.0
    assert t["call"]["recordable"] and t["call"]["function"] == "relu_grad" and t["call"]["inputs"] == "exact zeros"
    assert all(x["description"] for x in js["tests"]) and "payload" not in t


def test_checks_after_a_crash_are_listed_as_not_run(workspace: Path):
    _neuron(workspace, NEURON_REF.replace("def relu(z: np.ndarray) -> np.ndarray:\n",
                                          "def relu(z: np.ndarray) -> np.ndarray:\n    import os\n    os._exit(3)\n"))
    r = run_mentor("check", "neuron", cwd=workspace)
    assert r.returncode == 1
    assert "✗ relu on every input class" in r.stdout
    assert "– tanh_grad, 1 - tanh(z)^2, on every input class  not run" in r.stdout
    assert "not run" in r.stdout and "checks: 4 passed, 1 errored, 5 not run" in r.stdout


def test_k_runs_only_the_matching_checks_and_never_counts_as_a_pass(workspace: Path):
    _neuron(workspace, NEURON_REF)
    rc, js = check_json(workspace, "neuron", "-k", "relu")
    assert rc == 0 and js["status"] == "partial" and js["selected"] == ["test_relu", "test_relu_grad"]
    ran = [t["name"] for t in js["tests"] if t["status"] == "pass"]
    assert ran == ["test_relu", "test_relu_grad"]
    assert sum(t["status"] == "not_run" for t in js["tests"]) == 8
    assert "pass `mentor check`" in js["missing"]  # the unit is not passed by a partial run
    rc, js = check_json(workspace, "neuron", "-k", "in place")  # a description matches too
    assert js["selected"] == ["test_inputs_unchanged"]
    st = json.loads(run_mentor("status", "--json", cwd=workspace).stdout)
    assert st["phases"][0]["units"][0]["state"] == "available"

    r = run_mentor("check", "neuron", "-k", "relu", cwd=workspace)
    assert "a partial run never counts as a pass" in " ".join(r.stdout.split())
    assert "8 other check(s) not run: not selected by -k" in r.stdout

    r = run_mentor("check", "neuron", "-k", "no-such-check", cwd=workspace)
    assert r.returncode == 2 and "no check of neuron matches -k 'no-such-check'" in r.stderr
    assert "test_relu_grad" in r.stderr and "Traceback" not in r.stderr


def test_save_inputs_writes_a_script_that_reproduces_the_failure(workspace: Path, tmp_path: Path):
    _neuron(workspace, RELU_GRAD_BUG)
    dest = tmp_path / "debug"
    r = run_mentor("check", "neuron", "-k", "relu_grad", "--save-inputs", str(dest), cwd=workspace)
    assert r.returncode == 1 and "inputs saved: python -i" in r.stdout, r.stdout + r.stderr
    script = dest / "repro_test_relu_grad.py"
    assert script.is_file() and (dest / "inputs_test_relu_grad" / "0_z.npy").is_file()
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 1 and "MISMATCH: 6 of 6 values differ" in run.stdout, run.stdout + run.stderr
    _neuron(workspace, NEURON_REF)  # fixed: the same script now agrees with the check
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0 and "matches what the check expected" in run.stdout, run.stdout + run.stderr

    r = run_mentor("check", "neuron", "--save-inputs", str(workspace / "myllm" / "x"), cwd=workspace)
    assert r.returncode == 2 and "inside your package myllm/" in " ".join(r.stderr.split())


def test_save_inputs_for_a_torch_unit_rebuilds_tensors(workspace: Path, tmp_path: Path):
    from mentor.mutants import reference_source

    ref = reference_source("attention")  # the answer key with its imports pointing at myllm
    for dep in ("layers", "positional"):
        (workspace / "myllm" / f"{dep}.py").write_text(reference_source(dep))
    wrong = ref.replace("/ math.sqrt(d)", "/ d")
    assert wrong != ref, "the attention reference no longer scales by math.sqrt(d): update this test"
    (workspace / "myllm" / "attention.py").write_text(wrong)
    dest = tmp_path / "dbg"
    r = run_mentor("check", "attention", "-k", "scal", "--save-inputs", str(dest), "--json", cwd=workspace)
    js = json.loads(r.stdout)
    assert r.returncode == 1 and js["status"] == "fail", r.stdout
    assert "inputs saved" in r.stderr  # with --json, stdout stays one JSON document
    scripts = sorted(dest.glob("repro_*.py"))
    assert scripts, r.stderr
    text = scripts[0].read_text()
    assert "import torch" in text and "torch.from_numpy" in text
    run = subprocess.run([sys.executable, str(scripts[0])], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 1 and "MISMATCH" in run.stdout, run.stdout + run.stderr


def _on_a_terminal(args: list[str], cwd: Path) -> tuple[int, str]:
    """Run mentor with stderr on a pseudo-terminal (stdout piped); return its rc and everything on the terminal."""
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "100", "TERM": "xterm"}
    env.pop("MENTOR_NO_PROGRESS", None)
    p = subprocess.Popen([sys.executable, "-m", "mentor.cli", *args], cwd=cwd, stdout=subprocess.PIPE,
                         stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    p.communicate()
    os.close(master)
    return p.returncode, b"".join(chunks).decode("utf-8", "replace")


def test_spinner_only_on_a_terminal(workspace: Path):
    _neuron(workspace, NEURON_REF)
    rc, term = _on_a_terminal(["check", "neuron"], workspace)
    assert rc == 0 and "checking neuron" in term and ESC in term
    r = run_mentor("check", "neuron", cwd=workspace)
    assert "checking neuron" not in r.stderr and ESC not in r.stderr + r.stdout
    r = run_mentor("doctor", cwd=workspace)
    assert ESC not in r.stderr and "checking this machine" not in r.stderr
    rc, term = _on_a_terminal(["doctor"], workspace)
    assert "checking this machine" in term


def test_dev_check_draws_a_bar_over_units_only_on_a_terminal(tmp_path: Path):
    rc, term = _on_a_terminal(["dev", "check", "neuron"], tmp_path)
    assert rc == 0 and "self-check neuron" in term and "0/1" in term
    r = run_mentor("dev", "check", "neuron", cwd=tmp_path)
    assert r.returncode == 0 and "✓ neuron" in r.stdout and "self-check" not in r.stderr and ESC not in r.stderr
