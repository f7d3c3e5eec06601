"""Wiring for the session commands: the engine with its client and persona, the paste-able context,
reviews outside a session."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any, Callable


def build_engine(ws: Any, course: Any, *, minutes: int, offline: bool, mentor: str | None,
                 emit: Callable[..., None]) -> Any:
    from mentor.hardware import detect
    from mentor.llm.config import active_profile, load_config
    from mentor.personas import get_persona
    from mentor.session.engine import SessionEngine

    persona = get_persona(mentor)
    cfg = load_config()
    prof = active_profile(offline=offline)
    client, reason = None, "--offline" if offline else None
    if prof is not None:
        import os

        from mentor.llm.client import LLMClient

        client = LLMClient(prof, deadline_s=float(os.environ.get("MENTOR_REPLY_DEADLINE_S", "120")))
    engine = SessionEngine(ws, course, minutes=minutes, client=client, persona=persona, emit=emit,
                           machine=detect(with_torch=False), budget_tokens=cfg.budget_tokens, offline_reason=reason)
    engine.show_reasoning = cfg.show_reasoning
    engine.started -= _elapsed_s()
    return engine


def _elapsed_s() -> float:
    """MENTOR_SESSION_ELAPSED_S: start the session's clock as if that many seconds had passed (for tests and
    demos of the time notices; 0 when unset or not a number)."""
    import os

    try:
        return max(0.0, float(os.environ.get("MENTOR_SESSION_ELAPSED_S", "0")))
    except ValueError:
        return 0.0


def chat_context(ws: Any, course: Any, mentor: str | None) -> str:
    """Everything a web chat needs to act as the mentor: system prompt + the current [context]."""
    from mentor.hardware import detect
    from mentor.mastery import current_unit
    from mentor.personas import get_persona
    from mentor.progress import attempts, refresh
    from mentor.session.prompting import context_block, system_prompt

    snap = refresh(ws.engine(), course)
    cur = current_unit(course, snap.states)
    if cur is None:
        from mentor.errors import MentorError

        raise MentorError("every written unit is proficient: there is no current unit", "see `mentor status`")
    unit = course.units[cur]
    system = system_prompt(ws, unit, get_persona(mentor), detect(with_torch=False), learner_visible=True)
    last = attempts(ws.engine(), unit.id, limit=1)
    check = None
    if last:
        import json

        from mentor.gate.result import CheckResult

        check = CheckResult.from_dict(json.loads(last[0].results_json))
    ev = snap.evidence.get(unit.id)
    step = next((i for i, s in enumerate(unit.steps) if not ev or s.question.id not in ev.correct), None)
    mod = ws.module_path(unit.exercise.module)
    code = mod.read_text(encoding="utf-8", errors="replace") if mod.is_file() else None
    ctx = context_block(minutes_left=ws.session_minutes, unit=unit, step=step, check=check, code=code,
                        note="Paste-mode: the learner runs checks and questions in the mentor tool, which holds the answer key "
                             "and grades them; guide them one step at a time and never state an answer.")
    return f"{system}\n\n---\n{ctx}\n"


def copy_to_clipboard(text: str) -> str:
    for cmd in (["wl-copy"], ["xclip", "-selection", "clipboard"], ["xsel", "--clipboard", "--input"], ["pbcopy"], ["clip.exe"]):
        if shutil.which(cmd[0]):
            try:
                subprocess.run(cmd, input=text.encode(), check=True, timeout=5)
                return f"copied to the clipboard with {cmd[0]}"
            except (OSError, subprocess.SubprocessError):
                continue
    return "no clipboard tool found (wl-copy, xclip, xsel, pbcopy): select the text above instead"


def run_reviews(ws: Any, course: Any, limit: int) -> None:
    from mentor.asking import _ask_one
    from mentor.progress import refresh
    from mentor.render import console
    from mentor.reviews import due_reviews, ensure_cards, record_review, regular

    engine = ws.engine()
    snap = refresh(engine, course)
    ensure_cards(engine, course, snap.states, {u: r.proficient_at for u, r in snap.rows.items() if r.proficient_at})
    due = [d for d in due_reviews(engine, limit) if d.unit_id in course.units]
    if not due:
        console.print("No reviews due. Reviews come back a day after a unit becomes proficient.")
        return
    right = 0
    for d in due:
        unit = course.units[d.unit_id]
        ok = _ask_one(engine, unit, unit.question(d.question_id), None, is_review=True)
        if ok is None:
            console.print("[dim]input ended — answers so far are saved[/dim]")
            break
        record_review(engine, d.unit_id, d.question_id, ok, keep=regular(unit, unit.question(d.question_id)))
        right += ok
    after = refresh(engine, course)
    console.print(f"\n{right}/{len(due)} reviews correct.")
    for u in course.order:
        if after.states[u].state == "mastered" and snap.states[u].state != "mastered":
            console.print(f"[bold magenta]{u} is now mastered.[/bold magenta]")
