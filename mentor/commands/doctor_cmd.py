"""mentor doctor [--json] [--measure [--quick]]"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def doctor(
        json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
        measure: bool = typer.Option(False, "--measure", help="Measure this machine (bandwidth, FLOP/s; ~10-30 s) and store it."),
        quick: bool = typer.Option(False, "--quick", help="With --measure: small sizes (a few seconds, rougher figures)."),
    ) -> None:
        """Check this machine and workspace: Python, torch, GPU/VRAM, RAM, CPU and SIMD, DB, model size;
        --measure measures its memory bandwidth and FLOP/s (the figures lessons compare against)."""
        from mentor.doctor import diagnose, measure_machine, render_doctor

        from mentor.progress_ui import spinner

        with spinner("measuring this machine" if measure else "checking this machine", enabled=not json_out):
            measured = measure_machine(quick) if measure else None
            report = diagnose()
        if measured is not None:  # the stored row adds when it was measured
            report["profile"] = {**measured, **(report["profile"] or {})}
        if json_out:
            import json

            typer.echo(json.dumps(report, indent=2))
        else:
            render_doctor(report)
