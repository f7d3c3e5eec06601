"""The workspace's mentor.toml, validated: the right types and ranges, or a message naming file, line and key.

[learner] name, goal; [session] minutes. Other top-level tables are left alone (later versions and
the course project add their own); unknown keys inside [learner] and [session] are typos and refused.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from mentor.errors import MentorError


class LearnerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: StrictStr = Field("learner", min_length=1, max_length=100, description="your name, as the mentor calls you")
    goal: StrictStr = Field("", max_length=2000, description="what you want out of the course, in your words")


class SessionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    minutes: StrictInt = Field(60, ge=5, le=600, description="length of a daily session in minutes")


class WorkspaceSettings(BaseModel):
    model_config = ConfigDict(extra="allow")
    learner: LearnerSettings = LearnerSettings()
    session: SessionSettings = SessionSettings()


_EXPECTED = {
    ("learner", "name"): 'a quoted string of 1-100 characters, e.g. name = "Ada"',
    ("learner", "goal"): 'a quoted string, e.g. goal = "..."',
    ("session", "minutes"): "a whole number of minutes from 5 to 600, e.g. minutes = 60",
    ("learner", ""): 'a table: a [learner] header with name = "..." and goal = "..." under it',
    ("session", ""): "a table: a [session] header with minutes = 60 under it",
}


def _line_of(text: str, table: str, key: str | None) -> int | None:
    """1-based line of `key` inside `[table]` (or of the table header), best effort."""
    current = None
    for i, line in enumerate(text.splitlines(), 1):
        if current is None and key is None and re.match(rf"\s*{re.escape(table)}\s*=", line):
            return i  # a top-level `session = 5` where a table belongs
        head = re.match(r"\s*\[\s*([^\]]+?)\s*\]", line)
        if head:
            current = head.group(1)
            if key is None and current == table:
                return i
            continue
        if current == table and key is not None and re.match(rf"\s*{re.escape(key)}\s*=", line):
            return i
    return None


def validate_settings(path: Path, text: str, data: dict[str, Any]) -> dict[str, Any]:
    """The settings as a plain dict with defaults filled in; MentorError (exit 2) on a wrong type or range."""
    try:
        model = WorkspaceSettings.model_validate(data)
    except ValidationError as err:
        lines = []
        for e in err.errors():
            loc = [str(p) for p in e["loc"]]
            table, key = loc[0], (loc[1] if len(loc) > 1 else None)
            line = _line_of(text, table, key) or _line_of(text, table, None)
            where = f"{path}:{line}" if line else str(path)
            name = f"[{table}] {key}" if key else f"[{table}]"
            got = e.get("input")
            if e["type"] == "extra_forbidden":
                known = ", ".join(sorted(LearnerSettings.model_fields if table == "learner" else SessionSettings.model_fields))
                lines.append(f"{where}: unknown key {name} (known keys in [{table}]: {known})")
                continue
            expected = _EXPECTED.get((table, key or ""), e["msg"])
            lines.append(f"{where}: {name} must be {expected}; got {got!r}")
        raise MentorError("invalid settings in mentor.toml:\n" + "\n".join(lines),
                          f"edit {path} and fix the value(s) above; your progress is not affected") from None
    out = dict(data)
    out.update(model.model_dump(include={"learner", "session"}))
    return out
