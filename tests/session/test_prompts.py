"""Prompt templates: every placeholder filled, none left over; the system prompt is stable."""

from __future__ import annotations

import re

import pytest

from mentor.curriculum import course
from mentor.errors import MentorError
from mentor.paths import prompts_dir
from mentor.session.templates import fill, placeholders


def test_every_template_has_named_placeholders_only():
    for p in prompts_dir().glob("*.md"):
        text = p.read_text()
        for name in placeholders(text):
            assert name.isidentifier(), (p.name, name)


def test_fill_rejects_missing_and_unused_values():
    with pytest.raises(MentorError, match="missing"):
        fill("a {x} b {y}", {"x": "1"})
    with pytest.raises(MentorError, match="unused"):
        fill("a {x}", {"x": "1", "z": "2"})
    assert fill("a {x} {{literal}}", {"x": "{1}"}) == "a {1} {literal}"


def test_system_prompt_is_complete_and_byte_stable(workspace):
    from mentor.session.prompting import default_persona, system_prompt
    from mentor.workspace import find_workspace

    ws = find_workspace(workspace)
    for uid, unit in course().units.items():
        a = system_prompt(ws, unit, default_persona())
        b = system_prompt(ws, unit, default_persona())
        assert a == b
        # no placeholder survived (LaTeX braces in lesson text are fine: they are values, not template fields)
        assert not re.search(r"\{(mentor_name|persona|rules|unit_context|learner_profile|hardware|reference_source)\}", a), uid
        assert unit.facts[0] in a and unit.hints[-1] in a
        assert "Never write the learner's solution" in a


def test_chat_context_for_paste_mode(workspace, mentor):
    r = mentor("prompt", cwd=workspace)
    assert r.returncode == 0
    assert "Never write the learner's solution" in r.stdout and "[context]" in r.stdout and "neuron" in r.stdout


def _learner_visible_sources(unit) -> str:
    parts = [unit.title, *unit.objectives, *unit.facts, *(m.wrong + " " + m.right for m in unit.misconceptions)]
    parts += [s.title + " " + s.body + " " + s.question.prompt for s in unit.steps]
    parts += [q.prompt for q in unit.questions] + [s.signature + " " + s.summary for s in unit.exercise.symbols]
    parts.append(unit.starter_path.read_text())
    return "\n".join(parts)


def _secrets(unit) -> list[str]:
    """What the learner must not see: model answers, step explanations, predict outputs, hints, reference lines."""
    from mentor.paths import reference_root

    visible = _learner_visible_sources(unit)
    out = []
    for q in unit.all_questions():
        if q.kind == "explain":
            out.append(q.reference_answer.strip()[:80])
        if q.kind == "predict" and len(q.answer.strip()) >= 6 and q.answer.strip() not in visible:
            out.append(q.answer.strip())
        if q.explanation.strip() and q.explanation.strip()[:60] not in visible:
            out.append(q.explanation.strip()[:60])
    out += [h[:60] for h in unit.hints if h[:60] not in visible]
    ref = (reference_root() / "reference_impl" / f"{unit.exercise.module}.py").read_text()
    out += [ln.strip() for ln in ref.splitlines()
            if len(ln.strip()) >= 25 and not ln.strip().startswith(("#", '"""')) and ln.strip() not in visible]
    return out


def test_learner_visible_context_carries_no_answer_key():
    """Bring-your-own-chat text is pasted by the learner into a chat they read: no answers, hints or reference code."""
    from mentor.session.prompting import unit_context

    for uid, unit in course().units.items():
        text = unit_context(unit, learner_visible=True)
        assert "Hidden reference answers" not in text and "Reference implementation" not in text, uid
        leaks = [s for s in _secrets(unit) if s in text]
        assert not leaks, (uid, leaks[:3])
        for q in unit.questions:  # what the learner may see does travel
            if q.kind == "explain":
                assert all(c in text for c in q.rubric), uid
        assert unit.steps[0].body.strip()[:80] in text
        # the API session keeps the hidden material in its system prompt (the learner does not see it there)
        full = unit_context(unit)
        assert "Hidden reference answers" in full and any(s in full for s in _secrets(unit)), uid


def test_mentor_prompt_export_has_no_answers(workspace):
    from conftest import run_mentor

    r = run_mentor("prompt", cwd=workspace)
    assert r.returncode == 0, r.stderr
    unit = course().units["neuron"]
    leaks = [s for s in _secrets(unit) if s in r.stdout]
    assert not leaks, leaks[:3]
    assert unit.steps[0].title in r.stdout and "def linear" in r.stdout  # the step and the learner's code
