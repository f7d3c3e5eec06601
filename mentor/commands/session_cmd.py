"""mentor start / prompt / review / log / mentors: the daily session and what surrounds it."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from mentor.commands.common import course, workspace

mentors_app = typer.Typer(no_args_is_help=True)


def register(app: typer.Typer) -> None:
    @app.command()
    def start(
        minutes: Optional[int] = typer.Option(None, "--minutes", "-m", min=5, max=600, help="Time budget (default: mentor.toml, 60)."),
        offline: bool = typer.Option(False, "--offline", help="No LLM: lesson, questions, hints and checks only."),
        mentor_name: Optional[str] = typer.Option(None, "--mentor", help="Mentor persona (see `mentor mentors list`)."),
    ) -> None:
        """The daily session: plan, due reviews, the current unit step by step, the mentor, /check, a summary."""
        from mentor.gate.forkserver import warm_checks
        from mentor.session.editor import make_reader
        from mentor.session.setup import build_engine
        from mentor.session.tui import TerminalUI, run_session

        ws = workspace()
        ui = TerminalUI()
        c = course()
        engine = build_engine(ws, c, minutes=minutes or ws.session_minutes, offline=offline,
                              mentor=mentor_name, emit=ui)
        ui.show_reasoning = engine.show_reasoning
        from mentor.mastery import current_unit
        from mentor.progress import refresh

        cur = current_unit(c, refresh(ws.engine(), c).states)
        with warm_checks(c, c.units[cur] if cur else None):  # /check forks from a parent that imports torch while you read
            run_session(engine, make_reader(ws.root / ".mentor" / "history"))

    @app.command()
    def prompt(
        copy: bool = typer.Option(False, "--copy", "-c", help="Also copy it to the clipboard (xclip, wl-copy, pbcopy)."),
        mentor_name: Optional[str] = typer.Option(None, "--mentor", help="Mentor persona."),
    ) -> None:
        """Print the full mentor context (persona, rules, profile, unit, facts, last check) for any chat UI."""
        from mentor.session.setup import chat_context

        text = chat_context(workspace(), course(), mentor_name)
        typer.echo(text)
        if copy:
            from mentor.session.setup import copy_to_clipboard

            typer.echo(copy_to_clipboard(text), err=True)

    @app.command()
    def review(limit: int = typer.Option(10, "--limit", "-n", min=1, help="At most this many reviews.")) -> None:
        """Answer the spaced-repetition reviews that are due, outside a session."""
        from mentor.session.setup import run_reviews

        run_reviews(workspace(), course(), limit)

    @app.command()
    def log(
        session: Optional[int] = typer.Argument(None, help="Session id (default: the latest)."),
        search: Optional[str] = typer.Option(None, "--search", "-s", help="Find past messages containing TEXT."),
        export: Optional[Path] = typer.Option(None, "--export", "-o", help="Write the transcript as Markdown to a file."),
        list_: bool = typer.Option(False, "--list", "-l", help="List sessions."),
    ) -> None:
        """Show or export a session transcript, list sessions, or search past talk."""
        from mentor.transcripts import show_log

        show_log(workspace(), session, search, export, list_)

    app.add_typer(mentors_app, name="mentors", help="Mentor personas: list them or generate a new one for you.")


@mentors_app.command("list")
def mentors_list() -> None:
    """The available personas (the shipped default and generated ones)."""
    from mentor.personas import list_personas

    for p in list_personas():
        typer.echo(f"{p.name:<24} {p.hash}")


@mentors_app.command("generate")
def mentors_generate(name: str = typer.Argument("mentor", help="Name of the new persona (versioned: NAME-v1, -v2...).")) -> None:
    """Ask the LLM to write a persona fitted to your profile; saved as a new version."""
    from mentor.errors import MentorError
    from mentor.llm.client import LLMClient
    from mentor.llm.config import active_profile
    from mentor.personas import generate_persona

    prof = active_profile()
    if prof is None:
        raise MentorError("no LLM provider is configured", "set one up with `mentor config set profile deepseek` (see the README)")
    p = generate_persona(LLMClient(prof), workspace(), name)
    typer.echo(f"saved persona {p.name} ({p.hash}); use it with `mentor start --mentor {name}`")
