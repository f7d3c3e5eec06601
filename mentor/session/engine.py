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


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


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
        self.warned = self.budget_warned = self.time_up = False
        self.finished = False
        self.snap: Any = None

    # ------------------------------------------------------------------ helpers
    def emit(self, kind: str, text: str = "", data: dict | None = None) -> None:
        self._emit(kind, text, data or {})

    def note(self, role: str, text: str) -> None:
        """A transcript entry (`mentor log`): a question asked, the learner's answer, a verdict."""
        if self.channel is not None:
            self.channel.note(role, text)

    def minutes_left(self) -> float:
        return self.minutes - (self.clock() - self.started) / 60

    def _where(self) -> str:
        if self.self_assess:
            return "self-assessment"
        return {"step": f"step {self.step + 1}/{len(self.unit.steps)}" if self.unit else "",
                "review": "review", "exercise": "exercise", "questions": "questions", "done": "done"}.get(self.mode, self.mode)

    def prompt_label(self, live: bool = False) -> str:
        """The prompt: where the learner is; the minutes left too, unless a live toolbar shows the time."""
        if live:
            return f"[{self._where()}]"
        left = max(self.minutes_left(), 0)
        return f"[{left:.0f} min left · {self._where()}]"

    def toolbar_text(self) -> str:
        """The bottom toolbar, redrawn every second: time left (or over), unit and step titles, tokens used."""
        secs = int(round(self.minutes_left() * 60))
        clock = f"{secs // 60}:{secs % 60:02d} left" if secs > 0 else f"time is up (+{-secs // 60}:{-secs % 60:02d}): /quit wraps up"
        parts = [clock]
        if self.unit is not None:
            parts.append(_short(self.unit.title, 44))
            if self.mode == "step" and self.step < len(self.unit.steps):
                parts.append(f"step {self.step + 1}/{len(self.unit.steps)}: {_short(self.unit.steps[self.step].title, 40)}")
            elif self.mode != "step":
                parts.append(self._where())
        elif self.mode == "review":
            parts.append("review")
        ch = self.channel
        if ch is not None and (ch.online or ch.tokens):
            parts.append(f"{ch.tokens:,} tokens" + (f" of {self.budget_tokens:,}" if self.budget_tokens else ""))
        return " " + " · ".join(parts) + " "

    def multiline_expected(self) -> bool:
        """The pending answer may span lines (predict output, an explanation)."""
        if self.pending is None or self.self_assess is not None or (self.mode == "step" and self.step_passed):
            return False
        return self.pending[1].kind in ("predict", "explain")

    def time_notices(self) -> list[tuple[str, str]]:
        """Time notices now due, each once: the 10-minute warning (only in a session planned longer than that)
        and, at 0, the offer to wrap up (the learner may go on)."""
        if self.finished:
            return []
        left, out = self.minutes_left(), []
        if self.minutes > WARN_AT_MIN and 0 < left <= WARN_AT_MIN and not self.warned:
            self.warned = True
            out.append(("warn", f"{left:.0f} minutes left: a good moment to finish the current step. /quit wraps up "
                                "with a summary."))
        if left <= 0 and not self.time_up:
            self.time_up = self.warned = True
            out.append(("warn", f"Time is up: the {self.minutes} minutes you planned are over. /quit wraps up now "
                                "(a summary, everything saved), or simply go on: the session continues until you /quit."))
        return out

    def _tick(self) -> None:
        for kind, text in self.time_notices():
            self.emit(kind, text)
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
        from mentor.session.wording import in_session

        self.mode, self.step_passed = "step", False
        s = self.unit.steps[self.step]
        order = self._shuffle(self.unit, s.question)
        self.emit("markdown", in_session(step_markdown(self.unit, self.step, order)))
        self.pending = (self.unit, s.question, False)
        self.note("question", f"{self.unit.title}, step {self.step + 1}/{len(self.unit.steps)}: {s.title}\n\n"
                  + question_markdown(s.question, order))
        self.emit("info", "Type your answer" + (" (it may span several lines)" if self.multiline_expected() else "")
                  + ". Start a line with ? to ask the mentor; /help lists commands.")

    def present_exercise(self) -> None:
        from mentor.session.wording import in_session

        self.mode, self.pending = "exercise", None
        self.emit("markdown", in_session(exercise_markdown(self.unit)))
        self.emit("info", f"Implement it in myllm/{self.unit.exercise.module}.py, then /check. Ask the mentor anything meanwhile.")

    def ask(self, unit: Any, q: Any, is_review: bool) -> None:
        from mentor.session.wording import question_label

        self.pending = (unit, q, is_review)
        md = question_markdown(q, self._shuffle(unit, q))
        where = ("Review: " if is_review else "") + f"{unit.title}, {question_label(unit, q.id)}"
        self.note("question", f"{where}\n\n{md}")
        self.emit("question", md, {"unit": unit.id, "id": q.id, "kind": q.kind, "review": is_review, "label": where})

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
            self.note("verdict", f"not graded (no try counted): {g.feedback}")
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
        text = f"Criterion {i + 1}/{len(q.rubric)}: {q.rubric[i]} — met? (y/n)"
        self.note("question", "Self-assessment. " + text)
        self.emit("question", text, {"criterion": i})

    def _self_assess_answer(self, text: str) -> None:
        t = text.lower()
        if t not in ("y", "yes", "n", "no"):
            self.emit("warn", "answer y or n")
            return
        self.note("user", text)
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
        said = ("✓ " if ok else "✗ ") + g.feedback + ("" if grader == "auto" else f" (graded by: {'you' if grader == 'self' else 'the judge'})")
        if not ok and not rec.revealed and not rec.waiting:
            from mentor.session.nudge import nudge

            hint = nudge(unit, q, chosen or text, self.step if self.mode == "step" and not is_review else None)
            if hint:
                self.emit("info", hint)
                said += "\n" + hint
        if not ok and rec.revealed:
            shown = "" if grader == "self" else ("A model answer: " if q.kind == "explain" else "The answer: ") + answer_text(q) + "\n"
            self.emit("info", shown + q.explanation.strip())  # self-assessment showed the model answer already
            said += "\n" + (shown or "The answer was shown. ") + q.explanation.strip()
        elif not ok and rec.tries_left and self.mode != "step":
            self.emit("info", f"{rec.tries_left} more {'try' if rec.tries_left == 1 else 'tries'} before the answer is shown.")
        self.note("verdict", said)
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
