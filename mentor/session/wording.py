"""What the session says, in the session's own terms: in-session commands, titles, question numbers.

The lesson and check renderers (mentor/lesson.py, mentor/render.py) are shared with the shell
commands, so their advice names shell commands (`mentor check neuron`, `mentor hint neuron`) and
their headings carry question ids for `mentor ask -q`. Inside `mentor start` the learner types
/check and /hint, and an id like `step1-shape` means nothing: `in_session` rewrites that advice,
and `question_label` names a question the way the learner sees it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mentor.curriculum import Unit

_UNIT = r"[a-z0-9][\w-]*"
_RULES: list[tuple[re.Pattern[str], str]] = [
    # the replay advice after a failed check: the seed is recorded; replaying it is a shell matter
    (re.compile(rf"replay these inputs: `?mentor check {_UNIT} --seed \d+`?\s*·\s*"), ""),
    (re.compile(rf"Run `?(\*\*)?mentor ask {_UNIT}(\*\*)?`? to answer the questions\."), "The unit's questions follow here."),
    (re.compile(rf"answer the unit's (\d+) questions: `mentor ask {_UNIT}`\."), r"answer the unit's \1 questions (they follow here)."),
    (re.compile(rf"`?mentor check {_UNIT}(?: --[\w-]+(?: \S+)?)*`?"), "/check"),
    (re.compile(rf"`?mentor hint {_UNIT}`?"), "/hint"),
    (re.compile(rf" — `mentor show {_UNIT}`"), ""),  # "Unlocked: X — `mentor show X`": the session goes there next
    (re.compile(rf"`?mentor show {_UNIT}`?"), "/show all"),
    (re.compile(r"`mentor status`|\bmentor status\b"), "/status"),
    (re.compile(r"`mentor check`"), "/check"),
    (re.compile(rf"\(a correct review on a later day makes it mastered: `?mentor review`?\)"),
     "(a correct review on a later day makes it mastered; due reviews open each session)"),
    # the question id in a step's "Check yourself (`step1-shape`)" heading
    (re.compile(r"(\*\*Check yourself\*\*) \(`[^`\n]+`\)"), r"\1"),
]


def in_session(text: str) -> str:
    """`text` with shell advice turned into in-session commands and question ids left out."""
    for pattern, repl in _RULES:
        text = pattern.sub(repl, text)
    return text


SHELL_ADVICE = re.compile(r"\bmentor (check|hint|show|ask|status|review|start|config|init|log|reset)\b")


def question_label(unit: Unit, qid: str) -> str:
    """How the learner knows a question: "the question of step 2 (Sigmoid, ...)" or "question 3 of 4"."""
    for i, s in enumerate(unit.steps):
        if s.question.id == qid:
            return f"the question of step {i + 1} ({s.title})"
    for i, q in enumerate(unit.questions):
        if q.id == qid:
            return f"question {i + 1} of {len(unit.questions)}"
    return "a question"


def short_label(unit: Unit, qid: str) -> str:
    """A question's name inside a sentence: "step 2's question" or "question 3"."""
    for i, s in enumerate(unit.steps):
        if s.question.id == qid:
            return f"step {i + 1}'s question"
    for i, q in enumerate(unit.questions):
        if q.id == qid:
            return f"question {i + 1}"
    return "a question"


def name_questions(unit: Unit, text: str) -> str:
    """`text` (e.g. what is missing for proficiency) with the unit's question ids replaced by their labels."""
    for q in sorted(unit.all_questions(), key=lambda q: -len(q.id)):
        text = re.sub(rf"(?<![\w-]){re.escape(q.id)}(?![\w-])", short_label(unit, q.id), text)
    return in_session(text)
