"""Spaced-repetition reviews of proficient units' questions, scheduled with FSRS (the `fsrs` package).

A unit's review questions get a card when it becomes proficient, first due a day later. A correct
review is rated Good, a wrong one Again (it comes back sooner). A correct review on a later day
than proficiency makes the unit mastered (mentor/mastery.py). A question whose answer was shown
(tries used up, /reveal, a wrong review) gets a card due the next day, whatever its unit's state:
that review is where it must be answered right first time (mentor/progress.py record_graded).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from mentor.store.db import now
from mentor.store.models import ReviewCard


@dataclass
class Due:
    unit_id: str
    question_id: str
    due_at: str


def _scheduler() -> Any:
    from fsrs import Scheduler

    return Scheduler(learning_steps=(), relearning_steps=(), enable_fuzzing=False)


def ensure_cards(engine: Any, course: Any, states: dict[str, Any], proficient_at: dict[str, str]) -> int:
    """Create the missing cards of every proficient unit; returns how many were made."""
    made = 0
    with Session(engine) as s:
        have = {(c.unit_id, c.question_id) for c in s.exec(select(ReviewCard)).all()}
        for uid, st in states.items():
            if st.state not in ("proficient", "mastered") or uid not in course.units:
                continue
            start = datetime.fromisoformat(proficient_at.get(uid) or now().isoformat())
            due = (start + timedelta(days=1)).replace(hour=0, minute=0, second=0).isoformat(timespec="seconds")
            for q in course.units[uid].questions:
                if q.review and (uid, q.id) not in have:
                    s.add(ReviewCard(unit_id=uid, question_id=q.id, due_at=due))
                    made += 1
        s.commit()
    return made


def bring_back(engine: Any, unit_id: str, question_id: str) -> str:
    """A revealed question comes back: its card (made if missing, any unit state) is due at the start of
    the next day. A review that follows may reschedule it (FSRS Again: a day or more). Returns the due time."""
    t = now() + timedelta(days=1)
    due = t.replace(hour=0, minute=0, second=0, microsecond=0).isoformat(timespec="seconds")
    with Session(engine) as s:
        row = s.get(ReviewCard, (unit_id, question_id))
        if row is None:
            row = ReviewCard(unit_id=unit_id, question_id=question_id, due_at=due)
        else:
            row.due_at = due
        s.add(row)
        s.commit()
    return due


def regular(unit: Any, q: Any) -> bool:
    """A regular review question: one of the unit's questions with review: true (not a lesson step's)."""
    return bool(q.review) and any(x.id == q.id for x in unit.questions)


def due_reviews(engine: Any, limit: int = 5) -> list[Due]:
    t = now().isoformat(timespec="seconds")
    with Session(engine) as s:
        rows = s.exec(select(ReviewCard).where(ReviewCard.due_at <= t).order_by(ReviewCard.due_at).limit(limit)).all()
        return [Due(r.unit_id, r.question_id, r.due_at) for r in rows]


def record_review(engine: Any, unit_id: str, question_id: str, correct: bool, keep: bool = True) -> str:
    """Reschedule a card after a review; returns the new due time (ISO). keep=False: a question that is
    no regular review (a lesson step's, or review: false) came back only after a reveal; right, it is done."""
    from fsrs import Card, Rating

    with Session(engine) as s:
        row = s.get(ReviewCard, (unit_id, question_id))
        if row is None:
            return ""
        if correct and not keep:
            s.delete(row)
            s.commit()
            return ""
        state = json.loads(row.state_json or "{}")
        card = Card.from_dict(state) if state else Card()
        card, _ = _scheduler().review_card(card, Rating.Good if correct else Rating.Again, review_datetime=now())
        row.state_json = json.dumps(card.to_dict())
        row.due_at = card.due.isoformat(timespec="seconds")
        row.reps += 1
        row.lapses += 0 if correct else 1
        row.last_review_at = now().isoformat(timespec="seconds")
        s.add(row)
        s.commit()
        return row.due_at
