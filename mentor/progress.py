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
    row = Attempt(unit_id=result.unit, created_at=now_iso(), seed=result.seed, status=result.status,
                  verdict=result.verdict, message=result.message, results_json=json.dumps(result.to_dict()),
                  duration_s=result.duration_s, code_hash=result.code_hash, session_id=session_id)
    with Session(engine) as s:
        s.add(row)
        s.commit()
        return int(row.id or 0)


def record_answer(engine: Any, unit_id: str, qid: str, answer: str, verdict: str, grader: str,
                  feedback: str = "", session_id: int | None = None, is_review: bool = False) -> None:
    with Session(engine) as s:
        s.add(Answer(unit_id=unit_id, question_id=qid, created_at=now_iso(), answer=answer, verdict=verdict,
                     grader=grader, feedback=feedback, session_id=session_id, is_review=int(is_review)))
        s.commit()


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
    for ans in s.exec(select(Answer)).all():
        e = ev.setdefault(ans.unit_id, Evidence())
        if ans.verdict in CORRECT:
            e.correct.add(ans.question_id)
            if ans.is_review:
                e.review_days.add(ans.created_at[:10])
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
