"""Checks on what an LLM writes before mentor keeps it: generated personas and session summaries.

A persona that was cut off at the deadline, runs far past its length, or lacks the required
opening and heading is junk: it would sit at the top of every future system prompt. A summary
without its SUMMARY/NEXT markers, or a ramble, would open the next session as "Last time: ...".
Each is retried once by the caller; a second failure keeps the built-in text and says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PERSONA_WORDS = (80, 400)  # the generator asks for 120-250; some slack either way
SUMMARY_MAX_CHARS = 1200
NEXT_MAX_CHARS = 300


def persona_problems(text: str, status: str) -> list[str]:
    """Why a generated persona cannot be kept ([] when it can)."""
    problems = []
    words = len(text.split())
    if status != "complete":
        problems.append(f"the reply did not finish ({status})")
    if not PERSONA_WORDS[0] <= words <= PERSONA_WORDS[1]:
        problems.append(f"{words} words (expected {PERSONA_WORDS[0]}-{PERSONA_WORDS[1]})")
    if "{mentor_name}" not in text and not re.match(r"\s*you are\b", text, re.IGNORECASE):
        problems.append('it does not start with "You are {mentor_name}"')
    if not re.search(r"^#{1,3}\s*your character", text, re.IGNORECASE | re.MULTILINE):
        problems.append('no "# Your character" section')
    if "```" in text:
        problems.append("it contains a code block")
    return problems


@dataclass(frozen=True)
class Summary:
    summary: str
    next_step: str


def parse_summary(text: str | None) -> Summary | None:
    """SUMMARY: ... NEXT: ... within the length limits, else None."""
    if not text:
        return None
    m = re.search(r"SUMMARY:\s*(.+?)\s*NEXT:\s*(.+)", text, re.DOTALL | re.IGNORECASE)
    if not m:
        return None
    summary, nxt = m.group(1).strip(), m.group(2).strip()
    if not summary or not nxt or len(summary) > SUMMARY_MAX_CHARS or len(nxt) > NEXT_MAX_CHARS:
        return None
    return Summary(summary, nxt)
