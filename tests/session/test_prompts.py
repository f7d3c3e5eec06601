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
