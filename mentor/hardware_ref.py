"""The course's hardware reference (curriculum/hardware.yaml) and the {hw:CLASS.FIGURE} placeholders lessons use.

A placeholder renders as the class figure ("288-960 GB/s"); where the learner has measured the
same quantity (`mentor doctor --measure`), their figure follows it ("10-20 GB/s; your machine:
30 GB/s"). Unknown placeholders are errors for the self-check and show as themselves otherwise.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

PLACEHOLDER = re.compile(r"\{hw:([a-z0-9_]+)\.([a-z0-9_]+)\}")


@lru_cache(maxsize=1)
def reference() -> dict[str, Any]:
    import yaml

    from mentor.paths import curriculum_dir

    path = curriculum_dir() / "hardware.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return data.get("classes", {})


def _fmt(v: Any) -> str:
    if isinstance(v, list):
        return "–".join(_fmt(x) for x in v)
    return f"{v:g}" if isinstance(v, (int, float)) else str(v)


def figure(cls: str, name: str) -> dict[str, Any] | None:
    return (reference().get(cls, {}).get("figures") or {}).get(name)


def render_figure(cls: str, name: str, profile: dict[str, Any] | None = None) -> str | None:
    """The figure as text, with the learner's measurement when there is one; None if unknown."""
    f = figure(cls, name)
    if f is None:
        return None
    text = f"{_fmt(f['value'])} {f.get('unit', '')}".strip()
    if profile:
        if f.get("measured") in profile:
            text += f", your machine: {profile[f['measured']]:.0f} {f.get('unit', '')}".rstrip()
        elif f.get("measured_gflops") in profile:
            text += f", your machine: {profile[f['measured_gflops']] / 1e3:.2f} TFLOP/s"
    return text


def resolve(text: str, profile: dict[str, Any] | None = None) -> str:
    """Replace every known {hw:...} placeholder in `text`."""
    def sub(m: re.Match[str]) -> str:
        out = render_figure(m.group(1), m.group(2), profile)
        return out if out is not None else m.group(0)
    return PLACEHOLDER.sub(sub, text)


def unresolved(text: str) -> list[str]:
    """Placeholders in `text` that name no figure of the reference."""
    return [m.group(0) for m in PLACEHOLDER.finditer(text) if figure(m.group(1), m.group(2)) is None]
