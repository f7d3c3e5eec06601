"""A nudge after a wrong answer in the session: more than "✗ not what we were looking for".

In order: the unit's misconception the answer shows (its authored `trigger` regex; or, for a
free-text answer, enough of the misconception's own words), else the step's `hint`, else the unit
hint that shares the most words with the step, else a pointer back to the step. Never the answer:
a misconception is shown by what it wrongly claims, not by its correction (that could give the
answer away); the correction comes with the answer, when it is shown.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mentor.curriculum import Misconception, Unit

MIN_SHARED_WORDS = 3  # a free-text answer "shows" a misconception when it uses this many of its content words
MIN_HINT_WORDS = 2    # a unit hint is "about" the step when it shares this many content words with it
_STOP = set("that this with from into over under then than they them their there these those what when where which "
            "while would could should about after before because being every each only also very just more most such "
            "some other does done make made have will your yours here once both same because".split())


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z][a-z0-9]{3,}", text.lower().replace("_", " ")) if w not in _STOP}


def matching_misconception(unit: Unit, q: Any, answer: str) -> Misconception | None:
    for m in unit.misconceptions:
        if m.trigger and re.search(m.trigger, answer, re.IGNORECASE):
            return m
    if q.kind in ("short", "explain", "predict") and len(answer.split()) >= 3:
        mine = _words(answer)
        best = max(unit.misconceptions, key=lambda m: len(mine & _words(m.wrong)), default=None)
        if best is not None and len(mine & _words(best.wrong)) >= MIN_SHARED_WORDS:
            return best
    return None


def step_hint(unit: Unit, step: int) -> str:
    s = unit.steps[step]
    if s.hint.strip():
        return s.hint.strip()
    topic = _words(s.title + " " + s.question.prompt)
    scored = [(len(topic & _words(h)), h) for h in unit.hints]
    score, hint = max(scored, key=lambda x: x[0], default=(0, ""))
    return hint if score >= MIN_HINT_WORDS else ""


def nudge(unit: Unit, q: Any, answer: str, step: int | None) -> str:
    """What to say after a wrong answer to `q` ('' when there is nothing better than the verdict)."""
    m = matching_misconception(unit, q, answer)
    if m is not None:
        return f"Your answer looks like a common misconception: \"{m.wrong.strip()}\" Where does that reasoning break?"
    if step is None:
        return ""
    hint = step_hint(unit, step)
    if hint:
        return f"A hint: {hint}"
    return f"Re-read step {step + 1} ({unit.steps[step].title}) with /show, then try again."
