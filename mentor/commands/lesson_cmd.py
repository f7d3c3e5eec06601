"""mentor show / hint / ask: read the lesson, climb the hint ladder, answer the questions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import typer

from mentor.commands.common import course, resolve_unit, workspace

if TYPE_CHECKING:
    from mentor.curriculum import Unit
    from mentor.workspace import Workspace


def register(app: typer.Typer) -> None:
    @app.command()
    def show(
        unit: Optional[str] = typer.Argument(None, help="Unit id (default: the current unit)."),
        step: Optional[int] = typer.Option(None, "--step", "-s", min=1, help="Show only step N."),
        plain: bool = typer.Option(False, "--plain", help="Print raw Markdown (LaTeX kept) instead of rendering it."),
        html: bool = typer.Option(False, "--html", help="Write the lesson as a web page with typeset math, and open it."),
        no_open: bool = typer.Option(False, "--no-open", help="With --html: only write the page and print its path."),
        no_pager: bool = typer.Option(False, "--no-pager", help="Print a long lesson straight to the terminal, unpaged."),
    ) -> None:
        """Read a unit's lesson: steps, exercise and signatures, hardware notes (math as Unicode; --html typesets it)."""
        from mentor.errors import MentorError
        from mentor.lesson import unit_markdown

        c = course()
        u = c.unit(unit) if unit else _current_or_first(c)
        if step is not None and step > len(u.steps):
            raise MentorError(f"unit '{u.id}' has {len(u.steps)} steps, not {step}", f"use --step 1..{len(u.steps)}")
        ws = _workspace_or_none()
        md = unit_markdown(u, None if step is None else step - 1, profile=_this_machine())
        if ws is not None and step is None:
            _write_markdown_file(ws, u, md)
        note = _locked_note(c, u)
        if html:
            from mentor.lesson_files import can_open_browser, open_in_browser, write_page

            path = write_page(ws, c, u, md, None if step is None else step - 1)
            typer.echo(str(path))
            if not no_open and can_open_browser() and open_in_browser(path):
                typer.echo("opened in your browser", err=True)
            elif not no_open:
                typer.echo("no graphical browser here: open that file in one (math is MathML, nothing is downloaded)", err=True)
            return
        if note:
            md = f"> {note}\n\n{md}"
        if plain:
            typer.echo(md)
        else:
            from mentor.render import markdown

            markdown(md, page=not no_pager)

    @app.command()
    def hint(unit: Optional[str] = typer.Argument(None, help="Unit id (default: the current unit).")) -> None:
        """Show the next hint of the unit's ladder (general first, specific later; recorded)."""
        from mentor.hints import next_hint

        ws = workspace()
        c = course()
        next_hint(ws, resolve_unit(c, unit, ws))

    @app.command()
    def ask(
        unit: Optional[str] = typer.Argument(None, help="Unit id (default: the current unit)."),
        question: Optional[str] = typer.Option(None, "--question", "-q", help="Only this question id."),
        answer: Optional[str] = typer.Option(None, "--answer", "-a", help="Answer non-interactively (needs --question)."),
        all_: bool = typer.Option(False, "--all", help="Ask every question, even those already answered correctly."),
        steps: bool = typer.Option(False, "--steps", help="Include the lesson steps' micro-questions."),
        regrade: bool = typer.Option(False, "--regrade", help="Re-grade your self-assessed explanations with the LLM judge."),
    ) -> None:
        """Answer a unit's questions at the prompt; graded and recorded."""
        from mentor.asking import ask_questions

        ws = workspace()
        c = course()
        if regrade:
            from mentor.asking import regrade as regrade_answers

            regrade_answers(ws, c, resolve_unit(c, unit, ws))
            return
        ask_questions(ws, c, resolve_unit(c, unit, ws), only=question, given=answer, include_answered=all_, include_steps=steps)


def _workspace_or_none() -> "Workspace | None":
    from mentor.errors import MentorError

    try:
        return workspace()
    except MentorError:
        return None


def _write_markdown_file(ws: "Workspace", u: "Unit", md: str) -> None:
    """lessons/<unit>.md for the learner's editor; say where when it is new or went to <unit>.new.md."""
    from mentor.lesson_files import write_markdown

    existed = (ws.root / "lessons" / f"{u.id}.md").exists()
    try:
        w = write_markdown(ws, u, md)
    except OSError as e:
        typer.echo(f"note: could not write lessons/{u.id}.md ({e.strerror})", err=True)
        return
    if w.note:
        typer.echo(f"note: {w.note}", err=True)
    elif not existed:
        typer.echo(f"this lesson is also in lessons/{u.id}.md (for your editor)", err=True)


def _this_machine() -> dict | None:
    """This machine's measured profile in the workspace (None outside one or when not measured)."""
    from mentor.errors import MentorError

    try:
        ws = workspace()
        from mentor.hardware import detect
        from mentor.labs.profile import latest_profiles, machine_key

        return latest_profiles(ws.engine()).get(machine_key(detect(with_torch=False)))
    except MentorError:
        return None


def _current_or_first(c: object) -> object:
    """The current unit in a workspace; outside one (browsing the course before `mentor init`) the first unit."""
    from mentor.errors import MentorError

    try:
        ws = workspace()
    except MentorError:
        return c.units[next(u for u in c.order if u in c.units)]  # type: ignore[attr-defined]
    return resolve_unit(c, None, ws)


def _locked_note(c: object, u: object) -> str | None:
    """For a locked unit (in a workspace): that it is locked, what unlocks it, and that working ahead is fine."""
    from mentor.errors import MentorError

    try:
        ws = workspace()
    except MentorError:  # reading a lesson needs no workspace
        return (f"Browsing the course outside a workspace. To work on {u.id}, create one: "  # type: ignore[attr-defined]
                "`mentor init ~/myllm` (units unlock in order; `mentor status` there shows where you are).")
    from mentor.progress import refresh

    try:
        st = refresh(ws.engine(), c).states.get(u.id)  # type: ignore[attr-defined]
    except MentorError:
        return None  # an unreadable database is reported by the commands that need it
    if st is None or st.state != "locked":
        return None
    why = st.missing[0] if st.missing else "its prerequisites are not proficient yet"
    return (f"{u.id} is locked: {why} to unlock it. You can read and work ahead: "  # type: ignore[attr-defined]
            f"`mentor check {u.id}` writes its stubs to myllm/{u.exercise.module}.py, and attempts count once it unlocks.")  # type: ignore[attr-defined]
