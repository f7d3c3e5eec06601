"""The curriculum self-check: for each unit, the reference passes, the starter fails, every mutant fails;
a unit's lab measures something finite and plausible on the reference and refuses the starter.

The reference stands in for a learner's package: reference_impl/*.py is copied to myllm/ with its
`reference_impl` imports renamed, so the very same gate that checks learners checks the answer key.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mentor.curriculum import Course, Unit
from mentor.errors import MentorError
from mentor.mutants import mutant_module, mutant_source, reference_source
from mentor.gate.result import CheckResult
from mentor.gate.runner import run_gate, spec_for
from mentor.paths import reference_root

if TYPE_CHECKING:
    from mentor.labs.measure import Measurement


@dataclass
class UnitReport:
    unit: str
    problems: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    skipped: str | None = None  # why the gate runs were skipped (a package the unit needs is missing)

    @property
    def ok(self) -> bool:
        return not self.problems


def reference_package(dest: Path) -> Path:
    """Write reference_impl as a `myllm` package into dest/myllm; returns dest."""
    pkg = dest / "myllm"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text('"""Reference implementation standing in for a learner package."""\n')
    for src in sorted((reference_root() / "reference_impl").glob("*.py")):
        if src.name != "__init__.py":
            (pkg / src.name).write_text(reference_source(src.stem), encoding="utf-8")
    return dest


def _run_variant(unit: Unit, course: Course, variant: tuple[str, str] | None, seed: int) -> CheckResult:
    """Run the gate on the reference package, with variant = (module, source) replacing one module."""
    with tempfile.TemporaryDirectory(prefix="mentor-selfcheck-") as tmp:
        ws = reference_package(Path(tmp))
        if variant is not None:
            module, source = variant
            (ws / "myllm" / f"{module}.py").write_text(source, encoding="utf-8")
        return run_gate(ws, spec_for(unit, course.phase_of(unit.id).numpy_only), seed=seed)


def _run_lab(unit: Unit, course: Course, starter: bool, seed: int) -> "Measurement":
    """The unit's lab on the reference package, or with the unit's module replaced by its starter."""
    from mentor.labs.measure import measure

    with tempfile.TemporaryDirectory(prefix="mentor-selfcheck-lab-") as tmp:
        ws = reference_package(Path(tmp))
        if starter:
            (ws / "myllm" / f"{unit.exercise.module}.py").write_text(unit.starter_path.read_text(encoding="utf-8"), encoding="utf-8")
        return measure(ws, unit, course, seed=seed)


def lab_report(unit: Unit, ref: "Measurement", start: "Measurement", rep: UnitReport) -> None:
    """A lab is proved like hidden tests: on the reference it measures a finite, plausible figure (and its bound
    resolves without a machine profile); with the starter it fails as not implemented, naming the function."""
    from mentor.labs.compare import bound
    from mentor.labs.measure import unwritten

    lab = unit.lab
    assert lab is not None
    fig = lab.figure
    v = ref.value(fig.key)
    if not ref.ok or v is None:
        rep.problems.append(f"lab on the reference: {ref.result.verdict or ref.result.status}: {ref.problem()}")
    else:
        rep.lines.append(f"lab reference: {fig.key} = {v:.4g} {fig.unit} in {ref.result.duration_s:.2f}s")
        if fig.plausible and not fig.plausible[0] <= v <= fig.plausible[1]:
            rep.problems.append(f"lab on the reference: {fig.key} = {v:g} {fig.unit} is outside the plausible range {list(fig.plausible)}")
        for p in lab.peers:
            if ref.value(p.key) is None:
                rep.problems.append(f"lab on the reference: peer figure '{p.key}' is missing or not finite")
        b, why = bound(lab, ref.figures, None)
        if lab.bound is not None and b is None:
            rep.problems.append(f"lab bound does not resolve without a machine profile: {why}")
    rep.lines.append(f"lab starter: {start.result.status} ({start.result.verdict}) — {start.problem()[:120]}")
    if start.ok or start.result.verdict != "not_implemented":
        rep.problems.append(f"lab with the starter should fail as not implemented, got {start.result.status}/{start.result.verdict}: {start.problem()}")
    with tempfile.TemporaryDirectory(prefix="mentor-selfcheck-lab-") as tmp:
        (Path(tmp) / "myllm").mkdir()
        (Path(tmp) / "myllm" / f"{unit.exercise.module}.py").write_text(unit.starter_path.read_text(encoding="utf-8"), encoding="utf-8")
        if unwritten(Path(tmp), unit.exercise.module, lab.uses) != lab.uses:
            rep.problems.append(f"lab.uses {lab.uses}: not every name is a stub in the starter, so `mentor lab` cannot refuse it")


def _predict_problems(unit: Unit) -> list[str]:
    out = []
    for q in unit.all_questions():
        if q.kind != "predict":
            continue
        proc = subprocess.run([sys.executable, "-I", "-c", q.code], capture_output=True, text=True, timeout=60)
        got = proc.stdout.strip()
        if proc.returncode != 0 or got != q.answer.strip():
            out.append(f"predict question '{q.id}': the snippet prints {got!r} (rc {proc.returncode}), answer says {q.answer.strip()!r}")
    return out


def check_unit(unit: Unit, course: Course, seed: int = 1234, workers: int | None = None) -> UnitReport:
    """Run the reference, the starter and every mutant through the gate (in parallel, one per core)."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    rep = UnitReport(unit.id)
    from mentor.hardware_ref import unresolved

    bad = unresolved((unit.folder / "unit.yaml").read_text(encoding="utf-8"))
    if bad:
        rep.problems.append(f"unit.yaml: hardware placeholders that name no figure of curriculum/hardware.yaml: {', '.join(bad)}")
    missing = unit.gate.missing_needs()
    if missing:  # an optional extra is not installed here: nothing can be proven, which is not a failure
        rep.skipped = "; ".join(missing)
        rep.lines.append(f"skipped (reference, starter, mutants): {rep.skipped}")
        rep.problems.extend(_predict_problems(unit))
        return rep
    mutants = unit.mutants
    module = unit.exercise.module
    sources: list[tuple[str, str] | None] = [None, (module, unit.starter_path.read_text(encoding="utf-8"))]
    usable = []
    for m in mutants:
        try:
            sources.append((mutant_module(m, module), mutant_source(m, module)))
            usable.append(m)
        except MentorError as e:
            rep.problems.append(f"mutant {m.name}: {e.message}")
    mutants_run = usable
    with ThreadPoolExecutor(max_workers=workers or max(1, min(4, os.cpu_count() or 1))) as pool:
        labs = [pool.submit(_run_lab, unit, course, starter, seed) for starter in (False, True)] if unit.lab else []
        results = list(pool.map(lambda src: _run_variant(unit, course, src, seed), sources))
        lab_runs = [f.result() for f in labs]
    r, s, mrs = results[0], results[1], results[2:]
    rep.lines.append(f"reference: {r.status} ({r.message}) in {r.duration_s:.2f}s")
    rep.lines.extend(f"  note {t.name}: {t.message}" for t in r.tests if t.status == "pass" and t.message)
    if r.status != "pass":
        first = r.first_failure()
        rep.problems.append(f"reference does not pass: {r.verdict or ''} {r.message} {first.message if first else ''}".strip())
    rep.lines.append(f"starter:   {s.status} ({s.verdict})")
    if s.status == "pass" or s.verdict != "not_implemented":
        rep.problems.append(f"starter should fail as not implemented, got {s.status}/{s.verdict}: {s.message}")
    if len(mutants) < 4:
        rep.problems.append(f"only {len(mutants)} mutants (at least 4 required)")
    for m, mr in zip(mutants_run, mrs):
        first = mr.first_failure()
        why = first.message if first else mr.message
        rep.lines.append(f"mutant {m.stem}: {mr.status} — {why[:140]}")
        if mr.status == "pass":
            rep.problems.append(f"mutant {m.name} passes the hidden tests")
    if lab_runs:
        lab_report(unit, lab_runs[0], lab_runs[1], rep)
    rep.problems.extend(_predict_problems(unit))
    return rep


def main(argv: list[str]) -> int:
    """python -m mentor.selfcheck [UNIT ...]: self-check units (all written units by default)."""
    from mentor.curriculum import load_course

    course = load_course()
    bad = 0
    for uid in argv or list(course.units):
        rep = check_unit(course.unit(uid), course)
        print(f"{uid}: {'PROBLEMS' if not rep.ok else 'SKIPPED' if rep.skipped else 'OK'}")
        for line in rep.lines:
            print("    " + line)
        for p in rep.problems:
            print("  ! " + p)
        bad += not rep.ok
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
