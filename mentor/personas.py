"""Mentor personas: the shipped default and versioned ones generated for the learner.

Generated personas live in <config dir>/mentors/<name>-v<N>.md (MENTOR_HOME overrides the config
dir). `--mentor NAME` picks the newest version of NAME (or NAME-vN exactly); sessions record the
persona's name and hash, so progress carries across mentors.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mentor.errors import MentorError
from mentor.session.prompting import Persona, default_persona


def mentors_dir() -> Path:
    from mentor.llm.config import config_dir

    return config_dir() / "mentors"


def list_personas() -> list[Persona]:
    out = [default_persona()]
    d = mentors_dir()
    if d.is_dir():
        out += [Persona(p.stem, p.read_text(encoding="utf-8")) for p in sorted(d.glob("*.md"))]
    return out


def _version(stem: str) -> tuple[str, int]:
    m = re.fullmatch(r"(.+)-v(\d+)", stem)
    return (m.group(1), int(m.group(2))) if m else (stem, 0)


def get_persona(name: str | None) -> Persona:
    if not name or name == "default":
        return default_persona()
    found = [p for p in list_personas() if p.name == name or _version(p.name)[0] == name]
    if not found:
        names = ", ".join(sorted({_version(p.name)[0] for p in list_personas()}))
        raise MentorError(f"no mentor persona named '{name}'", f"available: {names}; make one with `mentor mentors generate`")
    return max(found, key=lambda p: _version(p.name)[1])


def save_persona(name: str, text: str) -> Persona:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,40}", name):
        raise MentorError(f"invalid mentor name '{name}'", "use lowercase letters, digits, - and _")
    if "{mentor_name}" not in text:
        text = "You are {mentor_name}.\n\n" + text
    text = re.sub(r"\{(?!mentor_name\})", "{{", text)
    text = re.sub(r"(?<!\{mentor_name)\}", "}}", text)
    d = mentors_dir()
    d.mkdir(parents=True, exist_ok=True)
    versions = [_version(p.stem)[1] for p in d.glob(f"{name}-v*.md") if _version(p.stem)[0] == name]
    stem = f"{name}-v{max(versions, default=0) + 1}"
    (d / f"{stem}.md").write_text(text, encoding="utf-8")
    return Persona(stem, text)


def generate_persona(client: Any, ws: Any, name: str, machine: Any = None) -> Persona:
    from mentor.session.prompting import hardware_text, learner_profile
    from mentor.session.templates import render

    from mentor.session.generated import persona_problems

    prompt = render("generator", learner_profile=learner_profile(ws), hardware=hardware_text(machine))
    problems: list[str] = []
    for _ in range(2):  # one retry: a second junk reply is not saved
        reply = client.stream_chat([{"role": "user", "content": prompt}], max_tokens=900)
        text = reply.content.strip()
        problems = persona_problems(text, reply.status) if text else [f"no text ({reply.error or reply.status})"]
        if not problems:
            return save_persona(name, text)
    raise MentorError(f"the generated persona was not usable twice ({'; '.join(problems)}); nothing was saved",
                      "the built-in persona stays in use; try again later or with a larger model")
