"""`mentor ask`: the unit's questions at the prompt. Every answer is stored as soon as it is graded."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from mentor.errors import MentorError


def _read(prompt: str, multiline: bool) -> str | None:
    """One answer from stdin (a TTY or a pipe); multi-line answers end with an empty line. None on EOF."""
    try:
        first = input(prompt)
    except EOFError:
        return None
    if not multiline:
        return first
    lines = [first]
    while lines[-1].strip():
        try:
            lines.append(input("... "))
        except EOFError:
            break
    return "\n".join(lines).strip()


def _select(unit: Any, only: str | None, include_steps: bool) -> list[Any]:
    qs = ([s.question for s in unit.steps] if include_steps else []) + list(unit.questions)
    if only is None:
        return qs
    lab = [unit.lab.explain] if getattr(unit, "lab", None) is not None else []  # asked again after `mentor lab`
    chosen = [q for q in unit.all_questions() + lab if q.id == only]
    if not chosen:
        ids = ", ".join(q.id for q in unit.all_questions())
        raise MentorError(f"unit '{unit.id}' has no question '{only}'", f"question ids: {ids}")
    return chosen


def _self_assess(q: Any) -> list[bool] | None:
    from mentor.render import console

    console.print("\n[bold]Now grade yourself honestly against the rubric[/bold] (a model answer follows):")
    console.print(Text(q.reference_answer.strip() + "\n", style="dim"))
    met = []
    for i, crit in enumerate(q.rubric, 1):
        while True:
            ans = _read(f"  {i}. {crit}\n     met? [y/n] ", multiline=False)
            if ans is None:
                return None
            if ans.strip().lower() in ("y", "yes", "n", "no"):
                met.append(ans.strip().lower().startswith("y"))
                break
            console.print("     answer y or n")
    return met


def _ask_one(engine: Any, unit: Any, q: Any, given: str | None, is_review: bool = False) -> bool | None:
    """Ask, grade, record. True/False = right and counted, or not; None = input ended."""
    from mentor.grading import answer_text, grade, option_order, self_assessment
    from mentor.lesson import question_markdown
    from mentor.progress import record_answer, record_graded, revealed_note, standing
    from mentor.render import console, markdown

    order = option_order(unit.id, q.id, standing(engine, unit.id, q.id).attempts, len(q.options)) if q.kind == "choice" else None
    console.rule(Text(f"{unit.id} · {q.id} ({q.kind})", style="bold"))
    markdown(question_markdown(q, order))
    while True:
        ans = given if given is not None else _read("> ", multiline=q.kind in ("explain", "predict"))
        if ans is None:
            return None
        g = grade(q, ans, order)
        if g.verdict != "refused":
            break
        record_answer(engine, unit.id, q.id, ans, "refused", "auto", g.feedback, is_review=is_review, option_order=order)
        console.print(Text(g.feedback, style="yellow"))
        if given is not None:
            return False
    if g.verdict == "needs_self_assessment":
        met = _self_assess(q)
        if met is None:
            record_graded(engine, unit, q, ans, "pending", "self", "input ended before self-assessment", is_review=is_review)
            return None
        g = self_assessment(q, met)
        grader = "self"
    else:
        grader = "auto"
    rec = record_graded(engine, unit, q, ans, g.verdict, grader, g.feedback, is_review=is_review,
                        option_order=order, chosen=g.chosen)
    ok = g.verdict in ("correct", "self_correct")
    console.print(Text(("✓ " if ok else "✗ ") + g.feedback, style="bold green" if ok else "bold red"))
    if not ok and rec.tries_left and not rec.revealed:
        console.print(Text(f"{rec.tries_left} more {'try' if rec.tries_left == 1 else 'tries'} before the answer is shown.", style="yellow"))
    if not ok and rec.revealed and q.kind != "explain":
        console.print(Text("The answer: ", style="bold") + Text(answer_text(q)))
    if q.explanation and (ok or rec.revealed or rec.waiting):
        console.print(Text(q.explanation.strip(), style="dim"))
    note = revealed_note(rec)
    if note:
        console.print(Text(note, style="yellow"))
    return ok and rec.counts


def ask_questions(ws: Any, course: Any, unit: Any, only: str | None = None, given: str | None = None,
                  include_answered: bool = False, include_steps: bool = False) -> None:
    from mentor.checking import sync_stubs
    from mentor.progress import refresh, waiting
    from mentor.render import console

    if given is not None and only is None:
        raise MentorError("--answer needs --question ID", f"e.g. mentor ask {unit.id} --question {unit.questions[0].id} --answer ...")
    engine = ws.engine()
    before = refresh(engine, course)
    done = before.evidence.get(unit.id)
    qs = _select(unit, only, include_steps)
    if not include_answered and only is None and done:
        qs = [q for q in qs if q.id not in done.correct]
    later = waiting(engine, unit.id, done) if only is None else {}
    if later:
        qs = [q for q in qs if q.id not in later]
        console.print(Text("Not asked now (the answer was shown): " + ", ".join(f"{q} comes back in a review on {d[:10]}"
                                                                                 for q, d in later.items()), style="dim"))
    if not qs and not later:
        console.print(f"All questions of '{unit.id}' are answered correctly. (--all asks them again)")
    right = 0
    for q in qs:
        r = _ask_one(engine, unit, q, given)
        if r is None:
            console.print("\n[dim]input ended — every answer so far is saved[/dim]")
            break
        right += bool(r)
    after = refresh(engine, course)
    st = after.states[unit.id]
    if qs:
        console.print(f"\n{right}/{len(qs)} correct this round. {unit.id}: [bold]{st.state}[/bold]")
    if st.missing and st.state != "mastered":
        console.print(Text("Left: " + "; ".join(st.missing)))
    for u in course.order:
        if before.states[u].state == "locked" and after.states[u].state == "available":
            console.print(f"[bold]Unlocked:[/bold] {u} — `mentor show {u}`")
    for line in sync_stubs(ws, course, after.states):
        console.print(Text(f"stubs added to {line}", style="dim"))


def regrade(ws: Any, course: Any, unit: Any) -> None:
    """Re-grade self-assessed `explain` answers with the LLM judge (a new answer row; the old one is kept)."""
    import json

    from sqlmodel import Session, select

    from mentor.llm.client import LLMClient
    from mentor.llm.config import active_profile
    from mentor.progress import record_answer, refresh
    from mentor.render import console
    from mentor.session.judge import judge
    from mentor.store.models import Answer

    prof = active_profile()
    if prof is None:
        raise MentorError("re-grading needs the LLM judge, and no provider is configured",
                          "connect one with `mentor config set profile deepseek` (see the README)")
    engine = ws.engine()
    explain_ids = {q.id for q in unit.all_questions() if q.kind == "explain"} | ({unit.lab.explain.id} if unit.lab else set())
    with Session(engine) as s:
        rows = s.exec(select(Answer).where(Answer.unit_id == unit.id, Answer.grader == "self").order_by(Answer.id)).all()
    latest = {r.question_id: r for r in rows if r.question_id in explain_ids}
    if not latest:
        console.print(f"No self-assessed explanations in '{unit.id}' to re-grade.")
        return
    client = LLMClient(prof)
    for qid, row in latest.items():
        g, record = judge(client, unit.question(qid), row.answer)
        record_answer(engine, unit.id, qid, row.answer, g.verdict, "llm", json.dumps(record) if record else g.feedback,
                      counts=bool(row.counts))  # written before the model answer was shown: it counts if that one did
        ok = g.verdict == "correct"
        console.print(Text("✓ " if ok else "✗ ", style="green" if ok else "red") + Text(f"{qid}: {g.feedback}"))
    st = refresh(engine, course).states[unit.id]
    console.print(f"{unit.id}: [bold]{st.state}[/bold]")
