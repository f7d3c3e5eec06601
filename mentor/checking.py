"""The flow of `mentor check`: stubs -> gate -> attempt stored -> states refreshed -> new stubs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mentor.gate.result import CheckResult


class CheckCancelled(KeyboardInterrupt):
    """Ctrl-C while the sandbox ran: it has been killed (process group) and no attempt was recorded."""


@dataclass
class CheckOutcome:
    result: CheckResult
    state_before: str
    state_after: str
    unlocked: list[str] = field(default_factory=list)
    stubs_added: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)  # e.g. Phase 5's "check it on the CPU-only laptop too"


def sync_stubs(ws: Any, course: Any, states: dict[str, Any]) -> list[str]:
    """Write the stubs of every unit that is not locked (missing names only)."""
    from mentor.workspace import write_stubs

    from mentor.errors import MentorError

    added: list[str] = []
    for u in course.order:
        if states[u].state in ("locked", "coming"):
            continue
        try:
            added += write_stubs(ws, [course.units[u]])
        except MentorError:
            continue  # the module does not parse: the check reports it; stubs come once it is fixed
    return added


def run_check(ws: Any, course: Any, unit: Any, seed: int | None = None, session_id: int | None = None,
              only: list[str] | None = None, save_inputs: bool = False) -> CheckOutcome:
    """`only`: the checks -k selected (a partial run: recorded with status "partial" when they pass, never a
    pass of the unit); `save_inputs`: failing checks bring back their arguments (TestResult.payload)."""
    from mentor.errors import MentorError
    from mentor.gate.runner import run_gate, spec_for
    from mentor.progress import record_attempt, refresh
    from mentor.workspace import write_stubs

    engine = ws.engine()
    before = refresh(engine, course)
    try:
        added = write_stubs(ws, [unit])  # any written unit can be checked: give it its stubs
    except MentorError:
        added = []  # a syntax error in the learner's module: the gate names it with file:line
    try:
        spec = spec_for(unit, course.phase_of(unit.id).numpy_only)
        spec.only, spec.save_inputs = only, save_inputs
        result = run_gate(ws.root, spec, seed=seed)
    except KeyboardInterrupt as e:  # the runner killed the sandbox on its way out; nothing half-done is stored
        raise CheckCancelled() from e
    record_attempt(engine, result, session_id=session_id)  # stored before anything else can fail
    after = refresh(engine, course)
    unlocked = [u for u in course.order
                if before.states[u].state == "locked" and after.states[u].state == "available"]
    added += sync_stubs(ws, course, after.states)
    if unlocked:
        from mentor.lesson_files import write_unlocked

        write_unlocked(ws, course, unlocked)  # lessons/<unit>.md for the learner's editor
    from mentor.validation import advice_after_check

    return CheckOutcome(result, before.states[unit.id].state, after.states[unit.id].state, unlocked, added,
                        after.states[unit.id].missing, advice_after_check(engine, course, unit.id, result.passed))
