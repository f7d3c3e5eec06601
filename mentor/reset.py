"""`mentor reset UNIT`: put a unit's stubs back in myllm/<module>.py, keeping the old code in a backup.

Only the unit's own names are replaced (a module shared by several units keeps the others' code,
its imports and helpers); the whole file first goes to .mentor/backups/<time>/myllm/<module>.py.
A module that does not parse is replaced whole by the stubs of the units that use it (after the
same backup), since there is nothing to take apart.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from mentor.errors import MentorError

if TYPE_CHECKING:
    from mentor.curriculum import Course, Unit
    from mentor.workspace import Workspace


def backup(ws: "Workspace", path: Path) -> Path:
    """Copy `path` to .mentor/backups/<UTC time>/<path relative to the workspace>; returns the copy."""
    from mentor.store.db import now

    stamp = now().strftime("%Y%m%dT%H%M%S")
    dest = ws.root / ".mentor" / "backups" / stamp / path.relative_to(ws.root)
    n = 1
    while dest.exists():  # two resets in one second keep both copies
        n += 1
        dest = ws.root / ".mentor" / "backups" / f"{stamp}-{n}" / path.relative_to(ws.root)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(path, dest)
    return dest


def _without(source: str, names: set[str]) -> str:
    """`source` with its top-level defs/classes named in `names` cut out (decorators included)."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    cut: list[tuple[int, int]] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in names:
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            cut.append((start - 1, node.end_lineno or node.lineno))
    for a, b in reversed(cut):
        del lines[a:b]
    return "".join(lines)


def reset_unit(ws: "Workspace", course: "Course", unit: "Unit") -> tuple[Path | None, list[str], str]:
    """Reset `unit`'s names to their stubs; returns (backup path or None, names reset, how)."""
    from mentor.stubs import add_stubs

    mod = ws.module_path(unit.exercise.module)
    names = {s.name for s in unit.exercise.symbols}
    if not mod.exists():
        return None, sorted(add_stubs(mod, unit.starter_path, unit.id)), "created"
    saved = backup(ws, mod)
    text = mod.read_text(encoding="utf-8")
    try:
        kept = _without(text, names)
        how = "replaced"
    except SyntaxError:
        sharing = [course.units[u] for u in course.order if u in course.units
                   and course.units[u].exercise.module == unit.exercise.module
                   and course.order.index(u) <= course.order.index(unit.id)]
        kept, how = "", "rewritten"  # nothing parseable to keep: every unit's stubs for this module, in order
        mod.write_text("", encoding="utf-8")
        for u in sharing:
            add_stubs(mod, u.starter_path, u.id)
        return saved, sorted(names), how
    tmp = mod.with_suffix(".py.mentor-tmp")
    tmp.write_text(kept, encoding="utf-8")
    tmp.replace(mod)
    try:
        add_stubs(mod, unit.starter_path, unit.id)
    except MentorError:
        shutil.copy2(saved, mod)  # put the learner's file back as it was: nothing lost
        raise
    return saved, sorted(names), how
