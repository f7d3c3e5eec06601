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

ACK = (r"ok(ay)?|yes|yeah|yep|sure|got it|i get it|i see|i understand|understood|makes sense|that makes sense|"
       r"clear|cool|fine|thanks?|thank you|i know|obviously|idk|i don'?t know|no idea")
# Refused wherever an answer is expected (every kind; not an attempt). "True" is a real predict output, "k" a short answer.
PASSIVE_ANY = re.compile(rf"^\s*(({ACK})[\s.,!?]*|[\s.?]*)$", re.IGNORECASE)
PASSIVE = re.compile(rf"^\s*({ACK}|k|right|correct|true|\?+|\.+)\W*$", re.IGNORECASE)  # explanations: these too
NUDGE = "Saying you get it is not evidence. Reason it through and give your actual answer (it was not counted as a try)."
# Wrong answers allowed before the answer is shown (then it no longer counts: the question comes back in a review).
# A choice gets one: a second pick is elimination. A review, or a question back after a reveal, gets one too.
MAX_TRIES = {"choice": 1, "numeric": 2, "short": 2, "predict": 2, "explain": 2}


@dataclass
class Grade:
    verdict: str  # correct | incorrect | refused | needs_self_assessment
    feedback: str
    chosen: str | None = None  # choice: the text of the option picked


def option_order(unit_id: str, qid: str, attempt: int, n: int) -> list[int]:
    """The order a choice question's options are shown in at this attempt (original 0-based indices).

    Deterministic per (unit, question, attempt number), so a test can reproduce it; a new attempt
    gets a new order, so answering by letter A, B, C, D in turn is no strategy."""
    import hashlib
    import random

    seed = int.from_bytes(hashlib.sha256(f"{unit_id}/{qid}/{attempt}".encode()).digest()[:8], "big")
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return order


def answer_text(q: Any) -> str:
    """The correct answer as shown when it is revealed."""
    if q.kind == "numeric":
        return f"{q.answer:.10g}" + (f" {q.unit}" if q.unit else "")
    if q.kind == "choice":
        return q.options[q.answer]
    if q.kind == "short":
        return q.answers[0] if q.answers else f"(matching {q.regex})"
    if q.kind == "predict":
        return q.answer.strip()
    return q.reference_answer.strip()


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


_BYTE_UNIT = re.compile(r"([kmgtp]i?b|b|bytes?)", re.IGNORECASE)


def _unit_mismatch(q: Any, answer: str) -> str | None:
    """A byte unit written after the number that is not the question's (GB for a GiB question, MiB for MB)."""
    m = re.search(r"[\d.]\s*([a-zA-Z]+)\s*$", answer.strip())
    if not (m and q.unit and _BYTE_UNIT.fullmatch(m.group(1)) and _BYTE_UNIT.fullmatch(q.unit)):
        return None
    said, asked = m.group(1).lower().rstrip("s"), q.unit.lower().rstrip("s")
    if said == asked or {said, asked} <= {"b", "byte"}:
        return None
    return (f"the question asks in {q.unit} and you wrote {m.group(1)} (1 GB = 10^9 B, 1 GiB = 2^30 B): "
            f"convert and answer in {q.unit} (not counted as a try)")


def _numeric(q: Any, answer: str) -> Grade:
    mismatch = _unit_mismatch(q, answer)
    if mismatch:
        return Grade("refused", mismatch)
    v = parse_number(answer)
    if v is None:
        return Grade("refused", f"'{answer.strip()}' is not a number; answer with digits, e.g. 0.25 or 1.6e7")
    tol = max(q.tolerance, q.rel_tolerance * abs(q.answer))
    if abs(v - q.answer) <= tol + 1e-12 * max(1.0, abs(q.answer)):
        return Grade("correct", "correct")
    return Grade("incorrect", f"{v:g} is not correct")  # no direction or closeness: that would allow a search


