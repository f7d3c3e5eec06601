"""Phase 5's two-machine rule: a pass on a GPU machine asks for a check on a CPU-only one, status shows where."""

import json
import sqlite3
from pathlib import Path

from conftest import run_mentor


def _learner_is_the_reference(ws: Path) -> None:
    from mentor.selfcheck import reference_package

    reference_package(ws)  # myllm/*.py = the answer key with its imports renamed (a learner who is done)


def _units(ws: Path) -> dict:
    r = run_mentor("status", "--json", cwd=ws)
    assert r.returncode == 0, r.stderr
    return {u["id"]: u for p in json.loads(r.stdout)["phases"] for u in p["units"]}


def test_a_phase5_pass_on_a_gpu_machine_asks_for_the_cpu_only_laptop(workspace: Path):
    _learner_is_the_reference(workspace)
    gpu = {"MENTOR_FAKE_GPU": "NVIDIA GeForce RTX 4080"}  # no GPU can run here: the machine record is faked
    r = run_mentor("check", "int8-quant", cwd=workspace, env=gpu)
    assert r.returncode == 0, r.stdout + r.stderr
    text = " ".join(r.stdout.split())
    assert "This pass ran on" in text and "NVIDIA GeForce RTX 4080" in text
    assert "mentor check int8-quant" in text and "mentor sync export" in text
    c = _units(workspace)["int8-quant"]["cpu_only_check"]
    assert c == {"done": False, "cpu_hosts": [], "gpu_hosts": [c["gpu_hosts"][0]]} and "RTX 4080" in c["gpu_hosts"][0]
    status = " ".join(run_mentor("status", cwd=workspace).stdout.split())
    assert "only: check it on the CPU-only laptop too (mentor check int8-quant there)" in status

    # the same progress, now checked on a machine without a GPU (this one)
    r = run_mentor("check", "int8-quant", "--json", cwd=workspace)
    assert r.returncode == 0, r.stderr
    assert any("CPU-only machine" in a for a in json.loads(r.stdout)["advice"])
    c = _units(workspace)["int8-quant"]["cpu_only_check"]
    assert c["done"] is True and len(c["cpu_hosts"]) == 1 and len(c["gpu_hosts"]) == 1
    assert "CPU-only check ✓ on" in run_mentor("status", cwd=workspace).stdout


def test_earlier_phases_and_failed_checks_ask_nothing(workspace: Path):
    gpu = {"MENTOR_FAKE_GPU": "NVIDIA GeForce RTX 4080"}
    r = run_mentor("check", "int8-quant", "--json", cwd=workspace, env=gpu)  # starter: not implemented
    assert r.returncode == 1 and json.loads(r.stdout)["advice"] == []
    _learner_is_the_reference(workspace)
    r = run_mentor("check", "neuron", "--json", cwd=workspace, env=gpu)
    assert r.returncode == 0 and json.loads(r.stdout)["advice"] == []
    units = _units(workspace)
    assert units["neuron"]["cpu_only_check"] is None
    assert units["int8-quant"]["cpu_only_check"] == {"done": False, "cpu_hosts": [], "gpu_hosts": []}
    con = sqlite3.connect(workspace / ".mentor" / "progress.db")
    assert con.execute("SELECT machine_gpu FROM attempt WHERE unit_id = 'neuron'").fetchone()[0] == "NVIDIA GeForce RTX 4080"
