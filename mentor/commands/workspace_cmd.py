"""mentor init [DIR]"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def init(
        directory: Path = typer.Argument(Path("."), help="Where to create the workspace (default: here)."),
        name: Optional[str] = typer.Option(None, "--name", help="Your name (asked on a terminal when omitted)."),
        yes: bool = typer.Option(False, "--yes", "-y", help="Never prompt; use defaults."),
    ) -> None:
        """Create a workspace (mentor.toml, .mentor/progress.db, myllm/, data/), or repair one.

        Re-running it on an existing workspace adds what is missing and overwrites nothing.
        """
        from mentor.checking import sync_stubs
        from mentor.curriculum import course
        from mentor.progress import ensure_profile, refresh
        from rich.text import Text

        from mentor.render import console
        from mentor.workspace import MARKER, create_workspace

        root = directory.expanduser().resolve()
        existing = (root / MARKER).is_file()
        if name is None:
            name = "learner"
            if not yes and not existing and sys.stdin.isatty():
                name = typer.prompt("Your name", default="learner")
        c = course()
        ws, made = create_workspace(root, name)
        engine = ws.engine()
        ensure_profile(engine, ws.learner_name)
        snap = refresh(engine, c)
        stubs = sync_stubs(ws, c, snap.states)
        verb = "Repaired" if existing else "Created"
        if existing and not made and not stubs:
            console.print(Text(f"Workspace {root} is complete; nothing to do."))
        else:
            console.print(Text(f"{verb} workspace ") + Text(str(root), style="bold"))
            for m in made:
                console.print(Text(f"  + {m}"))
            for s in stubs:
                console.print(Text(f"  + stubs: {s}"))
        cd = "" if root == Path.cwd().resolve() else f"cd {directory} && "
        console.print(Text(f"\nNext: {cd}mentor status   ·   mentor show   ·   mentor check"))


    @app.command()
    def reset(
        unit: str = typer.Argument(..., help="The unit whose stubs to restore (e.g. neuron)."),
        yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    ) -> None:
        """Restore a unit's stubs in myllm/; your old code is kept in .mentor/backups/ (the command says where)."""
        from rich.text import Text

        from mentor.commands.common import course, workspace
        from mentor.render import console
        from mentor.reset import reset_unit

        ws, c = workspace(), course()
        u = c.unit(unit)
        path = ws.module_path(u.exercise.module)
        names = ", ".join(s.name for s in u.exercise.symbols)
        if not yes and sys.stdin.isatty() and path.exists():
            if not typer.confirm(f"Replace {names} in myllm/{u.exercise.module}.py with fresh stubs (a backup is kept)?"):
                raise typer.Exit(1)
        saved, reset_names, how = reset_unit(ws, c, u)
        console.print(Text(f"{u.id}: {', '.join(reset_names)} reset to stubs in myllm/{u.exercise.module}.py ({how})."))
        if saved is not None:
            console.print(Text(f"Your previous file is kept at {saved}", style="bold"))
        if how == "rewritten":
            console.print(Text("The module did not parse, so it was rewritten whole from the stubs of the units that use it.",
                               style="yellow"))
