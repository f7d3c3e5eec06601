"""Where a unit's checks ran, and the course's two-machine rule.

Phases 1-4 run on the GPU workstation; Phase 5 (INT8, CPU inference, the audit) is about the
CPU-only laptop, so its phase says `validate_on: cpu-only` in course.yaml: a pass there counts
as usual, but until a check has also passed on a machine without a GPU, `mentor check` and
`mentor status` ask for one. Attempts carry their machine (hostname, CPU, GPU name or none), and
`mentor sync` moves them between the two machines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import Session, select

from mentor.store.models import Attempt

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from mentor.curriculum import Course


def passes_by_machine(engine: Engine, unit_id: str) -> list[tuple[str, str | None]]:
    """(host, GPU name or None) of every machine on which the unit's check passed, first pass first."""
    seen: list[tuple[str, str | None]] = []
    with Session(engine) as s:
        rows = s.exec(select(Attempt.machine_host, Attempt.machine_gpu)
                      .where(Attempt.unit_id == unit_id, Attempt.status == "pass").order_by(Attempt.id)).all()
    for host, gpu in rows:
        key = (host or "unknown machine", gpu or None)
        if key not in seen:
            seen.append(key)
    return seen


def cpu_only_check(engine: Engine, course: Course, unit_id: str) -> dict[str, object] | None:
    """For a unit of a `validate_on: cpu-only` phase: has it passed on a machine without a GPU?

    None for other units. Else {"done": bool, "cpu_hosts": [...], "gpu_hosts": [...]}:
    done = some pass ran on a machine with no GPU; nothing passed yet -> done False, both lists empty.
    """
    if course.phase_of(unit_id).validate_on != "cpu-only":
        return None
    passes = passes_by_machine(engine, unit_id)
    cpu = [h for h, g in passes if g is None]
    gpu = [f"{h} ({g})" for h, g in passes if g is not None]
    return {"done": bool(cpu), "cpu_hosts": cpu, "gpu_hosts": gpu}


def advice_after_check(engine: Engine, course: Course, unit_id: str, passed: bool) -> list[str]:
    """What `mentor check` adds after a result of a cpu-only phase's unit (nothing for other units)."""
    state = cpu_only_check(engine, course, unit_id)
    if state is None or not passed:
        return []
    if state["done"]:
        hosts = ", ".join(state["cpu_hosts"])  # type: ignore[arg-type]
        return [f"Checked on a CPU-only machine ({hosts}): Phase 5 is validated where the course says it runs."]
    on = ", ".join(state["gpu_hosts"])  # type: ignore[arg-type]
    return [f"This pass ran on {on}. Phase 5 is about the CPU-only laptop: run `mentor check {unit_id}` there "
            f"too (bring your progress with `mentor sync export FILE` here and `mentor sync import FILE` there; "
            f"your code travels by your own git). `mentor status` shows where each check ran."]
