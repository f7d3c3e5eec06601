"""Running a unit's lab script in the sandbox on the learner's code, and what it measured.

The lab script runs through the gate's own runner and harness (mentor/gate): a fresh process with
the check's limits, the learner's package imported from the workspace, the answer key and mentor
blocked once the script has loaded. Its `lab_*` functions return the figures; the first failure
(a function not written yet, an exception, the time or memory limit) is reported as a check's is.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mentor.curriculum import Course, Unit
    from mentor.gate.result import CheckResult


@dataclass
class Measurement:
    result: "CheckResult"
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.result.passed

    def value(self, key: str) -> float | None:
        v = self.figures.get(key)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None

    def problem(self) -> str:
        """What went wrong, in the learner's terms ('' when the measurement worked)."""
        if self.ok:
            return ""
        first = self.result.first_failure()
        return first.message if first and first.message else self.result.message


def _is_stub(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    body = list(fn.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]  # the docstring
    if len(body) != 1 or not isinstance(body[0], ast.Raise) or body[0].exc is None:
        return False
    exc = body[0].exc
    name = exc.func if isinstance(exc, ast.Call) else exc
    return isinstance(name, ast.Name) and name.id == "NotImplementedError"


def unwritten(workspace: Path, module: str, uses: list[str]) -> list[str]:
    """The names in `uses` (functions, classes, `Class.method`) that myllm/<module>.py does not define or
    that are still the starter's stub (a body of only `raise NotImplementedError`; a class with any such
    method). Read, never run."""
    path = workspace / "myllm" / f"{module}.py"
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, SyntaxError):
        return list(uses)  # a missing or broken module: the sandbox run says exactly what is wrong
    top = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    out = []
    for name in uses:
        owner, _, attr = name.partition(".")
        node = top.get(owner)
        if node is None:
            out.append(name)
            continue
        if isinstance(node, ast.ClassDef):
            methods = {m.name: m for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))}
            if attr:
                if attr not in methods or _is_stub(methods[attr]):
                    out.append(name)
            elif any(_is_stub(m) for m in methods.values()):  # a class runs only when every method is written
                out.append(name)
        elif _is_stub(node):
            out.append(name)
    return out


def measure(workspace: Path, unit: "Unit", course: "Course", seed: int | None = None) -> Measurement:
    """Run the unit's lab script on the package in `workspace` (the learner's, or the self-check's reference)."""
    from mentor.gate.runner import lab_spec_for, run_gate

    res = run_gate(workspace, lab_spec_for(unit, course.phase_of(unit.id).numpy_only), seed=seed)
    figures: dict[str, Any] = {}
    for t in res.tests:
        figures.update(t.figures)
    m = Measurement(res, figures)
    if m.ok and unit.lab is not None:
        key = unit.lab.figure.key
        v = m.value(key)
        if v is None or v <= 0:
            res.status, res.verdict = "error", "harness"
            res.message = f"the lab script returned no positive finite figure '{key}' (got {figures.get(key)!r})"
    return m
