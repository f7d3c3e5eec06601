"""Terminal rendering with rich: check results, errors, lessons. No logic lives here."""

from __future__ import annotations

import json
import re
import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markdown import Markdown
from rich.panel import Panel
from rich.text import Text

from mentor.check_view import check_list, first_failure_panel

if TYPE_CHECKING:
    from rich.console import RenderableType

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

VERDICT_TITLES = {
    "not_implemented": "Not implemented yet", "syntax": "Syntax error", "import": "Import error",
    "banned": "Banned API", "reference_import": "Reference import refused", "tampering": "Harness tampering refused",
    "numpy_only": "NumPy only in this phase", "timeout": "Time limit", "memory": "Memory limit", "crash": "Crash",
    "exit": "Exited without finishing", "output_limit": "Output limit", "missing": "Module missing",
    "missing_dependency": "Package not installed",
    "harness": "Hidden tests broken (a mentor bug)",
}
STATUS_STYLE = {"pass": "bold green", "partial": "bold yellow", "fail": "bold red", "error": "bold red", "timeout": "bold yellow",
                "not_implemented": "yellow"}


def print_error(e: Any) -> None:
    err_console.print(Text("error: ", style="bold red") + Text(e.message))
    if e.hint:
        err_console.print(Text("hint: ", style="bold cyan") + Text(e.hint))


def render_check(outcome: Any, unit: Any, as_json: bool = False) -> None:
    r = outcome.result
    if as_json:
        d = r.to_dict()
        d.update(state_before=outcome.state_before, state=outcome.state_after, unlocked=outcome.unlocked,
                 stubs_added=outcome.stubs_added, missing=outcome.missing, advice=outcome.advice)
        sys.stdout.write(json.dumps(d, indent=2) + "\n")
        return
    for line in outcome.stubs_added:
        console.print(Text(f"stubs added to {line}", style="dim"))
    head = Text(f"{unit.id}: ", style="bold") + Text(r.status.upper(), style=STATUS_STYLE.get(r.status, "bold"))
    if r.verdict:
        head += Text(f" — {VERDICT_TITLES.get(r.verdict, r.verdict)}", style="bold")
    head += Text(f"   seed {r.seed}, {r.duration_s:.2f}s", style="dim")
    console.print(head)
    first = r.first_failure()
    if r.verdict and r.verdict != "not_implemented" and (not first or r.verdict != "memory" and first.status != "timeout"):
        console.print(Panel(Text(r.message), title=VERDICT_TITLES.get(r.verdict, r.verdict), border_style="red"))
    if first is not None:
        console.print(first_failure_panel(first))
        todo = _not_implemented(r.tests)
        if r.verdict == "not_implemented" and todo:
            console.print(Text("not implemented yet: ", style="bold") + Text(", ".join(f"{f}()" for f in todo)))
            console.print(Text(f"start with {todo[0]}(): `mentor show {unit.id}` has the lesson and the signatures", style="dim"))
    if r.tests:
        console.print(check_list(r))
        console.print(Text(r.count_text()))
    if r.partial:
        console.print(Text(r.message if r.status == "partial" else
                           "a partial run (-k): it never counts as a pass of the unit", style="yellow"))
    for t in r.tests:
        if t.status == "pass" and t.message:
            console.print(Text(f"note ({t.label}): {t.message}", style="dim"))
    if r.output.strip():
        tail = r.output.strip().splitlines()[-15:]
        console.print(Panel(Text("\n".join(tail)), title="your code printed" + (" (truncated)" if r.output_truncated else ""),
                            border_style="dim"))
    _render_state(outcome, r, unit)
    for line in outcome.advice:
        console.print(Text(line, style="yellow"))


def _not_implemented(tests: list[Any]) -> list[str]:
    names: list[str] = []
    for t in tests:
        f = (t.details or {}).get("function")
        if t.status == "not_implemented" and f and f not in names:
            names.append(f)
    return names


