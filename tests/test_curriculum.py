"""The curriculum format: the course matches the contract, validation names file, line and field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mentor.curriculum import load_course
from mentor.errors import MentorError
from mentor.paths import curriculum_dir

CONTRACT_ORDER = [
    "neuron", "losses", "gradient-descent", "mlp-backprop", "autograd", "train-mlp",
    "bpe-train", "bpe-tokenizer", "linear-embedding", "positional", "attention", "multihead", "norms", "ffn", "gpt", "cross-entropy",
    "norm-backward", "adamw", "schedule-clip", "kv-cache", "flash-forward", "flash-backward", "flash-triton", "mixed-precision",
    "data-pipeline", "checkpoint", "train-loop", "sampling", "sft", "dpo", "ppo", "ddp",
    "int8-quant", "int8-linear", "cpu-inference", "system-audit",
]


def test_course_lists_the_36_contract_units_in_order():
    c = load_course()
    assert c.order == CONTRACT_ORDER
    assert [p.id for p in c.spec.phases] == [1, 2, 3, 4, 5]
    assert c.spec.phases[0].numpy_only


def test_every_written_unit_is_complete():
    c = load_course()
    assert "neuron" in c.units
    for uid, u in c.units.items():
        kinds = {q.kind for q in u.questions}
        assert {"predict", "explain"} <= kinds, f"{uid} needs a predict and an explain question"
        assert len(u.questions) >= 3 and len(u.hints) >= 3 and len(u.steps) >= 4, uid
        assert len(u.mutants) >= 4, uid
        assert (u.folder.parent.name == f"p{u.phase}"), uid


@pytest.fixture
def course_copy(tmp_path: Path) -> Path:
    root = tmp_path / "curriculum"
    shutil.copytree(curriculum_dir(), root)
    return root


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_unknown_field_is_reported_with_file_line_and_field(course_copy):
    unit = course_copy / "p1" / "01-neuron" / "unit.yaml"
    _edit(unit, "estimated_minutes: 60", "estimated_minutes: 60\nestimated_minuets: 5")
    with pytest.raises(MentorError) as e:
        load_course(course_copy)
    line = unit.read_text().splitlines().index("estimated_minuets: 5") + 1
    assert f"unit.yaml:{line}" in e.value.message
    assert "estimated_minuets" in e.value.message


def test_wrong_type_in_nested_question_points_at_its_line(course_copy):
    unit = course_copy / "p1" / "01-neuron" / "unit.yaml"
    _edit(unit, "    answer: 16777216", "    answer: lots")
    with pytest.raises(MentorError) as e:
        load_course(course_copy)
    line = next(i for i, l in enumerate(unit.read_text().splitlines(), 1) if l == "    answer: lots")
    assert f"unit.yaml:{line}" in e.value.message
    assert "questions.2.answer" in e.value.message


def test_invalid_yaml_syntax_names_the_line(course_copy):
    unit = course_copy / "p1" / "01-neuron" / "unit.yaml"
    _edit(unit, "title: \"One neuron", "title: [\"One neuron")
    with pytest.raises(MentorError) as e:
        load_course(course_copy)
    assert "unit.yaml:" in e.value.message and "invalid YAML" in e.value.message


def test_too_few_hints_and_unknown_prerequisite(course_copy):
    unit = course_copy / "p1" / "01-neuron" / "unit.yaml"
    _edit(unit, "requires: []", "requires: [gpt]")
    with pytest.raises(MentorError) as e:
        load_course(course_copy)
    assert "requires" in e.value.message and "gpt" in e.value.message


def test_coming_units_are_not_checkable():
    c = load_course()
    coming = [u for u in c.order if not c.is_written(u)]
    if not coming:
        pytest.skip("every unit is written")
    with pytest.raises(MentorError, match="not written yet"):
        c.unit(coming[0])
    with pytest.raises(MentorError, match="no unit"):
        c.unit("neuronn")
