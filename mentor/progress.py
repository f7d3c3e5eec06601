"""Reading and writing progress: attempts, answers, hints, and unit states kept up to date."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select

from mentor.mastery import CORRECT, Evidence, UnitState, compute_states
from mentor.store.db import now_iso
from mentor.store.models import Answer, Attempt, HintUse, Profile, UnitProgress


@dataclass
class Snapshot:
    states: dict[str, UnitState]
    evidence: dict[str, Evidence]
    rows: dict[str, UnitProgress]


def ensure_profile(engine: Any, name: str) -> None:
    with Session(engine) as s:
        if s.get(Profile, 1) is None:
            s.add(Profile(id=1, name=name, created_at=now_iso()))
            s.commit()


def record_attempt(engine: Any, result: Any, session_id: int | None = None) -> int:
    import socket

    from mentor.hardware import detect

    m = detect(with_torch=False)
    row = Attempt(unit_id=result.unit, created_at=now_iso(), seed=result.seed, status=result.status,
                  verdict=result.verdict, message=result.message, results_json=json.dumps(result.to_dict()),
                  duration_s=result.duration_s, code_hash=result.code_hash, session_id=session_id,
                  machine_host=socket.gethostname(), machine_cpu=m.cpu_model, machine_gpu=m.gpu_name)
    with Session(engine) as s:
        s.add(row)
        s.commit()
        return int(row.id or 0)


def record_answer(engine: Any, unit_id: str, qid: str, answer: str, verdict: str, grader: str,
                  feedback: str = "", session_id: int | None = None, is_review: bool = False, *,
                  counts: bool | None = None, revealed: bool = False, option_order: list[int] | None = None,
                  chosen: str | None = None) -> None:
    """Store one answer row as is. `counts` defaults to: not a refusal. Graded answers go through record_graded."""
    counts = verdict != "refused" if counts is None else counts
    with Session(engine) as s:
        s.add(Answer(unit_id=unit_id, question_id=qid, created_at=now_iso(), answer=answer, verdict=verdict,
                     grader=grader, feedback=feedback, session_id=session_id, is_review=int(is_review),
                     counts=int(counts), revealed=int(revealed), chosen=chosen,
                     option_order=",".join(map(str, option_order)) if option_order is not None else None))
        s.commit()


# ------------------------------------------------------------------ tries, reveals, coming back
@dataclass
class Standing:
    """Where one question stands, from its answer rows (refusals are no tries)."""

    tries: int = 0  # honest answers since the window opened (the last counted right answer, or the comeback)
    revealed_at: str | None = None  # the answer was shown then (or found only by trial and error): it waits to come back
    attempts: int = 0  # every honest answer ever: the choice shuffle's attempt number


@dataclass
class Recorded:
    """What recording a graded answer decided."""

    counts: bool  # counts toward proficiency
    revealed: bool  # the answer is to be shown now (tries used up), or a step was passed only by trial and error
    waiting: bool  # given while an earlier reveal waits to come back: recorded only
    tries_left: int  # wrong answers still allowed before the answer is shown
    back_at: str | None = None  # when the question comes back (its review card's due time), if it waits


def _walk(rows: list[Any]) -> Standing:
    st = Standing()
    for r in rows:
        if r.verdict == "refused":
            continue
        if r.verdict != "revealed":
            st.attempts += 1
        if r.revealed:
            st.revealed_at, st.tries = r.created_at, 0
        elif st.revealed_at and not r.counts:
            continue  # given while the reveal waits
        elif r.counts and r.verdict in CORRECT:
            st.tries, st.revealed_at = 0, None
        else:
            st.tries += 1
    return st


def standing(engine: Any, unit_id: str, qid: str) -> Standing:
    with Session(engine) as s:
        rows = s.exec(select(Answer).where(Answer.unit_id == unit_id, Answer.question_id == qid).order_by(Answer.id)).all()  # type: ignore[arg-type]
        return _walk(list(rows))


def back_at(engine: Any, unit_id: str, qid: str, revealed_at: str) -> str:
    """When a revealed question comes back: its review card's due time (the next day without a card)."""
    from datetime import datetime, timedelta

    from mentor.store.models import ReviewCard

    with Session(engine) as s:
        card = s.get(ReviewCard, (unit_id, qid))
    if card is not None:
        return card.due_at
    t = datetime.fromisoformat(revealed_at) + timedelta(days=1)
    return t.replace(hour=0, minute=0, second=0).isoformat(timespec="seconds")


def waiting(engine: Any, unit_id: str, ev: Evidence | None) -> dict[str, str]:
    """Questions of a unit whose answer was shown and that are not back yet: question id -> when they come back."""
    out = {}
    for qid, at in (ev.revealed if ev else {}).items():
        back = back_at(engine, unit_id, qid, at)
        if not _later_or_equal(now_iso(), back):
            out[qid] = back
    return out


def _later_or_equal(a: str, b: str) -> bool:
    from datetime import datetime

    return datetime.fromisoformat(a) >= datetime.fromisoformat(b)


