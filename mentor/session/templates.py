"""Prompt templates with named placeholders: every placeholder must be filled, no value may be unused."""

from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path

from mentor.errors import MentorError
from mentor.paths import prompts_dir


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@lru_cache(maxsize=None)
def load(name: str) -> str:
    path = prompts_dir() / f"{name}.md"
    try:
        return path.read_text(encoding="utf-8")
    except OSError as e:
        raise MentorError(f"prompt template {path} is missing: {e.strerror}", "reinstall mentor") from None


def fill(template: str, values: dict[str, str], name: str = "template") -> str:
    """str.format with named placeholders only; missing or unused values are errors."""
    wanted = placeholders(template)
    missing, unused = wanted - values.keys(), values.keys() - wanted
    if missing or unused:
        raise MentorError(f"prompt {name}: missing values {sorted(missing)}, unused values {sorted(unused)}",
                          "a mentor bug: the template and its caller disagree")
    return template.format_map(values)


def render(name: str, **values: str) -> str:
    return fill(load(name), values, name)


def read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")
