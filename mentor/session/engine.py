"""The daily session as a state machine with no terminal I/O.

Modes: review (due spaced-repetition questions) -> step (lesson step i and its micro-question)
-> exercise (implement, /check) -> questions (the unit's questions) -> the next unit, or done.
The UI feeds learner lines to `handle()` and renders the events passed to `emit(kind, text, data)`:
info, markdown, question, ok, bad, warn, delta, reasoning, reply_end, check, verify, summary, end.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from mentor.grading import Grade, grade, self_assessment
from mentor.lesson import exercise_markdown, question_markdown, step_markdown

WARN_AT_MIN = 10.0


class SessionEngine:
    def __init__(self, ws: Any, course: Any, *, minutes: int, client: Any, persona: Any,
                 emit: Callable[..., None], machine: Any = None, budget_tokens: int | None = None,
                 clock: Callable[[], float] = time.monotonic, offline_reason: str | None = None) -> None:
        self.ws, self.course, self.minutes, self.persona, self.machine = ws, course, minutes, persona, machine
        self._emit, self.clock, self.budget_tokens = emit, clock, budget_tokens
        self.client, self.offline_reason = client, offline_reason
        self.db = ws.engine()
        self.mode = "done"
        self.unit: Any = None
        self.step = 0
        self.compact = False  # a compact system prompt (no reference source) for a small context window
        self.step_passed = False
        self.pending: tuple[Any, Any, bool] | None = None  # (unit, question, is_review)
        self.order: list[int] | None = None  # the pending choice question's option order at this attempt
        self.self_assess: dict[str, Any] | None = None
        self.last_judged: dict[str, Any] | None = None  # the judge's latest "not yet", which /dispute can contest
        self.reviews: list[Any] = []
        self.last_check: Any = None
        self.last_reply = ""
        self.events: dict[str, int] = {"steps": 0, "checks": 0, "answers": 0, "correct": 0}
        self.session_id = 0
        self.channel: Any = None
        self.started = clock()
        self.warned = self.budget_warned = False
        self.finished = False
        self.snap: Any = None

    # ------------------------------------------------------------------ helpers
    def emit(self, kind: str, text: str = "", data: dict | None = None) -> None:
        self._emit(kind, text, data or {})

    def minutes_left(self) -> float:
        return self.minutes - (self.clock() - self.started) / 60

    def prompt_label(self) -> str:
        where = {"step": f"step {self.step + 1}/{len(self.unit.steps)}" if self.unit else "",
                 "review": "review", "exercise": "exercise", "questions": "questions", "done": "done"}.get(self.mode, self.mode)
        if self.self_assess:
            where = "self-assessment"
        left = max(self.minutes_left(), 0)
        return f"[{left:.0f} min left · {self.unit.id + ' · ' if self.unit else ''}{where}]"

    def _tick(self) -> None:
        left = self.minutes_left()
        if left <= WARN_AT_MIN and not self.warned:
            self.warned = True
            self.emit("warn", f"{max(left, 0):.0f} minutes left: time to wrap up the current step; /quit writes the summary.")
        ch = self.channel
        if ch and self.budget_tokens and not self.budget_warned and ch.tokens >= 0.8 * self.budget_tokens:
            self.budget_warned = True
            self.emit("warn", f"{ch.tokens} of the session's {self.budget_tokens} token budget used.")

    def end(self, reason: str) -> None:
        """Wrap up (summary, next step) — idempotent; also on Ctrl-C and lost connections."""
        from mentor.session.lifecycle import wrap_up

        wrap_up(self, reason)

    # ------------------------------------------------------------------ start
    def start(self) -> None:
        from mentor.session.lifecycle import open_session

        open_session(self)

    def _shuffle(self, unit: Any, q: Any) -> list[int] | None:
        from mentor.grading import option_order
        from mentor.progress import standing

        self.order = option_order(unit.id, q.id, standing(self.db, unit.id, q.id).attempts, len(q.options)) if q.kind == "choice" else None
        return self.order

    def present_step(self) -> None:
        self.mode, self.step_passed = "step", False
        q = self.unit.steps[self.step].question
        self.emit("markdown", step_markdown(self.unit, self.step, self._shuffle(self.unit, q)))
        self.pending = (self.unit, q, False)
        self.emit("info", "Type your answer. Start a line with ? to ask the mentor; /help lists commands.")

    def present_exercise(self) -> None:
        self.mode, self.pending = "exercise", None
        self.emit("markdown", exercise_markdown(self.unit))
        self.emit("info", f"Implement it in myllm/{self.unit.exercise.module}.py, then /check. Ask the mentor anything meanwhile.")

    def ask(self, unit: Any, q: Any, is_review: bool) -> None:
        self.pending = (unit, q, is_review)
        self.emit("question", question_markdown(q, self._shuffle(unit, q)), {"unit": unit.id, "id": q.id, "kind": q.kind, "review": is_review})

    # ------------------------------------------------------------------ input
    def handle(self, line: str) -> None:
        if self.finished:
            return
        text = line.strip()
        self._tick()
        if not text:
            if self.pending is not None and self.self_assess is None and not (self.mode == "step" and self.step_passed):
                from mentor.grading import NUDGE

                self.emit("warn", NUDGE)  # an empty line is no answer (and no try)
            return
        if text.startswith("/"):
            from mentor.session.commands import dispatch

            dispatch(self, text)
        elif self.self_assess is not None:
            self._self_assess_answer(text)
        elif text.startswith("?"):
            self.talk(text[1:].strip())
        elif self.pending is not None and not (self.mode == "step" and self.step_passed):
            self.answer(text)
        else:
            self.talk(text)

    def talk(self, text: str, note: str | None = None) -> None:
        from mentor.session.lifecycle import talk

        talk(self, text, note)

    # ------------------------------------------------------------------ answers
    def answer(self, text: str) -> None:
        from mentor.progress import record_answer

        unit, q, is_review = self.pending  # type: ignore[misc]
        if self.channel:
            self.channel._store("user", text)  # the learner's words, stored before any grading call
        g = grade(q, text, self.order)
        if g.verdict == "refused":
            record_answer(self.db, unit.id, q.id, text, "refused", "auto", g.feedback, self.session_id, is_review,
                          option_order=self.order)
            self.emit("warn", g.feedback)
            return
        if g.verdict == "needs_self_assessment":
            if self.channel and self.channel.online:
                self._judge(unit, q, text, is_review)
            else:
                self.self_assess = {"answer": text, "met": []}
                self.emit("info", "Offline: grade yourself against the rubric (y/n per criterion). A model answer:\n"
                          + q.reference_answer.strip())
                self._ask_criterion()
            return
        self._graded(unit, q, text, g, "auto", is_review, chosen=g.chosen)

    def _judge(self, unit: Any, q: Any, text: str, is_review: bool) -> None:
        import json

        from mentor.session.judge import judge

        try:
            g, record = judge(self.channel.client, q, text)
        except Exception as e:  # the judge failed: fall back to self-assessment, nothing lost
            self.emit("warn", f"the judge is unavailable ({getattr(e, 'message', e)}); grade yourself instead")
            self.self_assess = {"answer": text, "met": []}
            self._ask_criterion()
            return
        for note in record.get("rejected", []):
            self.emit("warn", note)
        rec = self._graded(unit, q, text, Grade(g.verdict, g.feedback), "llm", is_review, extra=json.dumps(record))
        self.last_judged = None
        if g.verdict != "correct":
            self.last_judged = {"unit": unit, "q": q, "text": text, "is_review": is_review, "counts": rec.counts}
            self.emit("info", "Disagree with the judge? /dispute lets you grade this answer yourself against the rubric "
                              "(recorded as self-assessed; the judge's verdict is kept too).")

    def _ask_criterion(self) -> None:
        unit, q, _ = self.pending  # type: ignore[misc]
        i = len(self.self_assess["met"])  # type: ignore[index]
        self.emit("question", f"Criterion {i + 1}/{len(q.rubric)}: {q.rubric[i]} — met? (y/n)", {"criterion": i})

    def _self_assess_answer(self, text: str) -> None:
        t = text.lower()
        if t not in ("y", "yes", "n", "no"):
            self.emit("warn", "answer y or n")
            return
        sa = self.self_assess
        sa["met"].append(t.startswith("y"))  # type: ignore[index]
        unit, q, is_review = self.pending  # type: ignore[misc]
        if len(sa["met"]) < len(q.rubric):  # type: ignore[index]
            self._ask_criterion()
            return
        self.self_assess = None
        if sa.get("dispute"):  # type: ignore[union-attr]
            self._disputed(sa)  # type: ignore[arg-type]
            return
        self._graded(unit, q, sa["answer"], self_assessment(q, sa["met"]), "self", is_review)  # type: ignore[index]

    def dispute(self) -> None:
        """/dispute: self-assess the answer the judge just graded "not yet" (the model answer is shown, as offline)."""
        d = self.last_judged
        if d is None:
            self.emit("warn", "Nothing to dispute: /dispute follows the judge's verdict on an explanation.")
            return
        self.last_judged = None
        self.self_assess = {"answer": d["text"], "met": [], "dispute": d, "pending_before": self.pending}
        self.pending = (d["unit"], d["q"], d["is_review"])
        self.emit("info", "Grade your answer yourself against the rubric (y/n per criterion); it is recorded as "
                          "self-assessed. A model answer:\n" + d["q"].reference_answer.strip())
        self._ask_criterion()

    def _disputed(self, sa: dict[str, Any]) -> None:
        from mentor.progress import record_answer, refresh

        d = sa["dispute"]
        unit, q = d["unit"], d["q"]
        g = self_assessment(q, sa["met"])
        # the answer was written before any model answer was shown: it counts exactly as the judged one did
        record_answer(self.db, unit.id, q.id, d["text"], g.verdict, "self", "disputed the judge's verdict; " + g.feedback,
                      self.session_id, d["is_review"], counts=bool(d["counts"]))
        ok = g.verdict == "self_correct"
        self.emit("ok" if ok else "bad", g.feedback + " (self-assessed; you disputed the judge)")
        self.pending = sa["pending_before"]
        self.snap = refresh(self.db, self.course)
        if ok and self.pending is not None and self.pending[1].id == q.id:
            from mentor.session.lifecycle import next_item

            self.pending = None
            next_item(self)

    def _graded(self, unit: Any, q: Any, text: str, g: Grade, grader: str, is_review: bool, extra: str = "",
                chosen: str | None = None) -> Any:
        from mentor.grading import answer_text
        from mentor.progress import record_graded, revealed_note

        rec = record_graded(self.db, unit, q, text, g.verdict, grader, extra or g.feedback, self.session_id, is_review,
                            in_step=self.mode == "step" and not is_review, option_order=self.order, chosen=chosen)
        ok = g.verdict in ("correct", "self_correct")
        self.events["answers"] += 1
        self.events["correct"] += ok and rec.counts
        self.emit("ok" if ok else "bad", g.feedback, {"explanation": q.explanation.strip() if ok else ""})
        if not ok and rec.revealed:
            shown = "" if grader == "self" else ("A model answer: " if q.kind == "explain" else "The answer: ") + answer_text(q) + "\n"
            self.emit("info", shown + q.explanation.strip())  # self-assessment showed the model answer already
        elif not ok and rec.tries_left and self.mode != "step":
            self.emit("info", f"{rec.tries_left} more {'try' if rec.tries_left == 1 else 'tries'} before the answer is shown.")
        note = revealed_note(rec)
        if note:
            self.emit("warn", note)
        if not ok and self.mode == "step" and not is_review:
            from mentor.progress import standing

            if q.kind == "choice":  # a new try, a new order
                self.emit("question", question_markdown(q, self._shuffle(unit, q)), {"unit": unit.id, "id": q.id, "kind": q.kind})
            if not (self.channel and self.channel.online) and standing(self.db, unit.id, q.id).tries >= 2:
                self.emit("info", "Stuck? /reveal shows the answer and its explanation; the step may then be passed, "
                          "the answer is recorded as revealed and the question comes back in a review.")
        from mentor.session.lifecycle import after_answer

        after_answer(self, unit, q, text, ok, is_review, moved_on=rec.revealed or rec.waiting)
        return rec
