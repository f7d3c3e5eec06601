"""The curriculum format: pydantic models of course.yaml and unit.yaml, loading with file:line errors.

A course is an ordered list of phases, each an ordered list of unit ids; the order is the
progression. A unit is one folder `curriculum/p<phase>/<NN>-<id>/` holding `unit.yaml`, the
starter stub, the hidden tests and `mutants/`. A unit listed in course.yaml without a folder is
"coming": shown in status, not checkable.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mentor.errors import MentorError
from mentor.paths import curriculum_dir


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~10x faster start-up


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- questions
class _QuestionBase(Strict):
    id: str = Field(description="Unique within the unit; answers are recorded under unit/id.")
    prompt: str = Field(description="The question, Markdown.")
    explanation: str = Field("", description="Shown after the learner answers (right or wrong).")
    review: bool = Field(True, description="May come back as a spaced-repetition review.")


class NumericQuestion(_QuestionBase):
    """A number, graded with an absolute and/or relative tolerance."""

    kind: Literal["numeric"]
    answer: float = Field(description="The correct value.")
    tolerance: float = Field(0.0, ge=0, description="Absolute tolerance.")
    rel_tolerance: float = Field(0.0, ge=0, description="Relative tolerance (fraction of the answer).")
    unit: str | None = Field(None, description="Unit of the answer, shown in the prompt (e.g. 'MiB').")


class ChoiceQuestion(_QuestionBase):
    """Multiple choice; the learner answers with the option's letter (A, B, ...) or its text."""

    kind: Literal["choice"]
    options: list[str] = Field(min_length=2, description="The options, in display order.")
    answer: int = Field(ge=0, description="0-based index of the correct option.")

    @model_validator(mode="after")
    def _answer_in_range(self) -> "ChoiceQuestion":
        if self.answer >= len(self.options):
            raise ValueError(f"answer {self.answer} is out of range for {len(self.options)} options")
        return self


class ShortQuestion(_QuestionBase):
    """A short text answer: normalised exact match against `answers`, or a full-match `regex`."""

    kind: Literal["short"]
    answers: list[str] = Field(default_factory=list, description="Accepted answers (case, spaces, backticks ignored).")
    regex: str | None = Field(None, description="Alternatively, a regex the normalised answer must fully match.")

    @model_validator(mode="after")
    def _has_answer(self) -> "ShortQuestion":
        if not self.answers and not self.regex:
            raise ValueError("a short question needs `answers` or `regex`")
        return self


class PredictQuestion(_QuestionBase):
    """The learner predicts what a snippet prints before it is run (okpy's unlocking)."""

    kind: Literal["predict"]
    code: str = Field(description="A self-contained Python snippet (NumPy/torch allowed); it is run to show the truth.")
    answer: str = Field(description="What the snippet prints (stripped); the self-check runs the code to confirm it.")


class ExplainQuestion(_QuestionBase):
    """Free text graded against a rubric of binary criteria (LLM judge with verified quotes, or self-assessed offline)."""

    kind: Literal["explain"]
    rubric: list[str] = Field(min_length=1, description="Binary criteria; each must be met, with evidence.")
    reference_answer: str = Field(description="A model answer; shown to the mentor and the judge, never to the learner before they answer.")
    min_words: int = Field(12, ge=1, description="Answers shorter than this are refused as too short.")


Question = Annotated[
    Union[NumericQuestion, ChoiceQuestion, ShortQuestion, PredictQuestion, ExplainQuestion],
    Field(discriminator="kind"),
]
AUTO_GRADED = ("numeric", "choice", "short", "predict")


# --------------------------------------------------------------------------- unit parts
class Step(Strict):
    """One small lesson step: teaching text and the micro-question that closes it."""

    title: str
    body: str = Field(description="Teaching text, Markdown: the math, the shapes, the hardware angle.")
    question: Question = Field(description="The micro-question that must be answered to move on.")
    hint: str = Field("", description="Shown after a wrong answer to the micro-question (no matching misconception): "
                                      "a nudge toward the idea, never the answer.")


class Misconception(Strict):
    wrong: str = Field(description="What learners often believe or write.")
    right: str = Field(description="What is true, and why.")
    trigger: str | None = Field(None, description=(
        "A regex (searched, case-insensitive) in a wrong answer to one of the unit's questions that shows this "
        "misconception; the session then names it as a nudge, e.g. '^\\s*1(\\.0*)?\\s*$' for relu'(0) = 1."))

    @field_validator("trigger")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            import re

            try:
                re.compile(v)
            except re.error as e:
                raise ValueError(f"trigger is not a valid regex: {e}") from None
        return v