def record_graded(engine: Any, unit: Any, q: Any, answer: str, verdict: str, grader: str, feedback: str = "",
                  session_id: int | None = None, is_review: bool = False, *, in_step: bool = False,
                  option_order: list[int] | None = None, chosen: str | None = None) -> Recorded:
    """Record a graded answer, deciding whether it counts toward proficiency.

    It counts when given within the question's tries (grading.MAX_TRIES; one for a review or a
    question back after a reveal) and not while an earlier reveal waits to come back. Using up the
    tries reveals the answer (outside lesson steps, where the learner keeps trying or /reveal-s);
    a revealed question gets a review card due the next day and must then be answered right first time."""
    from mentor.grading import MAX_TRIES
    from mentor.reviews import bring_back

    st = standing(engine, unit.id, q.id)
    ok = verdict in CORRECT
    waiting = False
    if st.revealed_at is not None:
        waiting = not _later_or_equal(now_iso(), back_at(engine, unit.id, q.id, st.revealed_at))
    if waiting:
        counts, revealed, left = False, False, 0
    elif is_review:  # one fresh try; wrong, the answer is shown
        counts, revealed, left = True, not ok, 0
    else:
        budget = 1 if st.revealed_at is not None else MAX_TRIES.get(q.kind, 2)
        counts = st.tries < budget
        used = st.tries + (0 if ok else 1)
        left = max(budget - used, 0)
        if ok:
            revealed = not counts  # right only after the tries ran out (a lesson step): it comes back
        else:
            revealed = (used >= budget and not in_step) or verdict in ("self_incorrect", "pending")  # the model answer was shown
    record_answer(engine, unit.id, q.id, answer, verdict, grader, feedback, session_id, is_review, counts=counts,
                  revealed=revealed, option_order=option_order, chosen=chosen)
    back = None
    if revealed:
        bring_back(engine, unit.id, q.id)
    if revealed or waiting:
        back = back_at(engine, unit.id, q.id, st.revealed_at or now_iso())
    return Recorded(counts, revealed, waiting, left, back)


def record_reveal(engine: Any, unit: Any, q: Any, session_id: int | None = None) -> str:
    """The learner asked to see the answer (/reveal): recorded, and the question comes back; returns when."""
    from mentor.reviews import bring_back

    record_answer(engine, unit.id, q.id, "", "revealed", "auto", "the learner revealed the answer", session_id,
                  counts=False, revealed=True)
    bring_back(engine, unit.id, q.id)
    return back_at(engine, unit.id, q.id, now_iso())


def revealed_note(rec: Recorded) -> str:
    """One line on what a recorded answer means for proficiency ('' when nothing to say)."""
    day = (rec.back_at or "")[:10]
    if rec.waiting:
        return (f"Recorded, but it does not count: the answer was already shown. This question comes back in a review "
                f"on {day}; answer it right first time then.")
    if rec.revealed:
        return f"This question comes back in a review on {day}; answer it right first time then (until then answers do not count)."
    return ""


def record_hint(engine: Any, unit_id: str, level: int) -> None:
    with Session(engine) as s:
        s.add(HintUse(unit_id=unit_id, level=level, created_at=now_iso()))
        s.commit()


def hints_used(engine: Any, unit_id: str) -> int:
    with Session(engine) as s:
        levels = s.exec(select(HintUse.level).where(HintUse.unit_id == unit_id)).all()
        return max(levels, default=-1) + 1


def attempts(engine: Any, unit_id: str | None = None, limit: int = 20) -> list[Attempt]:
    with Session(engine) as s:
        q = select(Attempt).order_by(Attempt.id.desc()).limit(limit)  # type: ignore[union-attr]
        if unit_id:
            q = q.where(Attempt.unit_id == unit_id)
        return list(s.exec(q).all())


def _evidence(s: Session) -> dict[str, Evidence]:
    ev: dict[str, Evidence] = {}
    for a in s.exec(select(Attempt).order_by(Attempt.id)).all():  # type: ignore[arg-type]
        e = ev.setdefault(a.unit_id, Evidence())
        e.attempts += 1
        e.last_status = a.status
        if a.status == "pass" and not e.passed_at:
            e.passed_at = a.created_at
    by_q: dict[tuple[str, str], list[Answer]] = {}
    for ans in s.exec(select(Answer).order_by(Answer.id)).all():  # type: ignore[arg-type]
        e = ev.setdefault(ans.unit_id, Evidence())
        by_q.setdefault((ans.unit_id, ans.question_id), []).append(ans)
        if ans.verdict in CORRECT or ans.revealed:
            e.passed.add(ans.question_id)
        if ans.verdict in CORRECT and ans.counts:  # only what the learner knew: not after a reveal, not by trial and error
            e.correct.add(ans.question_id)
            if ans.is_review:
                e.review_days.add(ans.created_at[:10])
    for (uid, qid), rows in by_q.items():
        st = _walk(rows)
        if st.revealed_at:
            ev[uid].revealed[qid] = st.revealed_at
    return ev


def refresh(engine: Any, course: Any) -> Snapshot:
    """Recompute every unit's state from the evidence and store changes (timestamps kept once set)."""
    with Session(engine) as s:
        ev = _evidence(s)
        rows = {r.unit_id: r for r in s.exec(select(UnitProgress)).all()}
        prof_at = {u: r.proficient_at for u, r in rows.items() if r.proficient_at}
        states = compute_states(course, ev, prof_at)
        now = now_iso()
        for uid, st in states.items():
            if st.state == "coming":
                continue
            row = rows.get(uid) or UnitProgress(unit_id=uid)
            e = ev.get(uid, Evidence())
            row.state = st.state
            row.first_pass_at = row.first_pass_at or e.passed_at
            if st.state in ("proficient", "mastered") and not row.proficient_at:
                row.proficient_at = now
            if st.state == "mastered" and not row.mastered_at:
                row.mastered_at = now
            s.add(row)
            rows[uid] = row
        s.commit()
        for r in rows.values():
            s.refresh(r)
        s.expunge_all()
    return Snapshot(states, ev, rows)
