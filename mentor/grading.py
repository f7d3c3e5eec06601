"""Grading checkpoint questions. numeric, choice, short and predict are graded here, exactly.

`explain` answers are first screened (passive acknowledgements and too-short answers are refused
without any LLM); offline they are self-assessed against the rubric, shown after answering; the
LLM judge (session issue) grades them with verified evidence quotes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

PASSIVE = re.compile(
    r"^\s*(ok(ay)?|k|yes|yeah|yep|sure|got it|i get it|i understand|understood|makes sense|that makes sense|"
    r"clear|cool|fine|right|correct|true|thanks?|thank you|i know|obviously|idk|i don'?t know|no idea|\?+|\.+)\W*$",
    re.IGNORECASE)


@dataclass
class Grade:
    verdict: str  # correct | incorrect | refused | needs_self_assessment
    feedback: str


def normalise(text: str) -> str:
    t = text.strip().strip("`").replace("`", "").lower()
    t = re.sub(r"\s+", " ", t)
    return t.rstrip(".").strip()


def parse_number(text: str) -> float | None:
    t = text.strip().replace(",", "").replace("_", "")
    t = re.sub(r"[a-zA-Z%/\s]+$", "", t) if not re.fullmatch(r"\s*-?\d+\s*/\s*\d+\s*", t) else t
    m = re.fullmatch(r"\s*(-?\d+)\s*/\s*(\d+)\s*", t)
    if m:
        return int(m.group(1)) / int(m.group(2)) if int(m.group(2)) else None
    m = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*\*\s*10\s*\^\s*(-?\d+)\s*", t)
    if m:
        return float(m.group(1)) * 10 ** int(m.group(2))
    m = re.fullmatch(r"\s*2\s*\^\s*(\d+)\s*", t)
    if m:
        return float(2 ** int(m.group(1)))
    try:
        v = float(t)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _numeric(q: Any, answer: str) -> Grade:
    v = parse_number(answer)
    if v is None:
        return Grade("refused", f"'{answer.strip()}' is not a number; answer with digits, e.g. 0.25 or 1.6e7")
    tol = max(q.tolerance, q.rel_tolerance * abs(q.answer))
    if abs(v - q.answer) <= tol + 1e-12 * max(1.0, abs(q.answer)):
        return Grade("correct", "correct")
    direction = "too high" if v > q.answer else "too low"
    return Grade("incorrect", f"not quite: {v:g} is {direction}")


def _choice(q: Any, answer: str) -> Grade:
    a = answer.strip()
    idx: int | None = None
    if len(a) == 1 and a.isalpha():
        idx = ord(a.upper()) - ord("A")
    elif a.isdigit():
        idx = int(a) - 1
    else:
        matches = [i for i, o in enumerate(q.options) if normalise(o) == normalise(a)]
        idx = matches[0] if matches else None
    if idx is None or not 0 <= idx < len(q.options):
        letters = ", ".join(chr(65 + i) for i in range(len(q.options)))
        return Grade("refused", f"answer with one of the letters {letters}")
    return Grade("correct", "correct") if idx == q.answer else Grade("incorrect", f"{chr(65 + idx)} is not it")


def _short(q: Any, answer: str) -> Grade:
    n = normalise(answer)
    if not n:
        return Grade("refused", "empty answer")
    squash = n.replace(" ", "")
    if any(squash == normalise(x).replace(" ", "") for x in q.answers):
        return Grade("correct", "correct")
    if q.regex and re.fullmatch(q.regex, n, flags=re.IGNORECASE):
        return Grade("correct", "correct")
    return Grade("incorrect", "not what we were looking for")


def _predict(q: Any, answer: str) -> Grade:
    norm = lambda s: re.sub(r"\s+", " ", s.strip())  # noqa: E731
    if not answer.strip():
        return Grade("refused", "type what you think the code prints")
    if norm(answer) == norm(q.answer):
        return Grade("correct", "correct")
    return Grade("incorrect", f"the snippet prints:\n{q.answer.strip()}")


def screen_explanation(q: Any, answer: str) -> Grade | None:
    """Refuse passive acknowledgements and too-short answers without asking any LLM."""
    if PASSIVE.match(answer) or not answer.strip():
        return Grade("refused", "Saying you get it is not evidence. Explain it in your own words: what happens, and why.")
    words = len(re.findall(r"\w+", answer))
    if words < q.min_words:
        return Grade("refused", f"Too short to show your reasoning ({words} words; at least {q.min_words}). Say what happens and why.")
    return None


def grade(q: Any, answer: str) -> Grade:
    """Grade an auto-gradable answer; for `explain`, screen it and ask for self-assessment."""
    if q.kind == "numeric":
        return _numeric(q, answer)
    if q.kind == "choice":
        return _choice(q, answer)
    if q.kind == "short":
        return _short(q, answer)
    if q.kind == "predict":
        return _predict(q, answer)
    refused = screen_explanation(q, answer)
    return refused or Grade("needs_self_assessment", "compare your answer with each rubric criterion")


def self_assessment(q: Any, met: list[bool]) -> Grade:
    if len(met) != len(q.rubric):
        raise ValueError("one verdict per rubric criterion")
    if all(met):
        return Grade("self_correct", "self-assessed: every criterion met")
    missed = [c for c, ok in zip(q.rubric, met) if not ok]
    return Grade("self_incorrect", "self-assessed: not yet met: " + "; ".join(missed))
