"""`mentor interview`: an architecture review, question by question, graded and recorded.

Online (an LLM provider configured), each answer goes to the judge (mentor/session/judge.py: a
verbatim quote of the answer for every criterion, verified by the tool); when a criterion is not
shown, the interviewer asks one follow-up aimed at it and the judge grades both answers together.
Offline, or when the provider fails, the learner grades themself against the rubric after seeing
the reference answer, and the answer is recorded as self-assessed. Every answer is stored as soon
as it is graded; input ending mid-review leaves the review unfinished (nothing is lost) and it is
taken again from the start next time.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.text import Text
from sqlmodel import Session, select

from mentor.errors import MentorError
from mentor.store.models import Interview, InterviewAnswer

if TYPE_CHECKING:
    from mentor.curriculum import Course
    from mentor.interview.bank import AskedQuestion, Review
    from mentor.llm.client import LLMClient
    from mentor.workspace import Workspace

DONE = ("proficient", "mastered")


@dataclass
class Outcome:
    review: str
    passed: bool
    practice: bool
    grader: str
    results: list[tuple[str, bool]] = field(default_factory=list)
    finished: bool = True


def blocking_units(course: Course, states: dict[str, Any], r: Review) -> list[str]:
    """Units that must be proficient before the review opens (optional units never block)."""
    uids = course.order if r.after_phase == "course" else next(
        (p.units for p in course.spec.phases if p.id == r.after_phase), [])
    return [u for u in uids if u in course.units and not course.units[u].optional and states[u].state not in DONE]


def passed_reviews(engine: Any) -> dict[str, dict[str, Any]]:
    """review id -> its first counted pass (grader, when)."""
    with Session(engine) as s:
        rows = s.exec(select(Interview).where(Interview.passed == 1, Interview.practice == 0)
                      .order_by(Interview.started_at)).all()
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        out.setdefault(row.review, {"grader": row.grader, "at": row.finished_at or row.started_at})
    return out


def overview(ws: Workspace, course: Course) -> list[dict[str, Any]]:
    """Every review: open or not (and what blocks it), passed or not."""
    from mentor.interview.bank import load_bank
    from mentor.progress import refresh

    states = refresh(ws.engine(), course).states
    passed = passed_reviews(ws.engine())
    return [{"id": r.id, "title": r.title, "questions": len(r.questions), "blocked_by": blocking_units(course, states, r),
             "passed": passed.get(r.id)} for r in load_bank().reviews]


def next_review(ws: Workspace, course: Course) -> str | None:
    """The first open review not passed yet (phase order, then the final one)."""
    for r in overview(ws, course):
        if not r["blocked_by"] and not r["passed"]:
            return r["id"]
    return None


def _client(offline: bool) -> LLMClient | None:
    from mentor.llm.config import active_profile

    prof = active_profile(offline=offline)
    if prof is None:
        return None
    from mentor.llm.client import LLMClient

    return LLMClient(prof)


def _follow_up(client: LLMClient, q: AskedQuestion, answer: str, met: list[bool]) -> str | None:
    from mentor.session.templates import render

    missing = "\n".join(f"- {c}" for c, ok in zip(q.rubric, met) if not ok)
    system = render("interviewer", question=q.prompt, missing=missing)
    reply = client.stream_chat([{"role": "system", "content": system},
                                {"role": "user", "content": f"<<<ANSWER\n{answer}\nANSWER>>>"}], max_tokens=200)
    text = (reply.content or "").strip()
    return text if reply.status != "failed" and text else None


def _read_answer(prompt: str) -> str | None:
    from mentor.asking import _read

    return _read(prompt, multiline=True)


def _grade_online(client: LLMClient, q: AskedQuestion, answer: str) -> dict[str, Any] | None:
    """Judge, then one follow-up if a criterion is not shown. None when the provider fails (grade offline)."""
    from dataclasses import replace

    from mentor.render import console
    from mentor.session.judge import judge

    try:
        g, record = judge(client, q, answer)
    except MentorError as e:
        console.print(Text(f"The judge could not grade this ({e.message}); grade yourself instead.", style="yellow"))
        return None
    out = {"grader": "llm", "verdict": g.verdict, "met": record.get("met", []), "feedback": g.feedback,
           "follow_up": None, "follow_up_answer": None}
    if g.verdict == "correct" or not record.get("met"):
        return out
    try:
        fu = _follow_up(client, q, answer, record["met"])
    except MentorError:
        fu = None
    if not fu:
        return out
    console.print(Text("\nInterviewer: ", style="bold cyan") + Text(fu))
    more = _read_answer("> ")
    if not more:
        return out
    both = f"{answer}\n\n{more}"
    g2, rec2 = judge(client, replace(q, prompt=f"{q.prompt}\nFollow-up: {fu}"), both)
    out.update(verdict=g2.verdict, met=rec2.get("met", out["met"]), feedback=g2.feedback, follow_up=fu,
               follow_up_answer=more)
    return out


def _grade_self(q: AskedQuestion) -> dict[str, Any] | None:
    from mentor.asking import _self_assess
    from mentor.grading import self_assessment

    met = _self_assess(q)
    if met is None:
        return None
    g = self_assessment(q, met)
    return {"grader": "self", "verdict": g.verdict, "met": met, "feedback": g.feedback,
            "follow_up": None, "follow_up_answer": None}


def _ask(q: AskedQuestion, i: int, n: int, client: LLMClient | None) -> tuple[str, dict[str, Any]] | None:
    from mentor.grading import screen_explanation
    from mentor.render import console

    console.rule(Text(f"question {i}/{n}", style="bold"))
    console.print(Text(q.prompt))
    console.print(Text("Answer in your own words; finish with an empty line.", style="dim"))
    while True:
        answer = _read_answer("> ")
        if answer is None:
            return None
        refused = screen_explanation(q, answer)
        if refused is None:
            break
        console.print(Text(refused.feedback, style="yellow"))
    graded = _grade_online(client, q, answer) if client is not None else None
    if graded is None:
        graded = _grade_self(q)
        if graded is None:
            return None
    ok = graded["verdict"] in ("correct", "self_correct")
    console.print(Text("✓ " if ok else "✗ ", style="green" if ok else "red") + Text(graded["feedback"]))
    if client is not None and graded["grader"] == "llm":
        console.print(Text("A reference answer:\n", style="dim") + Text(q.reference_answer, style="dim"))
    return answer, graded


def run_review(ws: Workspace, course: Course, review_id: str, *, practice: bool = False, offline: bool = False) -> Outcome:
    from mentor.interview.bank import asked, review
    from mentor.interview.context import build_context
    from mentor.progress import refresh
    from mentor.render import console
    from mentor.store.db import now_iso

    r = review(review_id)
    engine = ws.engine()
    blocked = blocking_units(course, refresh(engine, course).states, r)
    if blocked and not practice:
        raise MentorError(f"the {r.id} review opens when these units are proficient: {', '.join(blocked)}",
                          f"finish them first, or take it now as practice: `mentor interview {r.id} --practice` "
                          "(recorded, never counts)")
    values = build_context(ws, course)
    client = _client(offline)
    started, grader = now_iso(), "llm" if client else "self"
    row = Interview(review=r.id, started_at=started, machine_host=socket.gethostname(), practice=int(practice),
                    grader=grader, questions=len(r.questions), context_json=json.dumps(values))
    with Session(engine) as s:
        s.add(row)
        s.commit()
        row_id = row.id
    console.print(Text(r.title, style="bold"))
    console.print(Text(f"About: {values['model.source']}. " + ("Graded by the judge, with follow-ups." if client else
                       "Offline: you grade yourself against the rubric; recorded as self-assessed."), style="dim"))
    out = Outcome(r.id, False, practice, grader)
    graders = set()
    for i, q in enumerate(r.questions, 1):
        aq = asked(q, values, _profile(ws))
        got = _ask(aq, i, len(r.questions), client)
        if got is None:
            console.print(Text("\nReview paused: your answers so far are saved. Run `mentor interview` to take it again.",
                               style="yellow"))
            out.finished = False
            return out
        answer, g = got
        graders.add(g["grader"])
        with Session(engine) as s:
            s.add(InterviewAnswer(review=r.id, interview_started_at=started, question_id=q.id, created_at=now_iso(),
                                  asked=aq.prompt, answer=answer, follow_up=g["follow_up"],
                                  follow_up_answer=g["follow_up_answer"], grader=g["grader"], verdict=g["verdict"],
                                  met_json=json.dumps(g["met"]), feedback=g["feedback"]))
            s.commit()
        out.results.append((q.id, g["verdict"] in ("correct", "self_correct")))
    out.passed = all(ok for _, ok in out.results)
    out.grader = graders.pop() if len(graders) == 1 else "mixed"
    with Session(engine) as s:
        db_row = s.get(Interview, row_id)
        db_row.finished_at, db_row.passed, db_row.grader = now_iso(), int(out.passed), out.grader
        db_row.questions_passed = sum(ok for _, ok in out.results)
        s.add(db_row)
        s.commit()
    _summary(out, len(r.questions))
    return out


def _profile(ws: Workspace) -> dict[str, Any] | None:
    from mentor.hardware import detect
    from mentor.labs.profile import latest_profiles, machine_key

    return latest_profiles(ws.engine()).get(machine_key(detect(with_torch=False)))


def _summary(out: Outcome, n: int) -> None:
    from mentor.render import console

    good = sum(ok for _, ok in out.results)
    how = {"llm": "graded by the judge", "self": "self-assessed", "mixed": "partly self-assessed"}[out.grader]
    if out.passed:
        msg = f"Review {out.review} passed ({good}/{n}, {how})"
        msg += " — practice: recorded, does not count." if out.practice else "."
        if out.review == "final" and not out.practice:
            msg += " The course is complete: `mentor status` shows it."
        console.print(Text(msg, style="bold green"))
    else:
        missed = ", question ".join(str(i) for i, (_, ok) in enumerate(out.results, 1) if not ok)
        console.print(Text(f"Review {out.review}: {good}/{n} ({how}). Not yet: question {missed}. Revisit the units "
                           "they draw on and take the review again: `mentor interview`.", style="bold yellow"))
