"""mentor interview [REVIEW] [--list] [--practice] [--offline] [--json]"""

from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def interview(
        review: Optional[str] = typer.Argument(None, help="phase1 ... phase5 or final (default: the next open review)."),
        list_only: bool = typer.Option(False, "--list", help="Show every review: open, passed, or what it waits for."),
        practice: bool = typer.Option(False, "--practice", help="Take a review before it opens (recorded, never counts)."),
        offline: bool = typer.Option(False, "--offline", help="Grade yourself against the rubric, even with a provider."),
        json_out: bool = typer.Option(False, "--json", help="With --list: machine-readable output."),
    ) -> None:
        """The architecture review: design questions about your own model and machine, at the end of each phase
        and of the course. Graded by the judge with follow-ups online, self-assessed offline; passing the final
        review completes the course."""
        from mentor.commands.common import course, workspace
        from mentor.interview.flow import next_review, overview, run_review

        ws, c = workspace(), course()
        if list_only:
            rows = overview(ws, c)
            if json_out:
                import json

                typer.echo(json.dumps(rows, indent=2))
            else:
                _print_list(rows)
            return
        rid = review or next_review(ws, c)
        if rid is None:
            from mentor.errors import MentorError

            raise MentorError("no review is open yet: each opens when its phase's units are proficient",
                              "see `mentor interview --list`, or take one as practice: `mentor interview phase1 --practice`")
        out = run_review(ws, c, rid, practice=practice, offline=offline)
        raise typer.Exit(0 if out.passed else 1)


def _print_list(rows: list[dict]) -> None:
    from rich.text import Text

    from mentor.render import console

    for r in rows:
        if r["passed"]:
            how = "self-assessed" if r["passed"]["grader"] != "llm" else "graded by the judge"
            state, style = f"passed {r['passed']['at'][:10]} ({how})", "green"
        elif r["blocked_by"]:
            state, style = "opens after: " + ", ".join(r["blocked_by"][:4]) + (" …" if len(r["blocked_by"]) > 4 else ""), "dim"
        else:
            state, style = f"open: `mentor interview {r['id']}`", "bold yellow"
        console.print(Text(f"{r['id']:<8} ", style="bold") + Text(f"{r['title']} ({r['questions']} questions)  ") +
                      Text(state, style=style))
