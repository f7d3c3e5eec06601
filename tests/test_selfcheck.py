"""Every written unit proves its hidden tests: the reference passes, the starter fails as not
implemented, every mutant fails, and every predict question's answer is what its code prints."""

from __future__ import annotations

import pytest

from mentor.curriculum import load_course
from mentor.selfcheck import check_unit

COURSE = load_course()


@pytest.mark.parametrize("uid", list(COURSE.units))
def test_unit_self_check(uid):
    rep = check_unit(COURSE.units[uid], COURSE, seed=20261123)
    assert rep.ok, "\n".join(rep.problems + rep.lines)
    if rep.skipped:  # CI installs every extra (.ci/run), so there this never skips
        pytest.skip(rep.skipped)


def test_self_check_detects_a_mutant_that_passes(tmp_path, monkeypatch):
    """The self-check itself can fail: a 'mutant' identical to the reference must be reported."""
    import shutil

    from mentor import selfcheck
    from mentor.curriculum import load_unit
    from mentor.paths import curriculum_dir, reference_root

    src = curriculum_dir() / "p1" / "01-neuron"
    dst = tmp_path / "01-neuron"
    shutil.copytree(src, dst)
    shutil.copy(reference_root() / "reference_impl" / "neuron.py", dst / "mutants" / "identical.py")
    unit = load_unit(dst)
    rep = selfcheck.check_unit(unit, COURSE)
    assert any("identical.py passes" in p for p in rep.problems)


def test_a_mutant_that_no_longer_fits_the_answer_key_is_reported(tmp_path):
    import shutil

    from mentor import selfcheck
    from mentor.curriculum import load_unit
    from mentor.paths import curriculum_dir

    dst = tmp_path / "01-neuron"
    shutil.copytree(curriculum_dir() / "p1" / "01-neuron", dst)
    (dst / "mutants" / "stale.yaml").write_text("doc: stale\nreplace:\n  - old: 'return x @ w + b + 0'\n    new: 'return 0'\n")
    rep = selfcheck.check_unit(load_unit(dst), COURSE)
    assert any("stale.yaml" in p and "occurs 0 times" in p for p in rep.problems)


def test_a_mutant_with_broken_yaml_is_reported_with_file_and_line(tmp_path):
    import shutil

    from mentor import selfcheck
    from mentor.curriculum import load_unit
    from mentor.paths import curriculum_dir

    dst = tmp_path / "01-neuron"
    shutil.copytree(curriculum_dir() / "p1" / "01-neuron", dst)
    (dst / "mutants" / "broken.yaml").write_text("doc: the bug: a colon\nreplace:\n  - old: 'x'\n    new: 'y'\n")
    rep = selfcheck.check_unit(load_unit(dst), COURSE)
    assert any("broken.yaml:1" in p and "invalid YAML" in p for p in rep.problems), rep.problems


def test_a_yaml_mutant_may_edit_another_module(tmp_path):
    """`module: X` applies the edits to reference_impl/X.py and replaces myllm/X.py instead of the unit's module."""
    import shutil

    from mentor import selfcheck
    from mentor.curriculum import load_unit
    from mentor.errors import MentorError
    from mentor.mutants import mutant_module, mutant_source
    from mentor.paths import curriculum_dir

    m = tmp_path / "other.yaml"
    m.write_text("doc: d\nmodule: model\nreplace:\n  - old: 'cache.length += T'\n    new: 'pass'\n")
    assert mutant_module(m, "kv_cache") == "model"
    src = mutant_source(m, "kv_cache")
    assert "class GPT" in src and "cache.length += T" not in src
    bad = tmp_path / "bad.yaml"
    bad.write_text("doc: d\nmodule: no_such_module\nreplace:\n  - old: a\n    new: b\n")
    with pytest.raises(MentorError, match="no_such_module"):
        mutant_module(bad, "kv_cache")
    # end to end: a mutant of losses.py leaves the neuron unit's own module intact, so its hidden tests pass
    dst = tmp_path / "01-neuron"
    shutil.copytree(curriculum_dir() / "p1" / "01-neuron", dst)
    (dst / "mutants" / "elsewhere.yaml").write_text(
        "doc: edits another module\nmodule: losses\nreplace:\n  - old: 'def mse('\n    new: 'def mse_renamed('\n")
    rep = selfcheck.check_unit(load_unit(dst), COURSE)
    assert any("elsewhere.yaml passes" in p for p in rep.problems)
