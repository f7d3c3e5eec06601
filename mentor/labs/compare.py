"""A lab's prediction and bound: parse the learner's number, grade it within a factor, compute the bound.

The prediction is graded against the measurement of this run (`measured/f <= p <= measured*f`);
the measurement itself never decides proficiency. The bound is the lab's formula of named figures
(mentor/labs/formula.py), each taken from the run, else the learner's measured profile, else the
course's class figure (hardware.yaml; a range gives its upper end, since a bound is a ceiling).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mentor.curriculum import Lab

_PREFIX = {"p": 1e-12, "n": 1e-9, "u": 1e-6, "µ": 1e-6, "m": 1e-3, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_NUM = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")


def _scale(base: str) -> tuple[str, float]:
    """('GB/s') -> ('B/s', 1e9): the unit without its SI/binary prefix."""
    for p, f in _BINARY.items():
        if base.startswith(p) and len(base) > len(p):
            return base[len(p):], f
    if len(base) > 1 and base[0] in _PREFIX and base[1:2].isalpha():
        return base[1:], _PREFIX[base[0]]
    return base, 1.0


def parse_prediction(text: str, unit: str) -> tuple[float | None, str]:
    """The predicted value in `unit`, or (None, why). Accepts '12', '12 GB/s', '1.2e1', '12,000', and the same
    unit with another prefix ('800 MB/s' for GB/s, '0.5 us' for ns)."""
    t = text.strip().replace(",", "").replace("_", "")
    m = _NUM.match(t)
    if not m:
        return None, f"'{text.strip()}' is not a number; answer with digits, e.g. 12 or 12 {unit}"
    v = float(m.group(1))
    if not math.isfinite(v) or v <= 0:
        return None, "predict a positive number"
    given = m.group(2).strip()
    if not given or given.lower() == unit.lower():
        return v, ""
    want_base, want_f = _scale(unit)
    got_base, got_f = _scale(given)
    if got_base.lower() == want_base.lower() or (got_base in ("us", "µs") and want_base == "s"):
        return v * got_f / want_f, ""
    return None, f"'{given}' is not a unit this figure can be given in; answer in {unit}"


def within_factor(predicted: float, measured: float, factor: float) -> bool:
    return measured > 0 and measured / factor <= predicted <= measured * factor


@dataclass
class Bound:
    value: float
    source: str  # "run" | "profile" | "class" (the least direct source among the names used)
    detail: str  # shown: where each figure came from


def _class_value(ref: str) -> tuple[float, str] | None:
    from mentor.hardware_ref import figure, reference

    cls, _, name = ref.partition(".")
    f = figure(cls, name)
    if f is None:
        return None
    v = f["value"]
    top = float(max(v) if isinstance(v, list) else v)
    shown = "–".join(f"{x:g}" for x in v) if isinstance(v, list) else f"{v:g}"
    label = reference().get(cls, {}).get("name", cls)
    return top, f"{label}: {shown} {f.get('unit', '')}".rstrip() + (" (upper end)" if isinstance(v, list) else "")


def class_fallback(lab: "Lab", name: str) -> tuple[float, str] | None:
    """The class figure for a name: the lab's explicit fallback, else a hardware.yaml figure measured as `name`."""
    from mentor.hardware_ref import reference

    if lab.bound and name in lab.bound.fallback:
        return _class_value(lab.bound.fallback[name])
    for cls, spec in reference().items():
        for fname, f in (spec.get("figures") or {}).items():
            if name in (f.get("measured"), f.get("measured_gflops")):
                got = _class_value(f"{cls}.{fname}")
                if got and f.get("measured_gflops") == name:
                    return got[0] * 1e3, got[1]  # the class figure is in TFLOP/s, the profile in GFLOP/s
                return got
    return None


def bound(lab: "Lab", figures: dict[str, Any], profile: dict[str, Any] | None) -> tuple[Bound | None, str]:
    """The lab's bound for this run, or (None, why not)."""
    from mentor.labs.formula import evaluate, names

    if lab.bound is None:
        return None, "this lab has no bound"
    values: dict[str, float] = {}
    parts, rank = [], 0
    for n in names(lab.bound.formula):
        v = figures.get(n)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            values[n] = float(v)
            continue
        pv = (profile or {}).get(n)
        if isinstance(pv, (int, float)) and not isinstance(pv, bool):
            values[n] = float(pv)
            parts.append(f"{n} = {pv:g} from your machine's profile" + (f" ({profile['measured_at'][:10]})" if profile and profile.get("measured_at") else ""))
            rank = max(rank, 1)
            continue
        cv = class_fallback(lab, n)
        if cv is None:
            return None, f"'{n}' is neither measured by the lab nor in your machine profile (run `mentor doctor --measure`)"
        values[n] = cv[0]
        parts.append(f"{n} = {cv[0]:g} from the class figure ({cv[1]}); `mentor doctor --measure` gives yours")
        rank = 2
    try:
        value = evaluate(lab.bound.formula, values)
    except (ZeroDivisionError, OverflowError, ValueError) as e:
        return None, f"the bound's formula failed: {e}"
    if not math.isfinite(value) or value <= 0:
        return None, f"the bound's formula gave {value!r}"
    source = ("run", "profile", "class")[rank]
    detail = "; ".join(parts) if parts else "every figure measured in this run"
    return Bound(value, source, detail), ""
