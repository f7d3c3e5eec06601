"""The built wheel carries curriculum/, prompts/ and reference_impl/, and checks work from it
in a fresh virtual environment, from a workspace outside the source tree."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        pytest.fail(f"wheel build failed: {r.stderr[-2000:]}")
    return next(out.glob("mentor-*.whl"))


def test_wheel_ships_the_data(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    assert "mentor/_data/curriculum/course.yaml" in names
    assert "mentor/_data/curriculum/p1/01-neuron/hidden_tests.py" in names
    assert "reference_impl/neuron.py" in names
    assert any(n.startswith("mentor/_data/prompts/") for n in names)


def _venv_seeing_this_environment(venv: Path) -> Path:
    """A fresh venv whose dependencies come from the *running* environment's site-packages.

    `--system-site-packages` would expose the base interpreter's packages (empty on a fresh
    machine), not this venv's. A .pth file naming this environment's site dirs makes typer, torch
    etc. importable; .pth files inside those dirs (this checkout's editable install) are not
    processed, so `mentor` itself resolves to the wheel installed below."""
    import sysconfig

    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    here = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (Path(purelib) / "_parent_env.pth").write_text("".join(f"{d}\n" for d in here))
    return py


def test_check_from_an_installed_wheel(wheel: Path, tmp_path: Path):
    venv = tmp_path / "venv"
    py = _venv_seeing_this_environment(venv)
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if k not in ("MENTOR_WORKSPACE", "PYTHONPATH")}
    env["MENTOR_CACHE_DIR"] = str(tmp_path / "cache")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    where = subprocess.run([str(py), "-c", "import mentor.paths as p; print(p.curriculum_dir()); print(p.reference_root())"],
                           cwd=outside, capture_output=True, text=True, env=env, check=True).stdout.split()
    assert all(str(venv) in w for w in where), where  # the wheel's copies, not the source checkout
    mentor = str(venv / "bin" / "mentor")
    subprocess.run([mentor, "init", "ws", "--yes"], cwd=outside, env=env, check=True, capture_output=True)
    ws = outside / "ws"
    shutil.copy(REPO / "reference_impl" / "neuron.py", ws / "myllm" / "neuron.py")
    r = subprocess.run([mentor, "check", "neuron", "--json"], cwd=ws, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["status"] == "pass"