class Symbol(Strict):
    name: str = Field(description="Top-level name in the learner's module.")
    signature: str = Field(description="As in CURRICULUM.md, e.g. 'linear(x, w, b)'.")
    summary: str = Field("", description="One line of semantics.")


class Banned(Strict):
    api: str = Field(description="Dotted name: a module ('torch'), a function ('torch.nn.functional.softmax') or a method ('Tensor.softmax').")
    reason: str = Field("", description="Why it is banned here, shown in the failure.")


class Exercise(Strict):
    module: str = Field(description="The learner's module: myllm/<module>.py, mirrored by reference_impl/<module>.py.")
    starter: str = Field("starter.py", description="Stub file in the unit folder, merged into the learner's module.")
    symbols: list[Symbol] = Field(min_length=1)
    banned: list[Banned] = Field(default_factory=list)

    @field_validator("module")
    @classmethod
    def _identifier(cls, v: str) -> str:
        if not v.isidentifier():
            raise ValueError(f"module {v!r} is not a Python identifier")
        return v


class Gate(Strict):
    tests: str = Field("hidden_tests.py", description="Hidden test file in the unit folder.")
    time_limit_s: float = Field(30.0, gt=0, description="Wall-clock limit for the whole check.")
    memory_mb: int = Field(1024, ge=64, description="Address-space limit of the sandbox (MiB).")
    threads: int = Field(1, ge=1, le=64, description="Threads for BLAS/OpenMP/torch inside the sandbox.")
    output_kb: int = Field(256, ge=1, description="Learner output kept; more is truncated and flagged.")
    needs: dict[str, str] = Field(default_factory=dict, description=(
        "Python modules the check needs beyond mentor's own dependencies (an optional extra), each with "
        "the message shown when it is not importable, e.g. {triton: \"Triton is not installed: pip install 'mentor[triton]'\"}."))

    def missing_needs(self) -> list[str]:
        """The messages of the `needs` modules that are not importable here (found, never imported)."""
        import importlib.util

        def found(name: str) -> bool:
            try:
                return importlib.util.find_spec(name) is not None
            except (ImportError, ValueError):
                return False

        return [msg for name, msg in self.needs.items() if not found(name)]


class Hardware(Strict):
    gpu: str = Field(description="On the 16 GB GPU workstation.")
    cpu: str = Field(description="On the CPU-only laptop.")


class Reading(Strict):
    title: str
    url: str | None = None
    note: str = ""


class LabFigure(Strict):
    """The figure the learner predicts: a key of what the lab script returns."""

    key: str = Field(description="Key in the dict the lab script's lab_* function returns.")
    name: str = Field(description="What it is, in words (e.g. 'achieved bandwidth').")
    unit: str = Field(description="Its unit (e.g. 'GB/s', 'ns', 'bytes'); predictions may use SI prefixes of it.")
    plausible: tuple[float, float] | None = Field(None, description=(
        "Range the self-check requires of the reference's measurement on any machine (a sanity check of the script)."))


class LabPeer(Strict):
    """Another figure of the same run shown beside the learner's (a built-in measured as a peer)."""

    key: str
    name: str


class LabPredict(Strict):
    id: str = Field("lab-predict", description="Question id the prediction is recorded under (unique in the unit).")
    prompt: str = Field(description="What to predict, Markdown; the answer is a number in the figure's unit.")
    factor: float = Field(2.0, gt=1, description="Correct when measured/factor <= prediction <= measured*factor.")


class LabBound(Strict):
    """The roofline-style bound the measurement is compared with: a formula of named figures.

    A name resolves to (1) a figure the lab script returned in this run, else (2) the learner's measured
    machine profile (`mentor doctor --measure`: cpu_copy_gbs_1core, cpu_triad_gbs_1core, cpu_triad_gbs_all,
    cpu_fp32_gflops_1thread, cpu_fp32_gflops_all, ...), else (3) the class figure named in `fallback`
    (hardware.yaml `CLASS.FIGURE`; a range gives its upper end, a ceiling) or a hardware.yaml figure whose
    `measured` key is that name. Which one was used is shown."""

    name: str = Field(description="What the bound is, e.g. 'one-core copy bandwidth'.")
    formula: str = Field(description="Arithmetic of names and numbers: + - * / ** ( ) min() max(), e.g. 'min(cpu_fp32_gflops_1thread, cpu_triad_gbs_1core * intensity)'.")
    fallback: dict[str, str] = Field(default_factory=dict, description="Name -> 'CLASS.FIGURE' of hardware.yaml when the profile lacks it.")

    @field_validator("formula")
    @classmethod
    def _parses(cls, v: str) -> str:
        from mentor.labs.formula import names

        names(v)  # raises ValueError with what is not allowed
        return v


