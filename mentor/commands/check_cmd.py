"""mentor check [UNIT] [--json] [--seed N] [--watch]"""

from __future__ import annotations

from typing import Optional

import typer

from mentor.commands.common import course, resolve_unit, workspace


def register(app: typer.Typer) -> None:
    @app.command()
    def check(
        unit: Optional[str] = typer.Argument(None, help="Unit id (default: the current unit)."),
        json_out: bool = typer.Option(False, "--json", help="Print the result as JSON (see mentor/gate/result.py)."),
        seed: Optional[int] = typer.Option(None, "--seed", help="Replay the inputs of an earlier check (its seed is shown)."),
        watch: bool = typer.Option(False, "--watch", help="Re-run whenever you save a file in myllm/ (Ctrl-C stops)."),
    ) -> None:
        """Run the unit's hidden tests on your code in a sandbox and record the attempt.

        Exit code: 0 pass, 1 fail, 2 usage or setup error, 130 cancelled with Ctrl-C (nothing recorded).
        """
        from mentor.checking import CheckCancelled, run_check
        from mentor.render import render_check

        ws = workspace()
        c = course()
        u = resolve_unit(c, unit, ws)

        def once() -> int:
            try:
                outcome = run_check(ws, c, u, seed=seed)
            except CheckCancelled:  # the runner has killed the sandbox; no attempt was recorded
                cancelled()
                raise
            render_check(outcome, u, as_json=json_out)
            res = outcome.result
            return 0 if res.passed else (2 if res.verdict == "harness" else 1)

        if not watch:
            try:
                rc = once()
            except CheckCancelled:
                raise typer.Exit(130)
            raise typer.Exit(rc)
        from mentor.gate.forkserver import warm_checks
        from mentor.watch import watch_loop

        with warm_checks(c, u):  # re-checks fork from a parent that has imported torch once
            stopped = watch_loop(ws.package, once)
        if stopped:
            raise typer.Exit(130)


def cancelled() -> None:
    """After Ctrl-C: on a line of its own (the terminal has echoed ^C), to stderr."""
    import sys

    print("\ncheck cancelled", file=sys.stderr, flush=True)
