"""The architecture reviews' question bank: curriculum/interview.yaml, validated on load.

A review opens after its phase (`after_phase: N`: every unit of phase N proficient) or at the end
of the course (`after_phase: course`: every unit proficient). Its questions are `explain`-style:
a prompt about the learner's own model with {me:...} and {hw:...} placeholders, a rubric of
binary criteria and a reference answer. Passing a review means every question's criteria met.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mentor.errors import MentorError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReviewQuestion(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    ask: str = Field(min_length=20)
    rubric: list[str] = Field(min_length=2)
    reference_answer: str = Field(min_length=40)
    min_words: int = Field(25, ge=1, description="Shorter answers are refused before any grading.")


class Review(_Strict):
    id: str = Field(pattern=r"^(phase[1-5]|final)$")
    title: str
    after_phase: Union[int, Literal["course"]]
    questions: list[ReviewQuestion] = Field(min_length=1)


class BankFile(_Strict):
    reviews: list[Review] = Field(min_length=1)


@dataclass
class AskedQuestion:
    """A bank question with its placeholders filled: what the judge and the self-assessment see.

    Named like a unit's explain question (prompt, rubric, reference_answer, min_words, kind) so the
    same judge and screening code grade it."""

    id: str
    prompt: str
    rubric: list[str]
    reference_answer: str
    min_words: int
    kind: str = "explain"


def bank_path() -> Path:
    from mentor.paths import curriculum_dir

    return curriculum_dir() / "interview.yaml"


@lru_cache(maxsize=None)
def load_bank(path: Path | None = None) -> BankFile:
    import yaml

    path = path or bank_path()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise MentorError(f"cannot read the review bank {path}: {e.strerror}", "reinstall mentor") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise MentorError(f"{where}: the review bank is not valid YAML ({getattr(e, 'problem', e)})",
                          "fix the YAML syntax there") from None
    try:
        bank = BankFile.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise MentorError(f"{path}: field {loc}: {err['msg']}", "see the comment at the top of the file") from None
    ids = [r.id for r in bank.reviews]
    if len(ids) != len(set(ids)):
        raise MentorError(f"{path}: a review id appears twice ({', '.join(sorted(ids))})", "give each review its own id")
    qids = [q.id for r in bank.reviews for q in r.questions]
    dup = sorted({q for q in qids if qids.count(q) > 1})
    if dup:
        raise MentorError(f"{path}: question ids appear twice: {', '.join(dup)}", "question ids are unique across the bank")
    return bank


def review(review_id: str) -> Review:
    bank = load_bank()
    for r in bank.reviews:
        if r.id == review_id:
            return r
    raise MentorError(f"there is no review '{review_id}'", "reviews: " + ", ".join(r.id for r in bank.reviews))


def asked(q: ReviewQuestion, values: dict[str, str], profile: dict | None = None) -> AskedQuestion:
    """The question as the learner sees it: {me:...} from the context, {hw:...} from the hardware reference."""
    from mentor.hardware_ref import resolve
    from mentor.interview.context import fill

    def text(s: str) -> str:  # YAML block text -> paragraphs (the terminal wraps them)
        paras = [" ".join(line.strip() for line in p.splitlines()) for p in s.strip().split("\n\n")]
        return resolve(fill("\n\n".join(paras), values), profile)

    return AskedQuestion(q.id, text(q.ask), [text(c) for c in q.rubric], text(q.reference_answer), q.min_words)


def problems(values: dict[str, str]) -> list[str]:
    """Placeholders of the bank that do not resolve (the self-check reports them)."""
    from mentor.hardware_ref import unresolved
    from mentor.interview.context import unknown_keys

    out = []
    for r in load_bank().reviews:
        for q in r.questions:
            for field_name, s in (("ask", q.ask), ("reference_answer", q.reference_answer),
                                  *((f"rubric[{i}]", c) for i, c in enumerate(q.rubric))):
                bad = unknown_keys(s, values) + unresolved(s)
                if bad:
                    out.append(f"interview.yaml {r.id}/{q.id} {field_name}: unknown placeholder {', '.join(bad)}")
    return out