def _render_state(outcome: Any, r: Any, unit: Any) -> None:
    done = ("proficient", "mastered")
    after = outcome.state_after
    if after in done and outcome.state_before not in done:
        console.print(f"[bold green]{r.unit} is now {after}.[/bold green]")
    elif r.passed and after in done:  # already proficient: nothing is left to do for proficiency
        later = " (a correct review on a later day makes it mastered: mentor review)" if after == "proficient" else ""
        console.print(Text("Hidden tests pass. ", style="green") + Text(f"{r.unit} is already {after}{later}."))
    elif r.passed and outcome.missing and after != "locked":
        console.print("[green]Hidden tests pass.[/green] Left for proficiency: " + "; ".join(outcome.missing))
        console.print(f"Run [bold]mentor ask {r.unit}[/bold] to answer the questions.")
    if after == "locked":
        _render_locked(outcome, r, unit)
    for u in outcome.unlocked:
        console.print(f"[bold]Unlocked:[/bold] {u} — `mentor show {u}`")
    if not r.passed:
        console.print(f"[dim]replay these inputs: mentor check {r.unit} --seed {r.seed}   ·   stuck? mentor hint {r.unit}[/dim]")


def _render_locked(outcome: Any, r: Any, unit: Any) -> None:
    """A check of a locked unit: say so, and that its stubs were written (working ahead is allowed)."""
    why = outcome.missing[0] if outcome.missing else "its prerequisites are not proficient yet"
    module = f"myllm/{unit.exercise.module}.py"
    text = f"{r.unit} is locked ({why}). "
    if any(line.startswith(module + ":") for line in outcome.stubs_added):
        text += f"This check wrote the unit's stubs to {module} so you can work ahead. "
    text += ("The pass is recorded; it counts once the unit unlocks." if r.passed
             else "Attempts are recorded and count once the unit unlocks.")
    console.print(Text(text, style="yellow"))


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~!])")


def _md_literal(text: str) -> str:
    """Unicode math inside Markdown: escape what Markdown would read as emphasis, links or code."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def _inline(latex: str) -> str:
    from mentor.mathtext import latex_to_unicode

    return _md_literal(latex_to_unicode(latex))


def protect_math(text: str) -> str:
    """Markdown for rich (which has no LaTeX): inline math as Unicode, display math as an indented text block."""
    from mentor.mathtext import latex_to_unicode, split_math

    out = []
    for sp in split_math(text):
        if sp.kind == "inline":
            out.append(_inline(sp.text))
        elif sp.kind == "display":
            out.append("\n\n```text\n" + latex_to_unicode(sp.text, display=True) + "\n```\n\n")
        else:
            out.append(sp.text)
    return "".join(out)


def lesson_renderable(text: str) -> "RenderableType":
    """Lesson Markdown for the terminal: Markdown paragraphs, inline math as Unicode, display math set apart."""
    from rich.console import Group
    from rich.padding import Padding

    from mentor.mathtext import latex_to_unicode, split_math

    parts: list[RenderableType] = []
    md: list[str] = []

    def flush() -> None:
        chunk = "".join(md).strip("\n")
        if chunk.strip():
            parts.append(Markdown(chunk))
        md.clear()

    for sp in split_math(text):
        if sp.kind == "inline":
            md.append(_inline(sp.text))
        elif sp.kind == "display":
            flush()
            parts.append(Padding(Text(latex_to_unicode(sp.text, display=True)), (1, 0, 1, 4)))
        else:
            md.append(sp.text)
    flush()
    return Group(*parts)


def markdown(text: str, page: bool = False) -> None:
    """Print lesson Markdown; `page`: through the pager ($PAGER, else less -R) when it is taller than the terminal."""
    body = lesson_renderable(text)
    if page and console.is_terminal and sys.stdin.isatty():
        height = len(console.render_lines(body, console.options, pad=False))
        if height > console.height:
            import os

            os.environ.setdefault("LESS", "-R")  # less shows rich's colours
            with console.pager(styles=True):
                console.print(body)
            return
    console.print(body)
