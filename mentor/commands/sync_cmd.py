"""mentor sync export FILE / mentor sync import FILE — progress between the GPU workstation and the laptop."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.command("export")
def export(file: Path = typer.Argument(..., help="Where to write the progress (JSON).")) -> None:
    """Write this workspace's progress (attempts, answers, hints, sessions and transcripts, reviews) to FILE."""
    from rich.text import Text

    from mentor.commands.common import workspace
    from mentor.render import console
    from mentor.sync import export_progress

    counts = export_progress(workspace(), file)
    console.print(Text(f"wrote {file}: " + ", ".join(f"{n} {t}" for t, n in counts.items() if n)))
    console.print(Text("On the other machine: mentor sync import " + file.name + "   (your code travels by git)", style="dim"))


@app.command("import")
def import_(
    file: Path = typer.Argument(..., help="A file written by `mentor sync export`."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Report what would be merged; change nothing."),
) -> None:
    """Merge progress exported on another machine into this workspace (nothing here is deleted or rewritten)."""
    from rich.text import Text

    from mentor.commands.common import course, workspace
    from mentor.progress import refresh
    from mentor.render import console
    from mentor.sync import import_progress

    ws = workspace()
    rep = import_progress(ws, file, dry_run=dry_run)
    added = ", ".join(f"{n} {t}" for t, n in rep.added.items() if n) or "nothing new"
    same = sum(rep.already.values())
    console.print(Text(("would add: " if dry_run else "added: ") + added + (f"; {same} rows were already here" if same else "")))
    for c in rep.conflicts:
        console.print(Text(f"conflict: {c}", style="yellow"))
    if not dry_run:
        refresh(ws.engine(), course())
        console.print(Text("Progress merged; `mentor status` shows the combined state and where each check ran.", style="dim"))


def register(app_: typer.Typer) -> None:
    app_.add_typer(app, name="sync", help="Move progress between machines: export to a file, import it on the other.")
