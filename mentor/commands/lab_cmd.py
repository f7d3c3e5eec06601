"""mentor lab [UNIT] [--predict VALUE] [--json] [--seed N]"""

from __future__ import annotations

from typing import Optional

import typer

from mentor.commands.common import course, resolve_unit, workspace


def register(app: typer.Typer) -> None:
    @app.command()
    def lab(
        unit: Optional[str] = typer.Argument(None, help="Unit id (default: the current unit)."),
        predict: Optional[str] = typer.Option(None, "--predict", help="Your prediction (e.g. '12 GB/s'); asked when not given."),
        json_out: bool = typer.Option(False, "--json", help="Print the run as JSON (needs --predict or a prediction on stdin; the explanation is not asked)."),
        seed: Optional[int] = typer.Option(None, "--seed", help="Seed of the lab's inputs."),
    ) -> None:
        """Predict, measure, explain: a measurement of your own code on this machine, next to its bound.

        Exit code: 0 measured, 1 the measurement failed, 2 usage or setup error.
        """
        from mentor.labs.cli import lab_command

        ws = workspace()
        c = course()
        raise typer.Exit(lab_command(ws, c, resolve_unit(c, unit, ws), predict, json_out, seed))
