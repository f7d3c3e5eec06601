"""Lessons as files in the workspace: `lessons/<unit>.md` for the learner's editor, `lessons/<unit>.html` to read.

The Markdown keeps its LaTeX (`$...$`), which Markdown editors with math preview (VS Code, Obsidian,
Typora) typeset. mentor remembers the SHA-256 of what it last wrote (.mentor/lessons.json): a file
the learner has edited since is never overwritten; the new lesson goes to `<unit>.new.md` instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mentor.curriculum import Course, Unit
    from mentor.workspace import Workspace

HEADER = "<!-- mentor wrote this lesson; edit it freely: mentor never overwrites a lesson file you changed. -->\n\n"


@dataclass(frozen=True)
class Written:
    path: Path
    note: str = ""  # said to the learner when the lesson went elsewhere than expected (an edited file)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _index_path(ws: "Workspace") -> Path:
    return ws.root / ".mentor" / "lessons.json"


def _load_index(ws: "Workspace") -> dict[str, str]:
    try:
        data = json.loads(_index_path(ws).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _save_index(ws: "Workspace", index: dict[str, str]) -> None:
    path = _index_path(ws)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(index, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


def write_markdown(ws: "Workspace", unit: "Unit", markdown: str) -> Written:
    """Write lessons/<unit>.md, unless the learner edited it: then lessons/<unit>.new.md (said in `note`)."""
    folder = ws.root / "lessons"
    folder.mkdir(exist_ok=True)
    path = folder / f"{unit.id}.md"
    text = HEADER + markdown.rstrip() + "\n"
    index = _load_index(ws)
    key = f"{unit.id}.md"
    try:
        current: str | None = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        current = None
    if current is not None and current != text and _digest(current) != index.get(key):
        new = folder / f"{unit.id}.new.md"
        new.write_text(text, encoding="utf-8")
        return Written(new, f"you have edited lessons/{path.name}, so mentor left it alone; "
                            f"the current lesson is in lessons/{new.name}")
    if current != text:
        path.write_text(text, encoding="utf-8")
    if index.get(key) != _digest(text):
        index[key] = _digest(text)
        _save_index(ws, index)
    return Written(path)


def write_unlocked(ws: "Workspace", course: "Course", unit_ids: list[str]) -> list[Written]:
    """The Markdown lessons of units that just unlocked (no hardware profile: `mentor show` adds it later)."""
    from mentor.lesson import unit_markdown

    out = []
    for uid in unit_ids:
        if uid in course.units:
            try:
                out.append(write_markdown(ws, course.units[uid], unit_markdown(course.units[uid])))
            except OSError:
                continue  # a read-only workspace only loses the convenience copy
    return out


def html_path(ws: "Workspace | None", unit: "Unit") -> Path:
    """lessons/<unit>.html in a workspace; outside one, a folder of the system's temporary directory."""
    folder = ws.root / "lessons" if ws is not None else Path(tempfile.gettempdir()) / "mentor-lessons"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{unit.id}.html"


def can_open_browser() -> bool:
    """A graphical browser can be shown: not when MENTOR_NO_BROWSER is set, nor on a Linux box without a display
    (webbrowser would fall back to a text browser inside this terminal)."""
    if os.environ.get("MENTOR_NO_BROWSER"):
        return False
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def open_in_browser(path: Path) -> bool:
    import webbrowser

    try:
        return bool(webbrowser.open(path.resolve().as_uri()))
    except webbrowser.Error:
        return False


def unit_status(ws: "Workspace | None", course: "Course", unit: "Unit") -> tuple[str, str]:
    """(state, what it means) of a unit for the learner in `ws`; outside a workspace, 'browsing'."""
    from mentor.errors import MentorError

    if ws is None:
        return "browsing", "outside a workspace: `mentor init ~/myllm` creates one, and units unlock in order"
    from mentor.progress import refresh

    try:
        st = refresh(ws.engine(), course).states.get(unit.id)
    except MentorError:
        return "unknown", "the progress database could not be read (mentor doctor)"
    if st is None:
        return "unknown", ""
    detail = {
        "locked": f"{st.missing[0] if st.missing else 'its prerequisites are not proficient yet'} to unlock it; "
                  "you can read and work ahead",
        "available": "check your code with `mentor check " + unit.id + "`",
        "proficient": "a correct review on a later day makes it mastered",
        "mastered": "done",
    }.get(st.state, "; ".join(st.missing))
    return st.state, detail


def write_page(ws: "Workspace | None", course: "Course", unit: "Unit", markdown: str, step: int | None = None) -> Path:
    """Write the lesson page (lessons/<unit>.html or a temporary folder); returns its path."""
    from mentor.lesson_html import lesson_page

    state, detail = unit_status(ws, course, unit)
    path = html_path(ws, unit)
    if step is not None:
        path = path.with_name(f"{unit.id}.step{step + 1}.html")
    path.write_text(lesson_page(unit, markdown, state, detail), encoding="utf-8")
    return path
