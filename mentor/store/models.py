"""sqlmodel tables mirroring the migrated schema (the migrations own the DDL; a test keeps both in step)."""

from __future__ import annotations

from typing import Optional

from sqlmodel import Field, SQLModel


class Profile(SQLModel, table=True):
    id: int = Field(default=1, primary_key=True)
    name: str = "learner"
    created_at: str
    notes: str = ""


class UnitProgress(SQLModel, table=True):
    __tablename__ = "unit_progress"
    unit_id: str = Field(primary_key=True)
    state: str = "locked"
    first_pass_at: Optional[str] = None
    proficient_at: Optional[str] = None
    mastered_at: Optional[str] = None
    hints_used: int = 0
    time_spent_s: float = 0.0


class Attempt(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    unit_id: str
    created_at: str
    seed: int
    status: str
    verdict: Optional[str] = None
    message: str = ""
    results_json: str = "{}"
    duration_s: float = 0.0
    code_hash: str = ""
    session_id: Optional[int] = None
    machine_host: Optional[str] = None  # where the check ran (the two-machine course: GPU workstation, CPU laptop)
    machine_cpu: Optional[str] = None
    machine_gpu: Optional[str] = None


class Answer(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    unit_id: str
    question_id: str
    created_at: str
    answer: str
    verdict: str  # correct | incorrect | self_correct | self_incorrect | refused | pending | revealed
    grader: str  # auto | self | llm
    feedback: str = ""
    session_id: Optional[int] = None
    is_review: int = 0
    counts: int = 1  # 0: recorded only (refused, or given after the answer was shown / the tries ran out)
    revealed: int = 0  # 1: the answer was shown after this row (or found only by trial and error)
    option_order: Optional[str] = None  # choice: the shown order, original 0-based indices, e.g. "2,0,3,1"
    chosen: Optional[str] = None  # choice: the text of the option chosen


class HintUse(SQLModel, table=True):
    __tablename__ = "hint_use"
    id: Optional[int] = Field(default=None, primary_key=True)
    unit_id: str
    level: int
    created_at: str


class Session(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    started_at: str
    ended_at: Optional[str] = None
    unit_id: Optional[str] = None
    step_index: int = 0
    minutes_planned: int = 60
    offline: int = 1
    went_offline_at: Optional[str] = None  # online at the start, offline after provider failures
    back_online_at: Optional[str] = None
    mentor_name: Optional[str] = None
    mentor_hash: Optional[str] = None
    provider: Optional[str] = None
    model: Optional[str] = None
    summary: str = ""
    next_step: str = ""


class Message(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    session_id: int
    created_at: str
    role: str
    content: str
    reasoning: str = ""
    status: str = "complete"
    provider: Optional[str] = None
    model: Optional[str] = None
    persona: Optional[str] = None
    prompt_tokens: Optional[int] = None
    cached_tokens: Optional[int] = None
    completion_tokens: Optional[int] = None
    reasoning_tokens: Optional[int] = None
    cost_usd: Optional[float] = None
    latency_s: Optional[float] = None


class ReviewCard(SQLModel, table=True):
    __tablename__ = "review_card"
    unit_id: str = Field(primary_key=True)
    question_id: str = Field(primary_key=True)
    due_at: str
    state_json: str = "{}"
    reps: int = 0
    lapses: int = 0
    last_review_at: Optional[str] = None


class MachineProfile(SQLModel, table=True):
    """One `mentor doctor --measure` run: a machine's measured bandwidth and FLOP/s (results_json)."""

    __tablename__ = "machine_profile"
    id: Optional[int] = Field(default=None, primary_key=True)
    machine_key: str = Field(index=True)
    hostname: str
    cpu_model: str
    gpu_name: Optional[str] = None
    measured_at: str
    results_json: str = "{}"


class LabRun(SQLModel, table=True):
    """One `mentor lab` run: what was measured on which machine, the prediction and the bound (figures_json)."""

    __tablename__ = "lab_run"
    id: Optional[int] = Field(default=None, primary_key=True)
    unit_id: str
    created_at: str
    session_id: Optional[int] = None
    code_hash: str = ""
    seed: int
    machine_key: str
    hostname: str
    figure_key: str
    unit_label: str = ""  # the figure's unit, e.g. GB/s
    predicted: Optional[float] = None
    measured: Optional[float] = None
    factor: float
    within: Optional[int] = None  # 1: the prediction was within the factor of the measurement
    bound: Optional[float] = None
    bound_source: Optional[str] = None  # run | profile | class
    status: str  # measured | failed
    message: str = ""
    figures_json: str = "{}"
    svg_path: Optional[str] = None


class Interview(SQLModel, table=True):
    """One architecture review taken (`mentor interview`): passed when every question's criteria were met."""

    id: Optional[int] = Field(default=None, primary_key=True)
    review: str
    started_at: str
    finished_at: Optional[str] = None
    machine_host: str = ""
    practice: int = 0  # taken before it opened (--practice): recorded, never counts
    grader: str = "self"  # llm, self, or mixed (the judge failed on some questions)
    passed: int = 0
    questions: int = 0
    questions_passed: int = 0
    context_json: str = "{}"  # the {me:...} facts the questions were built from


class InterviewAnswer(SQLModel, table=True):
    __tablename__ = "interview_answer"
    id: Optional[int] = Field(default=None, primary_key=True)
    review: str
    interview_started_at: str  # with review: which Interview row (a natural key, so sync needs no id remapping)
    question_id: str
    created_at: str
    asked: str  # the question as shown, placeholders filled
    answer: str
    follow_up: Optional[str] = None
    follow_up_answer: Optional[str] = None
    grader: str  # llm or self
    verdict: str  # correct, incorrect, self_correct, self_incorrect, refused
    met_json: str = "[]"
    feedback: str = ""
