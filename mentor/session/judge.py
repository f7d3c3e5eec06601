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


def quote_ok(quote: str, answer: str, protected: str) -> bool:
    q = _fold(quote)
    if len(q.split()) < MIN_QUOTE_WORDS or q not in _fold(answer):
        return False
    if q in _fold(protected) or addresses_grader(quote):
        return False
    return True


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
        if quote_ok(c.evidence, answer, protected):
            met[i] = True
        else:
            notes.append(f"criterion {c.index}: the judge's evidence {c.evidence[:80]!r} is not a verifiable quote of your answer")
    return met, notes


def judge(client: Any, q: Any, answer: str) -> tuple[Grade, dict[str, Any]]:
    """Grade an explain answer with the LLM judge; the returned record is stored as feedback."""
    from mentor.grading import screen_explanation

    refused = screen_explanation(q, answer)
    if refused:
        return refused, {}
    if addresses_grader(answer):
        return Grade("incorrect", "Your answer contains instructions for the grader; it was not graded. Explain the idea itself."), {"injection": True}
    verdict = client.complete_json(judge_messages(q, answer), JudgeVerdict)
    met, notes = verify(q, answer, verdict)
    record = {"met": met, "rejected": notes, "feedback": verdict.feedback}
    if all(met):
        return Grade("correct", verdict.feedback or "every criterion met"), record
    missed = [c for c, ok in zip(q.rubric, met) if not ok]
    return Grade("incorrect", (verdict.feedback + " " if verdict.feedback else "") + "Not yet shown: " + "; ".join(missed)), record
