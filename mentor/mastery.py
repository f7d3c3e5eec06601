"""Unit states from evidence (pure functions; the store feeds them).

locked      a prerequisite is not proficient yet (evidence is still recorded and counts later)
available   prerequisites proficient; not yet proven
proficient  the hidden tests passed and every unit question has a correct answer that counts
            (auto-graded; `explain` by the judge or self-assessed against the rubric); an answer
            given after the answer was shown, or after the tries ran out, does not count
mastered    proficient, and a review answered correctly on a later day than proficiency
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

CORRECT = {"correct", "self_correct"}


@dataclass
class Evidence:
    passed_at: str | None = None  # first passing attempt (ISO time)
    correct: set[str] = field(default_factory=set)  # question ids answered correctly
    review_days: set[str] = field(default_factory=set)  # ISO dates with a correct review
    attempts: int = 0
    last_status: str | None = None
    revealed: dict[str, str] = field(default_factory=dict)  # question id -> when its answer was shown; it comes back
    passed: set[str] = field(default_factory=set)  # question ids answered right at all, or revealed (lesson steps move on)


@dataclass
class UnitState:
    unit_id: str
    state: str  # locked | available | proficient | mastered | coming
    missing: list[str] = field(default_factory=list)  # what is left for proficiency


def required_questions(unit: Any) -> list[str]:
    """The unit's questions; with a lab marked `required`, its prediction and explanation too."""
    lab = getattr(unit, "lab", None)
    return [q.id for q in unit.questions] + (lab.question_ids if lab is not None and lab.required else [])


def _day(iso: str) -> date:
    return date.fromisoformat(iso[:10])


def compute_states(course: Any, evidence: dict[str, Evidence], proficient_at: dict[str, str]) -> dict[str, UnitState]:
    """States for every unit id in course order. `proficient_at` holds first-proficient times."""
    out: dict[str, UnitState] = {}
    for uid in course.order:
        if not course.is_written(uid):
            out[uid] = UnitState(uid, "coming")
            continue
        unit = course.units[uid]
        ev = evidence.get(uid, Evidence())
        missing = []
        if not ev.passed_at:
            missing.append("pass `mentor check`")
        unanswered = [q for q in required_questions(unit) if q not in ev.correct and q not in ev.revealed]
        if unanswered:
            missing.append(f"answer {len(unanswered)} question(s): {', '.join(unanswered)}")
        waiting = [q for q in required_questions(unit) if q not in ev.correct and q in ev.revealed]
        if waiting:
            missing.append(f"answer {', '.join(waiting)} right first time when it comes back in a review (the answer was shown)")
        blocked = [r for r in unit.requires if out.get(r, UnitState(r, "locked")).state not in ("proficient", "mastered")]
        if blocked:
            out[uid] = UnitState(uid, "locked", [f"first make {', '.join(blocked)} proficient"] + missing)
        elif missing:
            out[uid] = UnitState(uid, "available", missing)
        else:
            since = proficient_at.get(uid)
            later = since and any(_day(d) > _day(since) for d in ev.review_days)
            out[uid] = UnitState(uid, "mastered" if later else "proficient",
                                 [] if later else ["a correct review on a later day makes it mastered"])
    return out


def waits_for_install(unit: Any) -> bool:
    """An optional unit whose gate needs a package that is not installed: the course goes on without it."""
    return bool(unit.optional and unit.gate.missing_needs())


def current_unit(course: Any, states: dict[str, UnitState]) -> str | None:
    """The first available unit in course order (None when everything written is proficient),
    passing over optional units that wait for a package to be installed (they stay available)."""
    return next((u for u in course.order if states[u].state == "available" and not waits_for_install(course.units[u])), None)
