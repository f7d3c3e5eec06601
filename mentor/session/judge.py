"""The LLM judge for `explain` answers — trusted only as far as its evidence can be verified.

The answer is wrapped and labelled as data. The judge returns, per rubric criterion, met or not
and a verbatim quote from the answer. The tool then checks every quote: it must occur in the
answer (whitespace and case folded), be at least a few words long, not be copied from the
question or rubric, and not be an instruction aimed at the grader. A criterion without a verified
quote counts as not met. Answers that address the grader are refused before any LLM call.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field

from mentor.grading import Grade
from mentor.session.templates import render

INJECTION = re.compile(
    r"(ignore (all |any |the )?(previous|prior|above|rubric|instructions)|disregard|you are (now )?(the|a) (grader|judge)"
    r"|as the (grader|judge)|mark (every|all|each)|all criteria|every criterion|(\"|')?met(\"|')?\s*:\s*true|\"criteria\""
    r"|system prompt|</?(system|assistant|answer)>|ANSWER>>>|<<<ANSWER|full marks|grade (this|me) as|score (this|me)"
    r"|output (the following|json)|respond with|new instructions)", re.IGNORECASE)
MIN_QUOTE_WORDS = 4
COPY_WORDS = 12  # this many consecutive words of the rubric or model answer count as copying


class CriterionVerdict(BaseModel):
    index: int = Field(ge=1)
    met: bool
    evidence: str = ""


class JudgeVerdict(BaseModel):
    criteria: list[CriterionVerdict]
    feedback: str = ""


def _fold(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip().lower().strip("\"'“”‘’.,;:!")


def addresses_grader(answer: str) -> bool:
    return bool(INJECTION.search(answer))


STOP = set("that this with from into over under then than they them their there these those what when where which "
           "while would could should about after before because being every each only also very just more most such "
           "some other does done make made have will your yours answer learner states notes explains".split())


def _content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z][a-z0-9_]{3,}", text.lower()) if w not in STOP}


def quote_ok(quote: str, answer: str, protected: str, topic: str = "") -> bool:
    """A verifiable quote: in the answer, long enough, not copied from the rubric, not aimed at the grader,
    and about the criterion (it shares a content word with the criterion or the model answer)."""
    q = _fold(quote)
    if len(q.split()) < MIN_QUOTE_WORDS or q not in _fold(answer):
        return False
    if (len(q.split()) >= COPY_WORDS and q in _fold(protected)) or addresses_grader(quote):
        return False
    return not topic or bool(_content_words(q) & _content_words(topic))


def copied(answer: str, protected: str, n: int = COPY_WORDS) -> bool:
    """True when the answer contains n consecutive words of the question, rubric or model answer."""
    words = re.findall(r"\w+", answer.lower())
    source = " " + " ".join(re.findall(r"\w+", protected.lower())) + " "
    return any(f" {' '.join(words[i:i + n])} " in source for i in range(len(words) - n + 1))


def judge_messages(q: Any, answer: str) -> list[dict[str, str]]:
    rubric = "\n".join(f"{i}. {c}" for i, c in enumerate(q.rubric, 1))
    system = render("judge", question=q.prompt.strip(), rubric=rubric, reference_answer=q.reference_answer.strip())
    return [{"role": "system", "content": system},
            {"role": "user", "content": f"<<<ANSWER\n{answer}\nANSWER>>>"}]


def verify(q: Any, answer: str, verdict: JudgeVerdict) -> tuple[list[bool], list[str]]:
    """Per criterion: met only with a verified quote. Returns (met flags, notes on rejected claims)."""
    protected = q.prompt + "\n" + "\n".join(q.rubric) + "\n" + q.reference_answer
    met = [False] * len(q.rubric)
    notes = []
    for c in verdict.criteria:
        i = c.index - 1
        if not 0 <= i < len(met) or not c.met:
            continue
        if quote_ok(c.evidence, answer, protected, topic=q.rubric[i] + " " + q.reference_answer):
            met[i] = True
        else:
            notes.append(f"criterion {c.index}: the judge's evidence {c.evidence[:80]!r} is not a verifiable quote of your answer")
    return met, notes


ECHO_WORDS = 6  # this many consecutive words of the judge's own prompt in its feedback = an echoed instruction


def clean_feedback(feedback: str, prompt: str) -> str:
    """The judge's feedback, or "" when it is empty, trivially short, or echoes the prompt's own text (small models
    copy the template's placeholder: "one or two sentences for the learner, without giving away ...")."""
    text = (feedback or "").strip()
    if len(text.split()) < 3 or copied(text, prompt, n=ECHO_WORDS):
        return ""
    return text


def judge(client: Any, q: Any, answer: str) -> tuple[Grade, dict[str, Any]]:
    """Grade an explain answer with the LLM judge; the returned record is stored as feedback."""
    from mentor.grading import screen_explanation

    refused = screen_explanation(q, answer)
    if refused:
        return refused, {}
    if addresses_grader(answer):
        return Grade("incorrect", "Your answer contains instructions for the grader; it was not graded. Explain the idea itself."), {"injection": True}
    if copied(answer, q.prompt + "\n" + "\n".join(q.rubric) + "\n" + q.reference_answer):
        return Grade("incorrect", "Your answer copies the rubric or the model answer; it was not graded. Use your own words."), {"copied": True}
    messages = judge_messages(q, answer)
    verdict = client.complete_json(messages, JudgeVerdict)
    met, notes = verify(q, answer, verdict)
    feedback = clean_feedback(verdict.feedback, messages[0]["content"])
    record = {"met": met, "rejected": notes, "feedback": verdict.feedback, "feedback_discarded": feedback != verdict.feedback.strip()}
    if all(met):
        return Grade("correct", feedback or f"every criterion met ({len(met)}/{len(met)})"), record
    missed = [c for c, ok in zip(q.rubric, met) if not ok]
    return Grade("incorrect", (feedback + " " if feedback else f"{sum(met)}/{len(met)} criteria shown. ") + "Not yet shown: " + "; ".join(missed)), record
