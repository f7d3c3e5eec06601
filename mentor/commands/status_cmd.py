"""mentor status [--json]"""

from __future__ import annotations

import typer

from mentor.commands.common import course, workspace


def register(app: typer.Typer) -> None:
    @app.command()
    def status(json_out: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
        """Phases, units, mastery, attempts, time spent, and what is next."""
        from mentor.status import gather, render_status

        ws = workspace()
        report = gather(ws, course())
        if json_out:
            import json

            typer.echo(json.dumps(report, indent=2))
        else:
            render_status(report)