def _choice(q: Any, answer: str, order: list[int] | None = None) -> Grade:
    """By letter (or number) of the order shown, or by the option's text."""
    order = order or list(range(len(q.options)))
    a = answer.strip()
    pos: int | None = None
    by_text = [k for k, i in enumerate(order) if normalise(q.options[i]) == normalise(a)]
    if by_text:
        pos = by_text[0]
    elif len(a) == 1 and a.isalpha():
        pos = ord(a.upper()) - ord("A")
    elif a.isdigit():
        pos = int(a) - 1
    if pos is None or not 0 <= pos < len(order):
        letters = ", ".join(chr(65 + i) for i in range(len(order)))
        return Grade("refused", f"answer with one of the letters {letters} (or the option's text)")
    chosen = q.options[order[pos]]
    if order[pos] == q.answer:
        return Grade("correct", "correct", chosen)
    return Grade("incorrect", f"{chr(65 + pos)} ({chosen}) is not correct", chosen)


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


_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w.])")
NORMALISED = "correct (accepted by normalisation: the same values, written differently — spacing, 0 vs 0.0, quotes)"


def _chunks(text: str) -> list[str]:
    """Split printed output at whitespace outside brackets and quotes: "(3, 3) (3,)" -> ["(3, 3)", "(3,)"]."""
    out, cur, depth, quote = [], "", 0, ""
    for ch in text.strip():
        if quote:
            cur += ch
            if ch == quote and not cur.endswith("\\" + quote):
                quote = ""
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        if ch.isspace() and depth == 0:
            if cur:
                out.append(cur)
            cur = ""
            continue
        cur += ch
    if cur:
        out.append(cur)
    return out


def _canon_value(v: Any) -> Any:
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, (int, float)):
        return ("num", float(v))
    if isinstance(v, (list, tuple)):
        return (type(v).__name__, tuple(_canon_value(x) for x in v))
    if isinstance(v, dict):
        return ("dict", tuple(sorted((repr(_canon_value(k)), _canon_value(x)) for k, x in v.items())))
    return (type(v).__name__, v)


def _canon(text: str) -> list[Any]:
    """Printed output as comparable values: Python literals by value (0 == 0.0, either quote style), other text
    without spaces and with its numbers written one way."""
    import ast

    out = []
    for c in _chunks(text):
        try:
            out.append(_canon_value(ast.literal_eval(c)))
            continue
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            pass
        out.append(("text", _NUMBER.sub(lambda m: repr(float(m.group(0))), re.sub(r"\s+", "", c))))
    return out


def _predict(q: Any, answer: str) -> Grade:
    norm = lambda s: re.sub(r"\s+", " ", s.strip())  # noqa: E731
    if not answer.strip():
        return Grade("refused", "type what you think the code prints")
    if norm(answer) == norm(q.answer):
        return Grade("correct", "correct")
    if _canon(answer.strip().strip("`")) == _canon(q.answer):
        return Grade("correct", NORMALISED)
    return Grade("incorrect", "that is not what the snippet prints")  # the output is shown only when revealed


def screen_explanation(q: Any, answer: str) -> Grade | None:
    """Refuse passive acknowledgements and too-short answers without asking any LLM."""
    if PASSIVE.match(answer) or not answer.strip():
        return Grade("refused", "Saying you get it is not evidence. Explain it in your own words: what happens, and why.")
    words = len(re.findall(r"\w+", answer))
    if words < q.min_words:
        return Grade("refused", f"Too short to show your reasoning ({words} words; at least {q.min_words}). Say what happens and why.")
    return None


def grade(q: Any, answer: str, order: list[int] | None = None) -> Grade:
    """Grade an auto-gradable answer; for `explain`, screen it and ask for self-assessment.

    A passive acknowledgement ("ok", "got it", an empty line) is refused for every kind. `order` is
    the order a choice question's options were shown in (see option_order)."""
    if q.kind != "explain" and PASSIVE_ANY.match(answer):
        return Grade("refused", NUDGE)
    if q.kind == "numeric":
        return _numeric(q, answer)
    if q.kind == "choice":
        return _choice(q, answer, order)
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
