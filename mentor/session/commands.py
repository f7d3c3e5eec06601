"""In-session slash commands."""

from __future__ import annotations

from typing import Any

HELP = """\
/check    run the hidden tests on your code (the mentor sees the result)
/hint     the next hint of the unit's ladder
/show     the current step again (/show all: the whole lesson; /show --html: a web page with typeset math)
/status   where you are in the course
/lab      the unit's lab: predict a figure of your code, measure it, explain the gap (/lab 12 GB/s)
/verify   run the Python code of the mentor's last reply in the sandbox and show what it prints
/next     go to the next step (once the current step's question is answered)
/reveal   stuck on a step's question after two honest tries: show the answer and its explanation
          (the step may then be passed; recorded as revealed, it comes back in a review)
/dispute  grade your last explanation yourself when you disagree with the judge (recorded as self-assessed)
/skip     skip the remaining reviews
/quit     end the session with a summary (Ctrl-C at the prompt and Ctrl-D do the same;
          Ctrl-C during /check or a reply cancels just that)
/help     this list
Plain text answers the pending question; start with ? to ask the mentor instead.
Predict and explain answers may span lines: end them with a line holding only . (or Esc, then Enter).
The arrow keys recall earlier lines (kept per workspace); the bar at the bottom shows the time left."""


def dispatch(e: Any, text: str) -> None:
    cmd, _, arg = text[1:].partition(" ")
    fn = COMMANDS.get(cmd.lower())
    if fn is None:
        e.emit("warn", f"unknown command /{cmd}; /help lists them")
        return
    fn(e, arg.strip())


def _check(e: Any, arg: str) -> None:
    from mentor.checking import CheckCancelled, run_check

    if e.unit is None:
        e.emit("warn", "no current unit to check")
        return
    e.emit("info", f"checking {e.unit.title} ... (Ctrl-C cancels the check)")
    try:
        outcome = run_check(e.ws, e.course, e.unit, session_id=e.session_id)
    except CheckCancelled:
        e.emit("warn", "check cancelled: the sandbox was stopped and nothing was recorded")
        return
    e.last_check = outcome.result
    e.events["checks"] += 1
    e.emit("check", "", {"outcome": outcome, "unit": e.unit})
    if outcome.result.passed:
        from mentor.progress import refresh
        from mentor.session.lifecycle import next_item

        e.snap = refresh(e.db, e.course)
        if e.mode in ("exercise", "questions", "done"):
            next_item(e)
    elif e.channel and e.channel.online:
        e.talk("I ran /check.", note="The check above failed. Ask one diagnostic question about the first failure; do not write the fix.")


def _hint(e: Any, arg: str) -> None:
    from mentor.hints import take_hint

    if e.unit is None:
        return
    level, total, text = take_hint(e.db, e.unit)
    if text is None:
        e.emit("info", f"All {total} hints are out:\n" + "\n".join(f"{i}. {h}" for i, h in enumerate(e.unit.hints, 1)))
    else:
        e.emit("info", f"Hint {level}/{total}: {text}")


def _show(e: Any, arg: str) -> None:
    from mentor.lesson import exercise_markdown, step_markdown, unit_markdown

    if e.unit is None:
        return
    if arg == "--html":
        from mentor.lesson_files import can_open_browser, open_in_browser, write_page

        path = write_page(e.ws, e.course, e.unit, unit_markdown(e.unit))
        opened = can_open_browser() and open_in_browser(path)
        e.emit("info", f"The lesson page: {path}" + (" (opened in your browser)" if opened else " (open it in a browser)"))
    elif arg == "all":
        e.emit("markdown", unit_markdown(e.unit))
    elif e.mode == "step":
        e.emit("markdown", step_markdown(e.unit, e.step, e.order))  # the options in the order being answered
    else:
        e.emit("markdown", exercise_markdown(e.unit))


def _status(e: Any, arg: str) -> None:
    from mentor.progress import refresh

    e.snap = refresh(e.db, e.course)
    phase = e.course.phase_of(e.unit.id) if e.unit else e.course.spec.phases[0]
    from mentor.session.wording import name_questions

    lines = [f"Phase {phase.id}: {phase.title}"]
    for uid in phase.units:
        st = e.snap.states[uid]
        u = e.course.units.get(uid)
        left = name_questions(u, "; ".join(st.missing)) if u is not None and st.state == "available" and st.missing else ""
        lines.append(f"  {st.state:<11} {u.title if u else uid + ' (coming)'}" + (f" — {left}" if left else ""))
    e.emit("info", "\n".join(lines))


def _verify(e: Any, arg: str) -> None:
    from mentor.session.guard import verify_reply

    if not e.last_reply:
        e.emit("warn", "no mentor reply to verify yet")
        return
    results = verify_reply(e.last_reply, e.ws.root)
    if not results:
        e.emit("info", "the last reply has no runnable Python code block")
        return
    for block, res in results:
        e.emit("verify", res.output, {"code": block.code, "ok": res.ok, "timed_out": res.timed_out, "rc": res.returncode})


def _next(e: Any, arg: str) -> None:
    from mentor.session.lifecycle import next_item

    if e.mode != "step":
        e.emit("warn", "/next moves between lesson steps; you are past them (/check, or answer the question)")
        return
    if not e.step_passed:
        e.emit("warn", "answer this step's question first (a correct answer unlocks /next)")
        return
    e.step += 1
    next_item(e)


def _reveal(e: Any, arg: str) -> None:
    """Stuck on a lesson step's question after two honest tries: show the answer; the step may be passed."""
    from mentor.grading import answer_text
    from mentor.progress import record_reveal, standing

    if e.mode != "step" or e.pending is None or e.step_passed:
        e.emit("warn", "/reveal shows the answer to the current lesson step's question, before it is answered")
        return
    unit, q, _ = e.pending
    tries = standing(e.db, unit.id, q.id).tries
    if tries < 2:
        e.emit("warn", f"Try it yourself first: /reveal opens after two honest tries ({tries} so far; "
               "acknowledgements like 'ok' are no tries).")
        return
    back = record_reveal(e.db, unit, q, e.session_id)
    e.emit("info", ("A model answer: " if q.kind == "explain" else "The answer: ") + f"{answer_text(q)}\n" + q.explanation.strip())
    e.step_passed = True
    e.events["steps"] += 1
    last = e.step + 1 >= len(e.unit.steps)
    e.emit("info", f"Step passed with the answer revealed: recorded as revealed; the question comes back in a review on {back[:10]}. "
           "/next for " + ("the exercise." if last else f"step {e.step + 2}."))


def _skip(e: Any, arg: str) -> None:
    from mentor.session.lifecycle import next_item

    if e.mode != "review":
        e.emit("warn", "no reviews pending")
        return
    e.reviews = []
    next_item(e)


def _quit(e: Any, arg: str) -> None:
    from mentor.session.lifecycle import wrap_up

    wrap_up(e, "quit")


def _dispute(e: Any, arg: str) -> None:
    e.dispute()


def _lab(e: Any, arg: str) -> None:
    from mentor.labs.session import lab_command

    lab_command(e, arg)


def _help(e: Any, arg: str) -> None:
    e.emit("info", HELP)


COMMANDS = {"check": _check, "hint": _hint, "show": _show, "status": _status, "verify": _verify, "next": _next,
            "skip": _skip, "reveal": _reveal, "dispute": _dispute, "lab": _lab, "quit": _quit, "exit": _quit, "help": _help}
