"""The lab flow shared by `mentor lab` and `/lab`: refuse what cannot run, measure, grade the prediction, record.

1. `prepare`: the unit must have a lab, be unlocked, and the functions the lab runs must be written.
2. `intro_markdown`: what is measured and why (placeholders resolved with the learner's profile), and
   the prediction asked for.
3. `run`: the measurement in the sandbox (mentor/labs/measure.py), the prediction graded within the
   lab's factor, the bound from the run / profile / class figure, the charts saved under
   data/labs/, one lab_run row and the prediction as an answer of the unit. A prediction counts
   only on the first measured run of the unit on this machine: after that the learner has seen the
   figure. The explanation is asked afterwards, like any explain question.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mentor.errors import MentorError

if TYPE_CHECKING:
    from mentor.curriculum import Course, Unit
    from mentor.labs.compare import Bound
    from mentor.workspace import Workspace


@dataclass
class Prepared:
    machine_key: str
    hostname: str
    profile: dict[str, Any] | None


@dataclass
class LabOutcome:
    unit: str
    status: str  # measured | failed
    message: str = ""
    predicted: float | None = None
    measured: float | None = None
    factor: float = 2.0
    within: bool | None = None
    counts: bool = False
    bound: "Bound | None" = None
    bound_note: str = ""
    figures: dict[str, Any] = field(default_factory=dict)
    chart: str = ""
    svgs: list[str] = field(default_factory=list)
    run_id: int = 0
    seed: int = 0

    def to_dict(self, unit: "Unit") -> dict[str, Any]:
        lab = unit.lab
        assert lab is not None
        return {"unit": self.unit, "status": self.status, "message": self.message, "seed": self.seed,
                "figure": {"key": lab.figure.key, "name": lab.figure.name, "unit": lab.figure.unit},
                "measured": self.measured, "predicted": self.predicted, "factor": self.factor,
                "within_factor": self.within, "counts": self.counts,
                "bound": None if self.bound is None else {"name": lab.bound.name if lab.bound else "", "value": self.bound.value,
                                                          "source": self.bound.source, "detail": self.bound.detail},
                "bound_note": self.bound_note, "figures": self.figures, "svgs": self.svgs, "run_id": self.run_id,
                "explain": {"id": lab.explain.id, "ask": f"mentor ask {self.unit} --question {lab.explain.id}"}}


def prepare(ws: "Workspace", course: "Course", unit: "Unit") -> Prepared:
    """Refuse a unit without a lab, a locked unit, or one whose functions are not written yet."""
    from mentor.hardware import detect
    from mentor.labs.measure import unwritten
    from mentor.labs.profile import latest_profiles, machine_key
    from mentor.progress import refresh

    if unit.lab is None:
        with_lab = [u for u in course.order if course.is_written(u) and course.units[u].lab is not None]
        raise MentorError(f"unit '{unit.id}' has no lab yet",
                          f"units with a lab: {', '.join(with_lab)}" if with_lab else "no unit has a lab yet")
    st = refresh(ws.engine(), course).states[unit.id]
    if st.state == "locked":
        why = st.missing[0] if st.missing else "its prerequisites are not proficient yet"
        raise MentorError(f"{unit.id} is locked ({why}); its lab opens with the unit",
                          f"see `mentor status`; the current unit's lab: `mentor lab`")
    module = unit.exercise.module
    todo = unwritten(ws.root, module, unit.lab.uses)
    if todo:
        names = ", ".join(f"{n}()" if "." not in n and n[:1].islower() else n for n in todo)
        raise MentorError(f"the lab of unit '{unit.id}' measures your {names} in myllm/{module}.py, "
                          f"which {'is' if len(todo) == 1 else 'are'} not written yet",
                          f"write {names} first (and `mentor check {unit.id}`), then run `mentor lab {unit.id}` again")
    m = detect(with_torch=False)
    key = machine_key(m)
    import socket

    return Prepared(key, socket.gethostname(), latest_profiles(ws.engine()).get(key))


def intro_markdown(unit: "Unit", profile: dict[str, Any] | None) -> str:
    from mentor.hardware_ref import resolve

    lab = unit.lab
    assert lab is not None
    return resolve(f"# Lab: {lab.title}\n*unit `{unit.id}`*\n\n{lab.text.strip()}\n\n**Predict** (`{lab.predict.id}`): "
                   f"{lab.predict.prompt.strip()}\n\n*Answer in {lab.figure.unit}; within {lab.predict.factor:g}x of the "
                   f"measurement counts as right.*", profile)


def svg_base(ws: "Workspace", unit_id: str) -> Path:
    from mentor.store.db import now

    return ws.root / "data" / "labs" / f"{unit_id}-{now().strftime('%Y%m%d-%H%M%S')}"


def run(ws: "Workspace", course: "Course", unit: "Unit", prep: Prepared, predicted: float, answer: str, *,
        seed: int | None = None, session_id: int | None = None, svgs: bool = True,
        columns: int = 100) -> LabOutcome:
    """Measure, grade, plot, record. `answer`: the learner's prediction as typed (stored as the answer)."""
    import secrets

    from mentor.labs import chart
    from mentor.labs.compare import bound, within_factor
    from mentor.labs.measure import measure
    from mentor.labs.record import earlier_runs, save_run
    from mentor.progress import record_answer

    lab = unit.lab
    assert lab is not None
    engine = ws.engine()
    seed = secrets.randbits(31) if seed is None else seed
    first = earlier_runs(engine, unit.id, prep.machine_key) == 0
    m = measure(ws.root, unit, course, seed=seed)
    out = LabOutcome(unit.id, "measured" if m.ok else "failed", factor=lab.predict.factor, predicted=predicted,
                     figures=m.figures, seed=seed)
    common = dict(unit_id=unit.id, session_id=session_id, code_hash=m.result.code_hash, seed=seed,
                  machine_key=prep.machine_key, hostname=prep.hostname, figure_key=lab.figure.key,
                  unit_label=lab.figure.unit, predicted=predicted, factor=lab.predict.factor, figures=m.figures)
    if not m.ok:
        out.message = m.problem() or m.result.message
        out.run_id = save_run(engine, status="failed", message=out.message, **common)
        return out  # nothing was measured: the prediction is not graded (not an answer)
    measured = m.value(lab.figure.key)
    assert measured is not None
    out.measured = measured
    out.within = within_factor(predicted, measured, lab.predict.factor)
    out.counts = first
    b, why = bound(lab, m.figures, prep.profile)
    out.bound, out.bound_note = b, why
    items = chart.bar_items(lab, m.figures, predicted, b)
    out.chart = chart.terminal(lab, items, m.figures, columns)
    if svgs:
        out.svgs = [str(p) for p in chart.save_svgs(lab, items, m.figures, svg_base(ws, unit.id))]
    verdict = "correct" if out.within else "incorrect"
    feedback = (f"measured {measured:.4g} {lab.figure.unit}; the prediction {predicted:.4g} is "
                f"{'within' if out.within else 'not within'} {lab.predict.factor:g}x")
    if not first:
        feedback += " (recorded only: an earlier run on this machine showed the measurement)"
    record_answer(engine, unit.id, lab.predict.id, answer, verdict, "auto", feedback, session_id, counts=first)
    out.message = feedback
    out.run_id = save_run(engine, status="measured", message=feedback, measured=measured, within=int(out.within),
                          bound=b.value if b else None, bound_source=b.source if b else None,
                          svg_path=out.svgs[0] if out.svgs else None, **common)
    return out


def result_lines(unit: "Unit", out: LabOutcome) -> list[str]:
    """The outcome in words (printed literally), after the chart."""
    lab = unit.lab
    assert lab is not None
    u = lab.figure.unit
    if out.status != "measured":
        return [f"The measurement did not run to the end: {out.message}"]
    lines = [f"measured {lab.figure.name}: {out.measured:.4g} {u}   your prediction: {out.predicted:.4g} {u}"]
    ok = "within" if out.within else "not within"
    lines.append(f"{'✓' if out.within else '✗'} your prediction is {ok} {out.factor:g}x of the measurement"
                 + ("" if out.counts else " (recorded only: an earlier run on this machine showed the figure)"))
    if out.bound is not None and lab.bound is not None:
        ratio = out.measured / out.bound.value if out.measured else 0.0
        lines.append(f"bound ({lab.bound.name}): {out.bound.value:.4g} {u} — the measurement is {ratio:.2f}x of it")
        lines.append(f"  where the bound's figures come from: {out.bound.detail}")
    elif lab.bound is not None:
        lines.append(f"no bound: {out.bound_note}")
    for p in out.svgs:
        lines.append(f"picture saved: {p}")
    return lines
