"""mentor check [UNIT] [--json] [--seed N] [--watch] [-k NAME] [--save-inputs DIR]"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from mentor.commands.common import course, resolve_unit, workspace

if TYPE_CHECKING:
    from mentor.curriculum import Unit
    from mentor.gate.result import CheckResult


def register(app: typer.Typer) -> None:
    @app.command()
    def check(
        unit: Optional[str] = typer.Argument(None, help="Unit id (default: the current unit)."),
        json_out: bool = typer.Option(False, "--json", help="Print the result as JSON (see mentor/gate/result.py)."),
        seed: Optional[int] = typer.Option(None, "--seed", help="Replay the inputs of an earlier check (its seed is shown)."),
        watch: bool = typer.Option(False, "--watch", help="Re-run whenever you save a file in myllm/ (Ctrl-C stops)."),
        k: Optional[str] = typer.Option(None, "-k", help="Run only the checks whose name or description contains this "
                                                         "text (a partial run never counts as a pass)."),
        save_inputs: Optional[Path] = typer.Option(None, "--save-inputs", help="Write the failing checks' inputs and a "
                                                   "script repeating the call on your code into this folder."),
    ) -> None:
        """Run the unit's hidden tests on your code in a sandbox and record the attempt.

        Exit code: 0 pass (or, with -k, the selected checks pass), 1 fail, 2 usage or setup error,
        130 cancelled with Ctrl-C (nothing recorded).
        """
        from mentor.checking import CheckCancelled, run_check
        from mentor.progress_ui import spinner
        from mentor.render import render_check

        ws = workspace()
        c = course()
        u = resolve_unit(c, unit, ws)
        only = _selected(u, k) if k is not None else None
        if save_inputs is not None:
            from mentor.repro import validate_dest

            validate_dest(ws.root, save_inputs)

        def once() -> int:
            try:
                with spinner(f"checking {u.id}", enabled=not json_out):
                    outcome = run_check(ws, c, u, seed=seed, only=only, save_inputs=save_inputs is not None)
            except CheckCancelled:  # the runner has killed the sandbox; no attempt was recorded
                cancelled()
                raise
            render_check(outcome, u, as_json=json_out)
            res = outcome.result
            if save_inputs is not None:
                _report_saved(outcome.result, u, ws.root, save_inputs, json_out)
            ok = res.passed or res.status == "partial"
            return 0 if ok else (2 if res.verdict == "harness" else 1)

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


def _selected(u: "Unit", pattern: str) -> list[str]:
    from mentor.errors import MentorError
    from mentor.gate.catalog import list_checks, select

    checks = list_checks(u.tests_path)
    names = select(checks, pattern)
    if not names:
        listing = "; ".join(f"{ch.name} ({ch.description})" for ch in checks)
        raise MentorError(f"no check of {u.id} matches -k {pattern!r}",
                          f"-k takes part of a check's name or description; the checks of {u.id}: {listing}")
    return names


def _report_saved(res: "CheckResult", u: "Unit", root: Path, dest: Path, json_out: bool) -> None:
    """After the result: what --save-inputs wrote (to stderr with --json, so stdout stays one JSON document)."""
    import sys

    from rich.console import Console
    from rich.text import Text

    from mentor.repro import save_inputs as write

    rep = write(res, u.exercise.module, root, dest)
    out = Console(stderr=json_out, highlight=False)
    for p in rep.scripts:
        out.print(Text("inputs saved: ", style="bold") + Text(f"python -i {p}"))
    for why in rep.skipped:
        out.print(Text(f"not saved: {why}", style="dim"))
    if not rep.scripts and not rep.skipped:
        out.print(Text("--save-inputs: no check failed, nothing to save", style="dim"))
    sys.stdout.flush()


def cancelled() -> None:
    """After Ctrl-C: on a line of its own (the terminal has echoed ^C), to stderr."""
    import sys

    print("\ncheck cancelled", file=sys.stderr, flush=True)
