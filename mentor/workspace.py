"""Learner workspaces: find one (flag, MENTOR_WORKSPACE, cwd upwards), create or repair one, write stubs.

DIR/mentor.toml (marker + settings), DIR/.mentor/progress.db, DIR/myllm/ (the learner's package),
DIR/data/. Creating is idempotent: re-running repairs what is missing and overwrites nothing.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mentor.errors import MentorError

MARKER = "mentor.toml"
ENV_VAR = "MENTOR_WORKSPACE"

TOML_TEMPLATE = """\
# mentor workspace settings. Edit freely; `mentor init` never overwrites this file.
[learner]
name = {name}
# What you want out of the course, in your words (the mentor reads it).
goal = "Build and explain every component of a ~100M-parameter LLM, down to memory layout and gradient flow."

[session]
minutes = 60
"""


@dataclass
class Workspace:
    root: Path
    settings: dict[str, Any] = field(default_factory=dict)  # validated by mentor.settings: the right types, always

    @property
    def db_path(self) -> Path:
        return self.root / ".mentor" / "progress.db"

    @property
    def package(self) -> Path:
        return self.root / "myllm"

    def module_path(self, module: str) -> Path:
        return self.package / f"{module}.py"

    @property
    def learner_name(self) -> str:
        return str(self.settings.get("learner", {}).get("name", "learner"))

    @property
    def learner_goal(self) -> str:
        return str(self.settings.get("learner", {}).get("goal", ""))

    @property
    def session_minutes(self) -> int:
        return int(self.settings.get("session", {}).get("minutes", 60))

    def engine(self):  # -> Engine
        from mentor.store import open_db

        return open_db(self.db_path)


def _read_settings(path: Path) -> dict[str, Any]:
    from mentor.settings import validate_settings

    try:
        text = path.read_text(encoding="utf-8")
    except PermissionError:
        raise MentorError(f"cannot read {path}: permission denied",
                          f"give yourself read access (e.g. `chmod u+r {path}`); the file itself is fine") from None
    except (OSError, UnicodeDecodeError) as e:
        raise MentorError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}", "check the file and its permissions") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise MentorError(f"{path}: invalid TOML: {e}",
                          "fix the syntax at that line (your progress lives in .mentor/progress.db and is not affected)") from None
    return validate_settings(path, text, data)


def _enclosing_workspace(path: Path) -> Path | None:
    """The workspace that already contains `path` (a parent holding mentor.toml), if any."""
    for d in path.parents:
        if (d / MARKER).is_file():
            return d
    return None


def find_workspace(explicit: Path | None = None) -> Workspace:
    """--workspace beats MENTOR_WORKSPACE beats the current directory and its parents."""
    if explicit is not None or os.environ.get(ENV_VAR):
        root = Path(explicit or os.environ[ENV_VAR]).expanduser().resolve()
        source = "--workspace" if explicit is not None else ENV_VAR
        if not (root / MARKER).is_file():
            raise MentorError(f"{root} is not a mentor workspace (no {MARKER}); it was given by {source}",
                              f"create it with `mentor init {root}`")
        return Workspace(root, _read_settings(root / MARKER))
    here = Path.cwd().resolve()
    for d in (here, *here.parents):
        if (d / MARKER).is_file():
            return Workspace(d, _read_settings(d / MARKER))
    raise MentorError(f"not inside a mentor workspace (no {MARKER} in {here} or its parents)",
                      "create one with `mentor init DIR` and cd into it, or pass --workspace DIR / set MENTOR_WORKSPACE")


def create_workspace(root: Path, name: str) -> tuple[Workspace, list[str]]:
    """Create or repair a workspace; returns it and what was created (nothing existing is overwritten)."""
    outer = _enclosing_workspace(root.expanduser().resolve())
    if outer is not None and not (root / MARKER).is_file():
        raise MentorError(f"{root.resolve()} is inside the workspace {outer}: a workspace there would hide this one's progress",
                          f"run mentor commands from anywhere inside {outer} (they find it), "
                          "or create the new workspace outside it, e.g. `mentor init ~/myllm2`")
    try:
        return _create(root, name)
    except OSError as e:
        raise MentorError(f"cannot create the workspace at {root}: {e.strerror} ({e.filename})",
                          "choose a folder you can write to, e.g. `mentor init ~/myllm`") from None


def _create(root: Path, name: str) -> tuple[Workspace, list[str]]:
    made: list[str] = []
    if root.exists() and not root.is_dir():
        raise MentorError(f"{root} exists and is not a directory", "choose another path for the workspace")
    root.mkdir(parents=True, exist_ok=True)
    marker = root / MARKER
    if not marker.exists():
        marker.write_text(TOML_TEMPLATE.format(name=_toml_str(name)), encoding="utf-8")
        made.append(MARKER)
    for d in (".mentor", "myllm", "data"):
        if not (root / d).is_dir():
            (root / d).mkdir()
            made.append(d + "/")
    init = root / "myllm" / "__init__.py"
    if not init.exists():
        init.write_text('"""My LLM, built from first principles with mentor."""\n', encoding="utf-8")
        made.append("myllm/__init__.py")
    gitignore = root / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text(".mentor/\ndata/\n__pycache__/\n", encoding="utf-8")
        made.append(".gitignore")
    ws = Workspace(root.resolve(), _read_settings(marker))
    if not ws.db_path.exists():
        made.append(".mentor/progress.db")
    return ws, made


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_stubs(ws: Workspace, units: list[Any]) -> list[str]:
    """Add each unit's missing stub names to myllm/<module>.py; returns 'module: names' lines."""
    from mentor.stubs import add_stubs

    added = []
    for unit in units:
        names = add_stubs(ws.module_path(unit.exercise.module), unit.starter_path, unit.id)
        if names:
            added.append(f"myllm/{unit.exercise.module}.py: {', '.join(names)}")
    return added
