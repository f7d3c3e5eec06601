"""Text is shown exactly as written: every string from the curriculum (hints, answers, explanations, model
answers, check messages) goes through the real output paths to a recording console and must come out literally.
Rich markup would eat bracketed text such as `[nan, nan, nan]`, `tensor([...])` or `-[y log s + ...]`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.console import Console

from conftest import run_mentor
from mentor.curriculum import course
from mentor.workspace import find_workspace


def norm(s: str) -> str:
    return " ".join(s.split())


@pytest.fixture
def screen(monkeypatch):
    """The real console swapped for a recording one (wide, no colour): what the learner would read."""
    import mentor.render as render

    con = Console(record=True, width=400, color_system=None, highlight=False)
    monkeypatch.setattr(render, "console", con)
    return con


def test_every_hint_is_printed_literally(workspace: Path, screen):
    from mentor.hints import next_hint

    ws = find_workspace(workspace)
    for uid, unit in course().units.items():
        for _ in unit.hints:
            next_hint(ws, unit)
        out = norm(screen.export_text())
        for h in unit.hints:
            assert norm(h) in out, (uid, h)


def _wrong(q, order):
    if q.kind == "numeric":
        return str(q.answer * 3 + 12345.5)
    if q.kind == "choice":
        return q.options[(q.answer + 1) % len(q.options)]
    if q.kind == "explain":
        return "this is a deliberately unrelated answer about the weather today " * (q.min_words // 5 + 2)
    return "zz not the answer"


def test_every_answer_and_explanation_is_printed_literally(workspace: Path, screen, monkeypatch):
    """Wrong answers until the answer is shown: the answer, its explanation and (explain) the model answer
    are printed through mentor ask's real path and must come out verbatim."""
    from mentor.asking import _ask_one
    from mentor.grading import answer_text

    monkeypatch.setattr("builtins.input", lambda prompt="": "n")  # self-assessment: criteria not met
    engine = find_workspace(workspace).engine()
    for uid, unit in course().units.items():
        for q in unit.questions:
            for _ in range(3):
                _ask_one(engine, unit, q, _wrong(q, None))
            out = norm(screen.export_text())
            assert norm(answer_text(q)) in out, (uid, q.id, answer_text(q))
            if q.explanation:
                assert norm(q.explanation) in out, (uid, q.id)


_BRACKETS = re.compile(r"\[[^\]\n]{1,80}\](?!\()")


def test_bracketed_text_in_lessons_survives_the_markdown_renderer(screen):
    from mentor.lesson import unit_markdown
    from mentor.render import markdown

    for uid, unit in course().units.items():
        markdown(unit_markdown(unit))
        out = screen.export_text(clear=True)
        for s in unit.steps:
            prose = re.sub(r"\$\$.*?\$\$|\$[^$\n]+\$|`[^`\n]*`", "", s.body, flags=re.DOTALL)
            for b in _BRACKETS.findall(prose):
                assert b in out, (uid, s.title, b)


def test_check_messages_are_literal(screen):
    from mentor.gate.result import CheckResult
    from mentor.render import render_check

    r = CheckResult.from_dict({"unit": "losses", "status": "fail", "seed": 1, "duration_s": 0.1, "verdict": None,
                               "message": "1 of 2 checks failed",
                               "tests": [{"name": "test_softmax", "status": "fail", "message": "got [nan, nan] for [bold]z[/bold]",
                                          "help": "Rewrite -[y log s + (1-y) log(1-s)] in terms of z", "details": {}}],
                               "output": "tensor([nan, nan])\n", "output_truncated": False, "code_hash": "x"})

    from mentor.checking import CheckOutcome

    render_check(CheckOutcome(r, "available", "available", advice=["advice [bold]kept[/bold] literal"]),
                 course().units["losses"])
    out = screen.export_text()
    for s in ("got [nan, nan] for [bold]z[/bold]", "-[y log s + (1-y) log(1-s)]", "tensor([nan, nan])",
              "advice [bold]kept[/bold] literal"):
        assert s in out, s


def test_the_reported_cases_through_the_cli(workspace: Path):
    r = run_mentor("hint", "losses", cwd=workspace)
    r = run_mentor("hint", "losses", cwd=workspace)
    assert "-[y log s + (1-y) log(1-s)]" in norm(r.stdout), r.stdout
    for _ in range(2):
        r = run_mentor("ask", "losses", "-q", "predict-naive-softmax", "-a", "[1, 2, 3]", cwd=workspace)
    assert "[nan, nan, nan] [0.09, 0.245, 0.665]" in norm(r.stdout), r.stdout
    for _ in range(2):
        r = run_mentor("ask", "attention", "-q", "predict-naive-softmax", "-a", "tensor([0.5000, 0.5000])", cwd=workspace)
    q = course().units["attention"].question("predict-naive-softmax")
    assert norm(q.answer) in norm(r.stdout), r.stdout
