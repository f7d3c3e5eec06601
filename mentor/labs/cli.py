"""`mentor lab` in the terminal: the flow of mentor/labs/flow.py with prompts on stdin and rich output."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from rich.text import Text

from mentor.errors import MentorError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from mentor.curriculum import Course, Unit
    from mentor.workspace import Workspace


def _ask_prediction(unit: "Unit", given: str | None, quiet: bool) -> tuple[float, str] | None:
    """The prediction (value in the figure's unit, the text typed); None when input ended."""
    from mentor.asking import _read
    from mentor.labs.compare import parse_prediction
    from mentor.render import console

    lab = unit.lab
    assert lab is not None
    while True:
        text = given if given is not None else _read(f"your prediction ({lab.figure.unit}) > ", multiline=False)
        if text is None:
            return None
        value, why = parse_prediction(text, lab.figure.unit)
        if value is not None:
            return value, text.strip()
        if given is not None or quiet:
            raise MentorError(f"prediction {text.strip()!r}: {why}", f"e.g. --predict '12 {lab.figure.unit}'")
        console.print(Text(why, style="yellow"))


def _explain(ws: "Workspace", course: "Course", unit: "Unit") -> None:
    """The lab's explain question: the LLM judge when one is configured, else self-assessed (as `mentor ask`)."""
    from mentor.asking import _ask_one
    from mentor.llm.config import active_profile

    lab = unit.lab
    assert lab is not None
    engine = ws.engine()
    if active_profile() is None:
        _ask_one(engine, unit, lab.explain, None)
        return
    _judged(engine, unit)


def _judged(engine: "Engine", unit: "Unit") -> None:
    from mentor.asking import _read
    from mentor.grading import Grade
    from mentor.lesson import question_markdown
    from mentor.llm.client import LLMClient
    from mentor.llm.config import active_profile
    from mentor.progress import record_answer, record_graded
    from mentor.render import console, markdown
    from mentor.session.judge import judge

    q = unit.lab.explain  # type: ignore[union-attr]
    console.rule(Text(f"{unit.id} · {q.id} (explain)", style="bold"))
    markdown(question_markdown(q))
    while True:
        ans = _read("> ", multiline=True)
        if ans is None:
            return
        try:
            g, record = judge(LLMClient(active_profile()), q, ans)  # type: ignore[arg-type]
        except Exception as e:  # noqa: BLE001 - the judge failed: self-assess instead, nothing lost
            from mentor.asking import _self_assess
            from mentor.grading import self_assessment

            console.print(Text(f"the judge is unavailable ({getattr(e, 'message', e)}); grade yourself instead", style="yellow"))
            met = _self_assess(q)
            if met is None:
                record_graded(engine, unit, q, ans, "pending", "self", "input ended before self-assessment")
                return
            g, record, grader = self_assessment(q, met), {}, "self"
        else:
            grader = "llm"
        if g.verdict == "refused":
            record_answer(engine, unit.id, q.id, ans, "refused", "auto", g.feedback)
            console.print(Text(g.feedback, style="yellow"))
            continue
        record_graded(engine, unit, q, ans, g.verdict, grader, json.dumps(record) if record else g.feedback)
        ok = g.verdict in ("correct", "self_correct")
        console.print(Text(("✓ " if ok else "✗ ") + Grade(g.verdict, g.feedback).feedback, style="bold green" if ok else "bold red"))
        return


def lab_command(ws: "Workspace", course: "Course", unit: "Unit", predict: str | None, json_out: bool,
                seed: int | None) -> int:
    from mentor.labs import flow
    from mentor.render import console, err_console, markdown

    prep = flow.prepare(ws, course, unit)
    lab = unit.lab
    assert lab is not None
    if not json_out:
        markdown(flow.intro_markdown(unit, prep.profile))
    got = _ask_prediction(unit, predict, quiet=json_out)
    if got is None:
        if json_out:
            raise MentorError("--json needs a prediction", f"e.g. mentor lab {unit.id} --json --predict '12 {lab.figure.unit}'")
        console.print(Text("input ended before a prediction: nothing was measured", style="yellow"))
        return 2
    value, typed = got
    if json_out:
        out = flow.run(ws, course, unit, prep, value, typed, seed=seed)
        print(json.dumps(out.to_dict(unit), indent=2, default=str))
        return 0 if out.status == "measured" else 1
    with err_console.status(Text(f"measuring your code in the sandbox: {lab.title} (up to {lab.time_limit_s:g} s)")):
        out = flow.run(ws, course, unit, prep, value, typed, seed=seed, columns=console.width)
    if out.status != "measured":
        console.print(Text(f"✗ {out.message}", style="bold red"))
        console.print(Text(f"your code ran in the sandbox as in `mentor check {unit.id}`; fix it and run the lab again",
                           style="dim"))
        return 1
    console.print()
    console.print(Text(out.chart))
    console.print()
    for line in flow.result_lines(unit, out):
        console.print(Text(line))
    console.print()
    _explain(ws, course, unit)
    return 0