class LabPlot(Strict):
    """A sweep (several measured points): the script returns `series: {name: {x: [...], y: [...]}}`."""

    title: str = ""
    x_label: str
    y_label: str
    log_x: bool = False
    log_y: bool = False


class LabExplain(ExplainQuestion):
    kind: Literal["explain"] = "explain"


class Lab(Strict):
    """Predict, measure, explain: a measurement of the learner's own code, run in the sandbox."""

    title: str
    text: str = Field(description="What is measured and why, the formula for the bound (Markdown, $math$, {hw:...}).")
    script: str = Field("lab.py", description="In the unit folder: lab_* functions taking ctx, returning a dict of figures.")
    uses: list[str] = Field(min_length=1, description="The learner's functions the lab runs: refused until they are written.")
    figure: LabFigure
    peers: list[LabPeer] = Field(default_factory=list)
    predict: LabPredict
    bound: LabBound | None = None
    plot: LabPlot | None = None
    explain: LabExplain
    required: bool = Field(False, description="The prediction and the explanation are required for proficiency (like `questions`).")
    time_limit_s: float = Field(60.0, gt=0, description="Wall-clock limit of the measurement in the sandbox.")
    memory_mb: int | None = Field(None, ge=64, description="Address-space limit (default: the gate's).")
    threads: int | None = Field(None, ge=1, le=64, description="Threads (default: the gate's).")

    @property
    def question_ids(self) -> list[str]:
        return [self.predict.id, self.explain.id]


class Unit(Strict):
    id: str
    title: str
    phase: int = Field(ge=1, le=5)
    estimated_minutes: int = Field(gt=0)
    requires: list[str] = Field(default_factory=list, description="Unit ids that must be proficient first.")
    optional: bool = Field(False, description=(
        "The course does not wait on this unit: no unit may require it, and while its gate.needs are not "
        "installed it is never the current unit (it stays available and checkable)."))
    objectives: list[str] = Field(min_length=1)
    steps: list[Step] = Field(min_length=1)
    facts: list[str] = Field(min_length=1, description="Ground truths the mentor must respect.")
    misconceptions: list[Misconception] = Field(default_factory=list)
    hints: list[str] = Field(min_length=3, description="General to specific; never the solution.")
    exercise: Exercise
    gate: Gate = Gate()
    questions: list[Question] = Field(min_length=3)
    hardware: Hardware
    further_reading: list[Reading] = Field(default_factory=list)
    lab: Lab | None = Field(None, description="Predict, measure, explain (`mentor lab`); written last in unit.yaml.")
    folder: Path = Field(Path("."), exclude=True, description="Set by the loader.")

    @model_validator(mode="after")
    def _unique_question_ids(self) -> "Unit":
        ids = [q.id for q in self.all_questions()] + (self.lab.question_ids if self.lab else [])
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"question ids must be unique in a unit; repeated: {', '.join(dupes)}")
        return self

    def all_questions(self) -> list[Any]:
        return [s.question for s in self.steps] + list(self.questions)

    def question(self, qid: str) -> Any:
        for q in self.all_questions():
            if q.id == qid:
                return q
        if self.lab and qid == self.lab.explain.id:
            return self.lab.explain  # a lab's explain question is asked and reviewed like the others
        raise KeyError(qid)

    @property
    def lab_path(self) -> Path | None:
        return self.folder / self.lab.script if self.lab else None

    @property
    def starter_path(self) -> Path:
        return self.folder / self.exercise.starter

    @property
    def tests_path(self) -> Path:
        return self.folder / self.gate.tests

    @property
    def mutants(self) -> list[Path]:
        from mentor.mutants import mutant_paths

        return mutant_paths(self.folder)


class Phase(Strict):
    id: int = Field(ge=1, le=5)
    title: str
    focus: str
    sessions: int = Field(gt=0, description="Estimated one-hour sessions.")
    numpy_only: bool = Field(False, description="Learner modules of this phase may not import torch.")
    validate_on: Literal["any", "cpu-only"] = Field(
        "any", description="cpu-only: a pass on a machine with a GPU asks for a check on a CPU-only one too.")
    units: list[str] = Field(min_length=1)


