"""`mentor doctor --measure`: the machine is measured (bandwidth, FLOP/s), stored per machine in the workspace DB,
and shown by `mentor doctor` and `mentor status`. Figures are checked for plausibility, never against a speed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from conftest import run_mentor


def test_measure_stores_the_profile_and_status_shows_it(workspace: Path):
    r = run_mentor("doctor", "--measure", "--quick", "--json", cwd=workspace)
    assert r.returncode == 0, r.stderr
    p = json.loads(r.stdout)["profile"]
    for key in ("cpu_copy_gbs_1core", "cpu_triad_gbs_1core", "cpu_triad_gbs_all", "cpu_fp32_gflops_1thread",
                "cpu_fp32_gflops_all", "cpu_ridge_flops_per_byte"):
        assert 0 < p[key] < 1e5, (key, p[key])
    assert p["stored"].startswith("stored in") and p["measured_at"]
    assert "measuring: memory bandwidth, one core" in r.stderr  # the progress line
    con = sqlite3.connect(workspace / ".mentor" / "progress.db")
    rows = con.execute("SELECT machine_key, hostname, results_json FROM machine_profile").fetchall()
    assert len(rows) == 1 and json.loads(rows[0][2])["cores"] >= 1
    r = run_mentor("status", "--json", cwd=workspace)
    machines = json.loads(r.stdout)["machines"]
    assert len(machines) == 1 and "GB/s on one core" in machines[0]["summary"]
    text = " ".join(run_mentor("status", cwd=workspace).stdout.split())
    assert "GB/s on one core" in text
    text = " ".join(run_mentor("doctor", cwd=workspace).stdout.split())
    assert "This machine, measured" in text and "memory bandwidth, one core" in text
    # a second measurement of the same machine is kept; status shows the newest once
    assert run_mentor("doctor", "--measure", "--quick", cwd=workspace).returncode == 0
    assert con.execute("SELECT count(DISTINCT machine_key), count(*) FROM machine_profile").fetchone() == (1, 2)
    assert len(json.loads(run_mentor("status", "--json", cwd=workspace).stdout)["machines"]) == 1


def test_measure_outside_a_workspace_says_it_was_not_stored(tmp_path: Path):
    r = run_mentor("doctor", "--measure", "--quick", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "not stored" in " ".join(r.stdout.split())


def test_unmeasured_machine_is_pointed_to_measure(workspace: Path):
    assert "mentor doctor --measure" in " ".join(run_mentor("doctor", cwd=workspace).stdout.split())
    assert "not measured yet" in " ".join(run_mentor("status", cwd=workspace).stdout.split())


def test_lessons_quote_the_hardware_reference_and_the_learners_machine(workspace: Path, tmp_path: Path):
    from mentor.curriculum import course
    from mentor.hardware_ref import PLACEHOLDER, resolve, unresolved
    from mentor.lesson import unit_markdown

    for uid, unit in course().units.items():
        text = (unit.folder / "unit.yaml").read_text()
        assert not unresolved(text), (uid, unresolved(text))
        assert not PLACEHOLDER.search(unit_markdown(unit)), uid  # every placeholder rendered
    assert "10–20 GB/s" in resolve("{hw:laptop8.bandwidth_gbs_1core}")
    assert "your machine: 31 GB/s" in resolve("{hw:laptop8.bandwidth_gbs_1core}", {"cpu_triad_gbs_1core": 31.2})
    before = " ".join(run_mentor("show", "neuron", "--plain", cwd=workspace).stdout.split())
    assert "10–20 GB/s" in before and "GB/s, your machine" not in before
    assert run_mentor("doctor", "--measure", "--quick", cwd=workspace).returncode == 0
    after = " ".join(run_mentor("show", "neuron", "--plain", cwd=workspace).stdout.split())
    assert "10–20 GB/s, your machine:" in after


def test_a_placeholder_that_does_not_resolve_fails_the_self_check(tmp_path: Path):
    import shutil

    from mentor import selfcheck
    from mentor.curriculum import load_course, load_unit
    from mentor.paths import curriculum_dir

    dst = tmp_path / "01-neuron"
    shutil.copytree(curriculum_dir() / "p1" / "01-neuron", dst)
    y = dst / "unit.yaml"
    y.write_text(y.read_text().replace("{hw:laptop8.bandwidth_gbs_1core}", "{hw:laptop8.bandwith_typo}", 1))
    rep = selfcheck.check_unit(load_unit(dst), load_course())
    assert any("{hw:laptop8.bandwith_typo}" in p for p in rep.problems), rep.problems


def test_every_attempt_records_the_machine_and_status_shows_where(workspace: Path):
    import socket

    from conftest import check_json

    check_json(workspace, "neuron")
    con = sqlite3.connect(workspace / ".mentor" / "progress.db")
    host, cpu = con.execute("SELECT machine_host, machine_cpu FROM attempt").fetchone()
    assert host == socket.gethostname() and cpu
    units = {u["id"]: u for p in json.loads(run_mentor("status", "--json", cwd=workspace).stdout)["phases"] for u in p["units"]}
    assert units["neuron"]["last_machine"].startswith(host)
    # the same progress seen after a check on a second machine (as if synced from the laptop)
    con.execute("UPDATE attempt SET machine_host = 'gpu-workstation', machine_gpu = 'NVIDIA RTX 4080'")
    con.commit()
    check_json(workspace, "neuron")
    text = " ".join(run_mentor("status", cwd=workspace).stdout.split())
    assert f"last fail on {host}" in text
