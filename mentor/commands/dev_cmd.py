"""mentor dev check [UNIT...] / mentor dev schema: for course authors."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(no_args_is_help=True)


@app.command("check")
def dev_check(
    units: Optional[List[str]] = typer.Argument(None, help="Unit ids (default: every written unit)."),
    validate_only: bool = typer.Option(False, "--validate-only", help="Only validate course.yaml and every unit.yaml."),
    curriculum: Optional[Path] = typer.Option(None, "--curriculum", help="A curriculum folder other than the shipped one (a copy being edited)."),
) -> None:
    """Validate the curriculum, then self-check units: reference passes, starter fails, every mutant fails."""
    from rich.markup import escape
    from rich.text import Text

    from mentor.curriculum import load_course

    from mentor.render import console
    from mentor.selfcheck import check_unit

    c = load_course(curriculum)
    console.print(f"[green]✓[/green] curriculum valid: {len(c.units)} written units of {len(c.order)}")
    if validate_only:
        return
    from mentor.progress_ui import UnitBar

    bad = 0
    todo = units or list(c.units)
    with UnitBar(len(todo)) as bar:  # a progress bar on stderr, on a terminal only
        for uid in todo:
            bar.start(uid)
            rep = check_unit(c.unit(uid), c)
            mark = "[red]✗[/red] " if not rep.ok else "[yellow]-[/yellow] " if rep.skipped else "[green]✓[/green] "
            console.print(mark + escape(uid) + (" (skipped)" if rep.ok and rep.skipped else ""))
            for line in rep.lines:
                console.print(Text(f"    {line}", style="dim"))  # "mentor[triton]" is not markup
            for p in rep.problems:
                console.print(Text(f"    ! {p}", style="red"))
            bad += not rep.ok
            bar.advance()
    raise typer.Exit(1 if bad else 0)


@app.command("schema")
def dev_schema() -> None:
    """Print the JSON schema of unit.yaml (every field documented)."""
    import json

    from mentor.curriculum import Unit

    typer.echo(json.dumps(Unit.model_json_schema(), indent=2))
