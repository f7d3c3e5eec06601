"""Workspaces: create, repair without overwriting, find, and add stubs without touching learner code."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import check_json, run_mentor
from mentor.errors import MentorError
from mentor.stubs import add_stubs


def test_init_creates_the_contract_layout(workspace: Path):
    for p in ("mentor.toml", ".mentor/progress.db", "myllm/__init__.py", "myllm/neuron.py", "data"):
        assert (workspace / p).exists(), p
    assert 'name = "Test Learner"' in (workspace / "mentor.toml").read_text()
    assert "raise NotImplementedError" in (workspace / "myllm" / "neuron.py").read_text()
    assert not (workspace / "myllm" / "losses.py").exists()  # locked units get no stubs yet


def test_rerun_repairs_and_overwrites_nothing(workspace: Path):
    mod = workspace / "myllm" / "neuron.py"
    mod.write_text("# my own work\n")
    (workspace / "mentor.toml").write_text((workspace / "mentor.toml").read_text() + "\n# my note\n")
    (workspace / "data").rmdir()
    r = run_mentor("init", str(workspace), "--yes")
    assert r.returncode == 0, r.stderr
    assert (workspace / "data").is_dir()
    assert mod.read_text().startswith("# my own work\n")  # learner text kept; missing names appended
    assert "def linear" in mod.read_text()
    assert "# my note" in (workspace / "mentor.toml").read_text()
    r = run_mentor("init", str(workspace), "--yes")
    assert "nothing to do" in r.stdout


def test_found_from_a_subfolder_flag_and_env(workspace: Path, tmp_path: Path):
    sub = workspace / "myllm"
    assert run_mentor("status", cwd=sub).returncode == 0
    assert run_mentor("-w", str(workspace), "status", cwd=tmp_path).returncode == 0
    assert run_mentor("status", cwd=tmp_path, env={"MENTOR_WORKSPACE": str(workspace)}).returncode == 0


def test_outside_a_workspace_says_how_to_make_one(tmp_path: Path):
    r = run_mentor("status", cwd=tmp_path)
    assert r.returncode == 2
    assert "not inside a mentor workspace" in r.stderr and "mentor init" in r.stderr
    assert "Traceback" not in r.stderr
    r = run_mentor("-w", str(tmp_path / "nope"), "check", cwd=tmp_path)
    assert r.returncode == 2 and "is not a mentor workspace" in r.stderr


def test_stubs_only_add_missing_names(tmp_path: Path):
    starter = tmp_path / "starter.py"
    starter.write_text('import numpy as np\n\n\ndef a(x):\n    """doc"""\n    raise NotImplementedError\n\n\n'
                       'def b(x):\n    raise NotImplementedError\n\n\nclass C:\n    pass\n')
    mod = tmp_path / "myllm" / "m.py"
    mod.parent.mkdir()
    learner = "import numpy as np\n\n\ndef a(x):\n    return x  # mine, edited\n"
    mod.write_text(learner)
    assert add_stubs(mod, starter, "u") == ["C", "b"]
    text = mod.read_text()
    assert text.startswith(learner)
    assert text.count("def a(") == 1 and "def b(" in text and "class C" in text
    assert add_stubs(mod, starter, "u") == []  # idempotent
    compile(text, "m.py", "exec")


def test_stubs_refuse_to_touch_a_module_that_does_not_parse(tmp_path: Path):
    starter = tmp_path / "starter.py"
    starter.write_text("def a():\n    raise NotImplementedError\n")
    mod = tmp_path / "m.py"
    mod.write_text("def broken(:\n")
    with pytest.raises(MentorError, match=r"m.py:1: syntax error"):
        add_stubs(mod, starter, "u")
    assert mod.read_text() == "def broken(:\n"


def test_bad_mentor_toml_is_a_clear_error(workspace: Path):
    (workspace / "mentor.toml").write_text("[learner\nname = 1\n")
    r = run_mentor("status", cwd=workspace)
    assert r.returncode == 2 and "invalid TOML" in r.stderr and "Traceback" not in r.stderr


def test_init_where_it_cannot_write_is_a_clear_error(tmp_path: Path):
    locked = tmp_path / "file"
    locked.write_text("x")
    r = run_mentor("init", str(locked / "ws"), "--yes")
    assert r.returncode == 2 and "cannot create the workspace" in r.stderr and "Traceback" not in r.stderr
    r = run_mentor("init", str(locked), "--yes")
    assert r.returncode == 2 and "is not a directory" in r.stderr
    assert locked.read_text() == "x"


def test_reset_restores_one_units_stubs_and_keeps_a_backup(workspace: Path):
    from conftest import REPO

    mod = workspace / "myllm" / "neuron.py"
    mine = (REPO / "reference_impl" / "neuron.py").read_text() + "\n\nMY_CONSTANT = 3\n"
    mod.write_text(mine)
    r = run_mentor("reset", "neuron", cwd=workspace)
    assert r.returncode == 0, r.stderr
    backups = list((workspace / ".mentor" / "backups").rglob("neuron.py"))
    assert len(backups) == 1 and backups[0].read_text() == mine  # nothing lost
    assert str(backups[0]) in " ".join(r.stdout.split()).replace(" ", "") or backups[0].name in r.stdout
    now = mod.read_text()
    assert "MY_CONSTANT = 3" in now and "import numpy as np" in now  # what is not the unit's stays
    assert "raise NotImplementedError" in now and now.count("def linear(") == 1
    code, res = check_json(workspace, "neuron")
    assert res["verdict"] == "not_implemented"


def test_reset_of_a_module_that_does_not_parse_backs_it_up_and_rewrites(workspace: Path):
    mod = workspace / "myllm" / "neuron.py"
    mod.write_text("def linear(x, w, b:\n    return 1\n")
    r = run_mentor("reset", "neuron", "--yes", cwd=workspace)
    assert r.returncode == 0, r.stderr
    assert "did not parse" in " ".join(r.stdout.split())
    assert [p.read_text() for p in (workspace / ".mentor" / "backups").rglob("neuron.py")] == ["def linear(x, w, b:\n    return 1\n"]
    assert "raise NotImplementedError" in mod.read_text()
