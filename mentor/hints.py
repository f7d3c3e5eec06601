"""The hint ladder: each call reveals the next hint, recorded; never the solution."""

from __future__ import annotations

from typing import Any


def take_hint(engine: Any, unit: Any) -> tuple[int, int, str | None]:
    """Reveal and record the next hint: (level 1-based, total, text); text None when all are out."""
    from mentor.progress import hints_used, record_hint

    level = hints_used(engine, unit.id)
    if level >= len(unit.hints):
        return level, len(unit.hints), None
    record_hint(engine, unit.id, level)
    return level + 1, len(unit.hints), unit.hints[level]


def next_hint(ws: Any, unit: Any) -> None:
    from mentor.progress import hints_used, record_hint
    from rich.text import Text

    from mentor.render import console

    engine = ws.engine()
    level = hints_used(engine, unit.id)
    total = len(unit.hints)
    if level >= total:
        console.print(Text(f"All {total} hints of '{unit.id}' are out.", style="bold") + Text(" Here they are again:"))
        for i, h in enumerate(unit.hints, 1):
            console.print(Text(f"  {i}. {h}"))
        console.print("[dim]Next: replay the failing inputs with `mentor check --seed N`, print shapes, and compare "
                      "with the lesson's math (`mentor show`).[/dim]")
        return
    record_hint(engine, unit.id, level)
    console.print(Text(f"Hint {level + 1}/{total}", style="bold cyan") + Text(f" for {unit.id}: {unit.hints[level]}"))
    if level + 1 < total:
        console.print(f"[dim]Still stuck after trying it? `mentor hint {unit.id}` again.[/dim]")
