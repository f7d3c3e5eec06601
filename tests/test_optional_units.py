"""Units that need an optional extra (flash-triton needs triton): a clear verdict when the package is
missing, a skipped (not failed) self-check, and a course that goes on without them."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from mentor.curriculum import Gate, course, load_course, load_unit
from mentor.errors import MentorError
from mentor.gate.runner import run_gate, spec_for
from mentor.mastery import UnitState, current_unit
from mentor.paths import curriculum_dir

MISSING = {"no_such_module_for_mentor_tests": "Frobnicator is not installed: pip install 'mentor[frob]'"}


def test_missing_needs_lists_only_what_is_not_importable():
    assert Gate(needs={"math": "never shown"}).missing_needs() == []
    assert Gate(needs={**MISSING, "json": "never shown"}).missing_needs() == [MISSING["no_such_module_for_mentor_tests"]]
    assert Gate(needs={"no_such_pkg.sub": "dotted"}).missing_needs() == ["dotted"]


def test_gate_names_the_missing_package_before_running_anything(tmp_path: Path):
    unit = course().unit("neuron")
    spec = spec_for(unit.model_copy(update={"gate": Gate(needs=MISSING)}), numpy_only=True)
    (tmp_path / "myllm").mkdir()  # no module at all: the install message still comes first
    res = run_gate(tmp_path, spec, seed=1)
    assert (res.status, res.verdict) == ("error", "missing_dependency")
    assert res.message == "Frobnicator is not installed: pip install 'mentor[frob]'"
    assert res.tests == []


def test_self_check_of_a_unit_whose_extra_is_missing_is_skipped_not_failed(tmp_path: Path):
    from mentor.selfcheck import check_unit

    dst = tmp_path / "01-neuron"
    shutil.copytree(curriculum_dir() / "p1" / "01-neuron", dst)
    text = (dst / "unit.yaml").read_text()
    (dst / "unit.yaml").write_text(text.replace("\ngate:\n", "\ngate:\n  needs: {no_such_module_for_mentor_tests: 'install frob'}\n", 1))
    unit = load_unit(dst)
    assert unit.gate.needs
    rep = check_unit(unit, course())
    assert rep.ok and rep.skipped == "install frob"
    assert any("skipped" in line for line in rep.lines)


def _fake_course(optional_b: bool, needs_b: dict[str, str]):
    units = {u: SimpleNamespace(optional=(u == "b" and optional_b), gate=Gate(needs=needs_b if u == "b" else {}))
             for u in ("a", "b", "c")}
    return SimpleNamespace(order=["a", "b", "c"], units=units)


@pytest.mark.parametrize("optional,needs,expected", [
    (True, MISSING, "c"),  # optional and its package is missing: the course goes on
    (True, {"math": "x"}, "b"),  # optional but installed: it is the next unit in order
    (False, MISSING, "b"),  # a required unit is never passed over
])
def test_current_unit_passes_over_optional_units_waiting_for_an_install(optional, needs, expected):
    states = {"a": UnitState("a", "proficient"), "b": UnitState("b", "available"), "c": UnitState("c", "available")}
    assert current_unit(_fake_course(optional, needs), states) == expected


def test_flash_triton_is_optional_and_no_unit_requires_it():
    c = course()
    u = c.unit("flash-triton")
    assert u.optional and "triton" in u.gate.needs and "pip install 'mentor[triton]'" in u.gate.needs["triton"]
    assert not [x.id for x in c.units.values() if "flash-triton" in x.requires]


def test_a_unit_may_not_require_an_optional_unit(tmp_path: Path):
    root = tmp_path / "curriculum"
    shutil.copytree(curriculum_dir(), root)
    path = root / "p2" / "05-attention" / "unit.yaml"  # multihead requires attention
    path.write_text(path.read_text().replace("requires: [positional]\n", "requires: [positional]\noptional: true\n", 1))
    with pytest.raises(MentorError, match="'attention' is optional, so no unit may require it"):
        load_course(root)


def test_flash_triton_without_triton_says_what_to_install(tmp_path: Path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "triton", None)  # as if it were not installed: find_spec refuses it
    u = course().unit("flash-triton")
    res = run_gate(tmp_path, spec_for(u, numpy_only=False), seed=1)
    assert res.verdict == "missing_dependency"
    assert res.message.startswith("Triton is not installed: pip install 'mentor[triton]'")
    c = SimpleNamespace(order=["flash-triton", "next"], units={"flash-triton": u, "next": SimpleNamespace(optional=False, gate=Gate())})
    states = {"flash-triton": UnitState("flash-triton", "available"), "next": UnitState("next", "available")}
    assert current_unit(c, states) == "next"