class CourseFile(Strict):
    title: str
    phases: list[Phase] = Field(min_length=1)


class Course:
    """The loaded course: phases in order, written units by id, the rest 'coming'."""

    def __init__(self, spec: CourseFile, units: dict[str, Unit]) -> None:
        self.spec = spec
        self.units = units
        self.order = [uid for p in spec.phases for uid in p.units]

    @property
    def title(self) -> str:
        return self.spec.title

    def phase_of(self, uid: str) -> Phase:
        return next(p for p in self.spec.phases if uid in p.units)

    def is_written(self, uid: str) -> bool:
        return uid in self.units

    def unit(self, uid: str) -> Unit:
        if uid in self.units:
            return self.units[uid]
        if uid in self.order:
            raise MentorError(f"unit '{uid}' is on the roadmap but not written yet", "run `mentor status` to see the live units")
        close = [u for u in self.order if uid in u or u in uid]
        hint = f"did you mean {', '.join(close)}?" if close else "run `mentor status` for the unit ids"
        raise MentorError(f"no unit '{uid}' in the course", hint)


# --------------------------------------------------------------------------- loading
def _yaml_line(text: str, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at a pydantic error location (best effort: nearest existing parent)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = node.start_mark.line + 1 if node else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if k.value == key), None)
            if nxt is None:
                if key in AUTO_GRADED + ("explain",):
                    continue  # the discriminator tag pydantic adds to the location
                break
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            continue  # union tags such as 'numeric' in a discriminated loc
        line = node.start_mark.line + 1
    return line


