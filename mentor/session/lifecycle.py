"""Session lifecycle: opening (plan, reviews, where to resume), talking, advancing, wrapping up."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from mentor.store.db import now_iso
from mentor.store.models import Session as SessionRow


def _resume_step(engine: Any, unit: Any) -> int:
    """The first step whose micro-question has no right (or revealed) answer yet (len(steps) when all are done)."""
    ev = engine.snap.evidence.get(unit.id)
    done = ev.passed if ev else set()
    return next((i for i, s in enumerate(unit.steps) if s.question.id not in done), len(unit.steps))


def _last_summary(db: Any) -> str | None:
    with Session(db) as s:
        row = s.exec(select(SessionRow).where(SessionRow.ended_at != None).order_by(SessionRow.id.desc())).first()  # noqa: E711
        if row is None:
            return None
        return (row.summary or "(no summary)") + (f"\nNext step noted: {row.next_step}" if row.next_step else "")


def _create_row(e: Any) -> int:
    ch = e.client
    with Session(e.db) as s:
        row = SessionRow(started_at=now_iso(), unit_id=e.unit.id if e.unit else None, minutes_planned=e.minutes,
                         offline=int(ch is None), mentor_name=e.persona.name, mentor_hash=e.persona.hash,
                         provider=getattr(getattr(ch, "profile", None), "name", None) if ch else None,
                         model=getattr(getattr(ch, "profile", None), "model", None) if ch else None)
        s.add(row)
        s.commit()
        return int(row.id or 0)


def open_session(e: Any) -> None:
    from mentor.mastery import current_unit
    from mentor.progress import refresh
    from mentor.reviews import due_reviews, ensure_cards
    from mentor.session.channel import MentorChannel, budget_for, estimate_tokens
    from mentor.session.prompting import system_prompt

    e.snap = refresh(e.db, e.course)
    ensure_cards(e.db, e.course, e.snap.states, {u: r.proficient_at for u, r in e.snap.rows.items() if r.proficient_at})
    e.reviews = [d for d in due_reviews(e.db) if d.unit_id in e.course.units]
    cur = current_unit(e.course, e.snap.states)
    e.unit = e.course.units[cur] if cur else None
    last = _last_summary(e.db)
    e.session_id = _create_row(e)
    online = e.client is not None and e.unit is not None
    system = system_prompt(e.ws, e.unit, e.persona, e.machine) if online else ""
    e.compact = online and estimate_tokens([{"role": "system", "content": system}]) > 0.5 * budget_for(e.client.profile)
    if e.compact:  # small context window (e.g. a local 8K server): keep the answer key, drop the reference source
        system = system_prompt(e.ws, e.unit, e.persona, e.machine, compact=True)
    e.channel = MentorChannel(e.db, e.session_id, e.client if online else None, e.persona, system, e.emit)
    plan = [f"**Today: {e.minutes} minutes.**"]
    plan.append(f"Last time: {last}" if last else "This is your first session.")
    plan.append(f"Reviews due: {len(e.reviews)}." if e.reviews else "No reviews due.")
    if e.unit:
        e.step = _resume_step(e, e.unit)
        where = f"step {e.step + 1}/{len(e.unit.steps)}" if e.step < len(e.unit.steps) else "the exercise"
        plan.append(f"Unit: **{e.unit.title}**, {where}.")
    else:
        plan.append("Every written unit is proficient — reviews only today.")
    if not e.channel.online:
        plan.append(f"Mentor: offline ({e.offline_reason or 'no provider configured'}). The lesson, the questions, /hint and "
                    "/check all work offline (a provider for the mentor is set up outside the session: README, LLM providers).")
    else:
        plan.append(f"Mentor: {e.persona.name} via {getattr(e.client.profile, 'name', '?')} / {getattr(e.client.profile, 'model', '?')}.")
    e.emit("markdown", "\n\n".join(plan))
    next_item(e)


def next_item(e: Any) -> None:
    """Present what comes next: a due review, the step, the exercise, a question, or the end."""
    if e.reviews:
        d = e.reviews[0]
        unit = e.course.units[d.unit_id]
        e.mode = "review"
        e.emit("info", f"Review ({len(e.reviews)} due): a question from {unit.title}. /skip skips the reviews.")
        e.ask(unit, unit.question(d.question_id), True)
        return
    if e.unit is None:
        e.mode, e.pending = "done", None
        e.emit("info", "Nothing left to study today. /quit ends the session.")
        return
    if e.step < len(e.unit.steps):
        e.present_step()
        return
    passed = bool(e.snap.evidence.get(e.unit.id) and e.snap.evidence[e.unit.id].passed_at)
    if not passed:
        e.present_exercise()
        return
    from mentor.progress import waiting

    ev = e.snap.evidence.get(e.unit.id)
    later = waiting(e.db, e.unit.id, ev)
    left = [q for q in e.unit.questions if (not ev or q.id not in ev.correct) and q.id not in later]
    if left:
        e.mode = "questions"
        e.ask(e.unit, left[0], False)
        return
    if later:
        e.mode, e.pending = "done", None
        from mentor.session.wording import short_label

        e.emit("info", f"{e.unit.title} is not proficient yet: " + "; ".join(f"{short_label(e.unit, q)} comes back in a review on {d[:10]}" for q, d in later.items())
               + " (the answer was shown: answer it right first time then). /quit ends the session.")
        return
    advance_unit(e)


def advance_unit(e: Any) -> None:
    from mentor.checking import sync_stubs
    from mentor.mastery import current_unit
    from mentor.progress import refresh

    e.snap = refresh(e.db, e.course)
    st = e.snap.states[e.unit.id].state
    if st in ("proficient", "mastered"):
        e.emit("ok", f"{e.unit.title} is now {st}!")
    for line in sync_stubs(e.ws, e.course, e.snap.states):
        e.emit("info", f"stubs added to {line}")
    cur = current_unit(e.course, e.snap.states)
    if cur is None or cur == e.unit.id:
        e.unit = e.course.units[cur] if cur else None
        if e.unit is None:
            e.mode, e.pending = "done", None
            e.emit("info", "Every written unit is proficient. /quit ends the session.")
            return
    else:
        e.unit = e.course.units[cur]
        e.emit("info", f"Next unit: {e.unit.title}.")
        if e.channel is not None and (e.channel.online or e.channel.parked is not None):
            from mentor.session.prompting import system_prompt

            e.channel.new_segment(system_prompt(e.ws, e.unit, e.persona, e.machine, compact=e.compact))
    e.step = _resume_step(e, e.unit)
    next_item(e)


def after_answer(e: Any, unit: Any, q: Any, text: str, ok: bool, is_review: bool, moved_on: bool = False) -> None:
    """moved_on: the answer was shown (tries used up), so the question is left for its review."""
    from mentor.progress import refresh

    e.snap = refresh(e.db, e.course)
    if is_review:
        from mentor.reviews import record_review, regular

        record_review(e.db, unit.id, q.id, ok, keep=regular(unit, q))
        e.reviews = e.reviews[1:]
        next_item(e)
        return
    if e.mode == "step":
        if ok:
            e.step_passed = True
            e.events["steps"] += 1
            last = e.step + 1 >= len(e.unit.steps)
            e.emit("info", "Step passed. /next for " + ("the exercise." if last else f"step {e.step + 2}.") + " Or ask the mentor (?...).")
        elif e.channel and e.channel.online:
            talk(e, f"My answer to the micro-question was: {text}", note=f"The learner's answer to {q.id} was graded incorrect. Nudge them toward the idea; do not give the answer.")
        return
    if e.mode == "questions":
        if ok or moved_on:
            next_item(e)
        elif e.channel and e.channel.online:
            from mentor.session.wording import question_label

            talk(e, f"My answer to {question_label(unit, q.id)} was: {text}",
                 note="Graded incorrect. Ask one question that exposes the gap; do not give the answer.")


def talk(e: Any, text: str, note: str | None = None) -> None:
    from mentor.session.guard import solution_leak
    from mentor.session.prompting import context_block

    e.channel.maybe_reconnect()
    if not e.channel.online:
        e.channel.say(text, "")
        e.emit("info", "The mentor is offline: what you wrote is kept in the transcript, but nobody answers it. "
                       "The lesson (/show), /hint and /check work.")
        return
    code = None
    mod = e.ws.module_path(e.unit.exercise.module) if e.unit else None
    if e.mode in ("exercise", "questions") and mod is not None and mod.is_file():
        code = mod.read_text(encoding="utf-8", errors="replace")
    ctx = context_block(minutes_left=e.minutes_left(), unit=e.unit, step=e.step if e.mode == "step" else None,
                        check=e.last_check, code=code, note=note) if e.unit else ""
    turn = e.channel.say(text, ctx, leak_check=(lambda reply: solution_leak(reply, e.ws, e.course, e.unit)) if e.unit else None)
    if turn is not None:
        e.last_reply = turn.content


def wrap_up(e: Any, reason: str) -> None:
    from mentor.session.templates import render

    if e.finished:
        return
    e.finished = True
    unit = e.unit
    summary, nxt = _template_summary(e)
    if e.channel and e.channel.online and len(e.channel.history) > 1 and unit is not None:
        req = render("summary", unit_id=unit.id, unit_title=unit.title, steps_done=str(e.events["steps"]),
                     checks=str(e.events["checks"]), answers=f"{e.events['correct']}/{e.events['answers']} correct")
        from mentor.session.generated import parse_summary

        got = None
        for _ in range(2):  # one retry; then the built-in summary, said plainly
            got = parse_summary(e.channel.side_request(e.channel.history + [{"role": "user", "content": req}]))
            if got is not None or not e.channel.online:
                break
        if got is not None:
            summary, nxt = got.summary, got.next_step
        else:
            e.emit("info", "The mentor's summary was not usable (no SUMMARY/NEXT, or too long): kept the built-in one.")
    with Session(e.db) as s:
        row = s.get(SessionRow, e.session_id)
        if row is not None:
            row.ended_at, row.summary, row.next_step = now_iso(), summary, nxt
            row.step_index, row.unit_id = e.step, unit.id if unit else row.unit_id
            s.add(row)
            s.commit()
    e.emit("summary", f"{summary}\n\nNext: {nxt}", {"reason": reason})
    e.emit("end", reason)


def _template_summary(e: Any) -> tuple[str, str]:
    ev = e.events
    unit = e.unit
    s = (f"Session ended ({e.minutes - max(e.minutes_left(), 0):.0f} of {e.minutes} min). Steps passed: {ev['steps']}; "
         f"checks: {ev['checks']}" + (f" (last: {e.last_check.status})" if e.last_check else "") +
         f"; answers: {ev['correct']}/{ev['answers']} correct.")
    if unit is None:
        return s, "Reviews; new units are coming."
    step = e.step + (1 if e.mode == "step" and e.step_passed else 0)
    if step < len(unit.steps):
        return s, f"{unit.title}: step {step + 1}/{len(unit.steps)} — {unit.steps[step].title}."
    from mentor.session.wording import name_questions

    return s, f"{unit.title}: " + (name_questions(unit, "; ".join(e.snap.states[unit.id].missing)) or "review")
