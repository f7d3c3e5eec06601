"""State shared by commands (the global --workspace option) and small helpers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class _State:
    workspace: Path | None = None


state = _State()


def workspace() -> Any:
    from mentor.workspace import find_workspace

    return find_workspace(state.workspace)


def course() -> Any:
    from mentor.curriculum import course as load

    return load()


def resolve_unit(course_: Any, uid: str | None, ws: Any) -> Any:
    """The named unit, or the current one (first available) when none is named."""
    if uid:
        return course_.unit(uid)
    from mentor.progress import refresh
    from mentor.mastery import current_unit

    snap = refresh(ws.engine(), course_)
    cur = current_unit(course_, snap.states)
    if cur is None:
        from mentor.errors import MentorError

        raise MentorError("every written unit is proficient — nothing is current", "name a unit, e.g. `mentor check neuron`, or see `mentor status`")
    return course_.units[cur]