def _parse_yaml(path: Path) -> tuple[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise MentorError(f"cannot read {path}: {e.strerror}") from None
    try:
        return text, yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise MentorError(f"{where}: invalid YAML: {getattr(e, 'problem', e)}", "fix the YAML syntax at that line") from None


def _is_tag(loc: tuple[Any, ...], i: int) -> bool:
    """Whether loc[i] is the question-kind tag pydantic adds after a list index or `question` (not a field
    that happens to share the name, such as `lab.predict` or `lab.explain`)."""
    return (isinstance(loc[i], str) and loc[i] in AUTO_GRADED + ("explain",)
            and i > 0 and (isinstance(loc[i - 1], int) or loc[i - 1] == "question"))


def _validation_error(path: Path, text: str, err: ValidationError) -> MentorError:
    lines = []
    for e in err.errors():
        loc = tuple(e["loc"])
        field = ".".join(str(p) for i, p in enumerate(loc) if not _is_tag(loc, i)) or "(top level)"
        line = _yaml_line(text, loc)
        lines.append(f"{path}:{line or '?'}: field '{field}': {e['msg']}")
    return MentorError("\n".join(lines), "see the documented fields in mentor/curriculum.py (or `mentor dev schema`)")


def load_unit(folder: Path) -> Unit:
    path = folder / "unit.yaml"
    text, data = _parse_yaml(path)
    if not isinstance(data, dict):
        raise MentorError(f"{path}:1: a unit file must be a mapping of fields")
    try:
        unit = Unit.model_validate({**data, "folder": folder})
    except ValidationError as e:
        raise _validation_error(path, text, e) from None
    problems = math_problems(unit, path, text)
    if problems:
        raise MentorError("\n".join(problems), "keep each $...$ on one line, pair every $ (write \\$ for a literal "
                          "dollar) and balance the braces inside math")
    return unit


# Fields that are not lesson Markdown (code, answers, identifiers): their `$` is not math.
_NOT_MARKDOWN = {"id", "code", "answer", "answers", "regex", "trigger", "url", "module", "starter", "tests", "api", "signature",
                 "name", "unit", "requires", "folder"}


def _text_fields(obj: Any, loc: tuple[Any, ...] = ()) -> Any:
    """(location, text) of every Markdown text field of a unit, e.g. (('steps', 1, 'body'), '...')."""
    if isinstance(obj, BaseModel):
        for name in type(obj).model_fields:
            if name not in _NOT_MARKDOWN:
                yield from _text_fields(getattr(obj, name), loc + (name,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _text_fields(v, loc + (i,))
    elif isinstance(obj, str):
        yield loc, obj


def _text_line(text: str, loc: tuple[Any, ...], offset: int) -> int | None:
    """1-based line in unit.yaml of line `offset` (0-based) of the string at `loc`."""
    line = _yaml_line(text, loc)
    if line is None:
        return None
    first = text.splitlines()[line - 1] if line - 1 < len(text.splitlines()) else ""
    block = re.search(r":\s*[|>][-+0-9]*\s*$", first) or re.fullmatch(r"\s*-\s*[|>][-+0-9]*\s*", first)
    return line + (1 if block else 0) + offset


def math_problems(unit: Unit, path: Path, text: str) -> list[str]:
    """Unbalanced math in a unit's text fields, as 'file:line: unit U, field F: what is wrong'."""
    from mentor.mathtext import math_problems as field_problems

    out = []
    for loc, value in _text_fields(unit):
        if "$" not in value:
            continue
        for offset, message in field_problems(value):
            field = ".".join(str(p) for p in loc)
            line = _text_line(text, loc, offset)
            out.append(f"{path}:{line or '?'}: unit '{unit.id}', field '{field}' (line {offset + 1} of the field): {message}")
    return out


def _unit_folder(root: Path, phase: int, uid: str) -> Path | None:
    matches = [p for p in (root / f"p{phase}").glob(f"*-{uid}") if (p / "unit.yaml").is_file()]
    return matches[0] if matches else None


def _check_unit_files(unit: Unit, phase: Phase, path: Path) -> None:
    problems = []
    if unit.phase != phase.id:
        problems.append(f"field 'phase' is {unit.phase} but course.yaml lists it in phase {phase.id}")
    for f in (unit.starter_path, unit.tests_path) + ((unit.lab_path,) if unit.lab_path else ()):
        if not f.is_file():
            problems.append(f"missing file {f.name} in {unit.folder}")
    if problems:
        raise MentorError("\n".join(f"{path}: {p}" for p in problems), "fix the unit folder or its unit.yaml")


def load_course(root: Path | None = None) -> Course:
    root = root or curriculum_dir()
    cpath = root / "course.yaml"
    text, data = _parse_yaml(cpath)
    try:
        spec = CourseFile.model_validate(data)
    except ValidationError as e:
        raise _validation_error(cpath, text, e) from None
    order = [u for p in spec.phases for u in p.units]
    dupes = sorted({u for u in order if order.count(u) > 1})
    if dupes:
        raise MentorError(f"{cpath}: unit ids listed twice: {', '.join(dupes)}", "each unit appears once")
    units: dict[str, Unit] = {}
    for phase in spec.phases:
        for uid in phase.units:
            folder = _unit_folder(root, phase.id, uid)
            if folder is None:
                continue
            unit = load_unit(folder)
            upath = folder / "unit.yaml"
            if unit.id != uid:
                raise MentorError(f"{upath}:1: field 'id' is '{unit.id}' but the folder is listed as '{uid}'")
            _check_unit_files(unit, phase, upath)
            for req in unit.requires:
                if req not in order[: order.index(uid)]:
                    raise MentorError(f"{upath}: field 'requires': '{req}' is not a unit listed before '{uid}'")
                if req in units and units[req].optional:
                    raise MentorError(f"{upath}: field 'requires': '{req}' is optional, so no unit may require it")
            units[uid] = unit
    return Course(spec, units)


def _fingerprint(root: Path) -> str:
    import hashlib

    h = hashlib.sha256(str(root).encode())
    me = Path(__file__).stat()  # the models changed: a pickle of the old ones must not be reused
    h.update(f"{me.st_mtime_ns}:{me.st_size}".encode())
    for p in sorted(root.rglob("*.yaml")):
        st = p.stat()
        h.update(f"{p}:{st.st_mtime_ns}:{st.st_size}".encode())
    for p in sorted(root.glob("p*/*/*")):
        h.update(str(p).encode())
    return h.hexdigest()[:20]


def _cached_course(root: Path) -> Course:
    """load_course() behind a pickle cache keyed by every YAML file's mtime and size."""
    import os
    import pickle

    cache_root = os.environ.get("MENTOR_CACHE_DIR")
    if cache_root is None:
        from platformdirs import user_cache_dir

        cache_root = user_cache_dir("mentor")
    cache = Path(cache_root) / f"course-{_fingerprint(root)}.pickle"
    try:
        with cache.open("rb") as f:
            loaded = pickle.load(f)
        if isinstance(loaded, Course):
            return loaded
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
        pass
    c = load_course(root)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as f:
            pickle.dump(c, f)
        tmp.replace(cache)
    except OSError:
        pass  # a read-only cache dir only costs speed
    return c


@lru_cache(maxsize=1)
def course() -> Course:
    """The shipped course, loaded once per process (validated files are cached between runs)."""
    return _cached_course(curriculum_dir())
