"""`/lab` in a live session: the same flow as `mentor lab`, driven by the session's events.

`/lab` shows the lab and asks for the prediction; `/lab 12 GB/s` measures, shows the chart and the
comparison, and then asks the lab's explain question as the pending question (graded by the
session's judge online, self-assessed offline) when no other question is pending.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mentor.errors import MentorError

if TYPE_CHECKING:
    from mentor.session.engine import SessionEngine


def lab_command(e: "SessionEngine", arg: str) -> None:
    from mentor.labs import flow
    from mentor.labs.compare import parse_prediction

    if e.unit is None:
        e.emit("warn", "no current unit, so no lab")
        return
    unit = e.unit
    try:
        prep = flow.prepare(e.ws, e.course, unit)
    except MentorError as err:
        e.emit("warn", f"{err.message}" + (f" — {err.hint}" if err.hint else ""))
        return
    lab = unit.lab
    assert lab is not None  # prepare() refused a unit without one
    if not arg:
        e.emit("markdown", flow.intro_markdown(unit, prep.profile))
        e.emit("info", f"Type /lab followed by your prediction, e.g. /lab 12 {lab.figure.unit}")
        return
    value, why = parse_prediction(arg, lab.figure.unit)
    if value is None:
        e.emit("warn", f"{why} (e.g. /lab 12 {lab.figure.unit})")
        return
    e.emit("info", f"measuring your code in the sandbox: {lab.title} (up to {lab.time_limit_s:g} s) ...")
    out = flow.run(e.ws, e.course, unit, prep, value, arg, session_id=e.session_id)
    if out.status != "measured":
        e.emit("bad", out.message)
        return
    e.emit("info", out.chart + "\n\n" + "\n".join(flow.result_lines(unit, out)))
    if e.pending is None:
        e.ask(unit, lab.explain, False)
    else:
        e.emit("info", f"Explain the gap afterwards: `mentor ask {unit.id} --question {lab.explain.id}`.")
