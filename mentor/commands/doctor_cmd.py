"""mentor doctor [--json]"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def doctor(json_out: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
        """Check this machine and workspace: Python, torch, GPU/VRAM, RAM, CPU and SIMD, DB, model size."""
        from mentor.doctor import diagnose, render_doctor

        report = diagnose()
        if json_out:
            import json

            typer.echo(json.dumps(report, indent=2))
        else:
            render_doctor(report)
