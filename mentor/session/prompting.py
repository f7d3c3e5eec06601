"""Assembling what the mentor sees: a byte-stable system prompt and a changing [context] block.

The system prompt (persona + rules + learner + hardware + the unit with its hidden answers and the
reference source) is built once per session and never changes, so provider prefix caches hit.
Everything that changes (timer, step, check results, the learner's code) goes in the newest
user message as a [context] block.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from mentor.paths import reference_root
from mentor.session.templates import load, render


@dataclass(frozen=True)
class Persona:
    name: str
    text: str  # contains {mentor_name}

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:12]


def default_persona() -> Persona:
    return Persona("default", load("persona"))


def learner_profile(ws: Any) -> str:
    learner = ws.settings.get("learner", {})
    goal = learner.get("goal", "")
    return (f"Name: {learner.get('name', 'learner')}. Strong intermediate ML practitioner: knows NumPy backprop, CNNs "
            f"and a DL library; wants to become an AI architect who can explain every component down to memory layout "
            f"and gradient flow, and defend design choices with hardware-aware math. One hour a day.\nGoal: {goal}")


def hardware_text(machine: Any | None = None) -> str:
    base = ("Phases 1-4 on a 16 GB GPU workstation; Phase 5 (INT8, CPU inference, latency) on a CPU-only Debian laptop.")
    if machine is None:
        return base
    gpu = f"{machine.gpu_name} ({machine.vram_gb:.0f} GB)" if machine.cuda else "no CUDA GPU"
    return base + f"\nThis session runs on: {machine.cpu_cores} CPU cores ({', '.join(machine.simd) or 'no SIMD info'}), {machine.ram_gb:.0f} GB RAM, {gpu}."


def _bullets(items: list[str]) -> str:
    return "\n".join(f"- {x}" for x in items) or "- (none)"


def _answer_key(unit: Any) -> str:
    lines = []
    for q in unit.all_questions():
        if q.kind == "numeric":
            ans = f"{q.answer:g}" + (f" {q.unit}" if q.unit else "")
        elif q.kind == "choice":
            ans = f"{chr(65 + q.answer)}. {q.options[q.answer]}"
        elif q.kind == "short":
            ans = " | ".join(q.answers) or f"regex {q.regex}"
        elif q.kind == "predict":
            ans = f"prints {q.answer.strip()!r}"
        else:
            ans = f"{q.reference_answer.strip()} (rubric: {'; '.join(q.rubric)})"
        lines.append(f"- {q.id} ({q.kind}): {q.prompt.strip()[:200]} -> {ans}")
    return "\n".join(lines)


def _visible_questions(unit: Any) -> str:
    """The unit's questions as the learner sees them; explain questions with their rubric criteria (no answers)."""
    lines = []
    for q in unit.questions:
        lines.append(f"- ({q.kind}) {q.prompt.strip()}")
        if q.kind == "explain":
            lines.extend(f"    criterion: {c}" for c in q.rubric)
    return "\n".join(lines)


def unit_context(unit: Any, *, learner_visible: bool = False, compact: bool = False) -> str:
    """The unit for the mentor. learner_visible=True (bring-your-own-chat, pasted by the learner) leaves out the
    answer key, the hint ladder and the reference implementation: only what the learner may see travels."""
    from mentor.hardware_ref import resolve

    steps = resolve("\n".join(f"{i + 1}. {s.title}: {s.body.strip()}\n   Micro-question ({s.question.id}): {s.question.prompt.strip()}"
                               for i, s in enumerate(unit.steps)))
    text = render(
        "unit_context", unit_id=unit.id, unit_title=unit.title, phase=str(unit.phase),
        objectives=_bullets(unit.objectives), steps=steps, module=unit.exercise.module,
        symbols=_bullets([f"{s.signature} — {s.summary}" for s in unit.exercise.symbols]),
        banned=", ".join(b.api for b in unit.exercise.banned) or "nothing beyond the phase rules",
        facts=resolve(_bullets(unit.facts)),
        misconceptions=resolve(_bullets([f"WRONG: {m.wrong} RIGHT: {m.right}" for m in unit.misconceptions])),
        hints=_bullets(unit.hints) if not learner_visible else "- (the tool reveals hints one at a time; `mentor hint`)")
    if learner_visible:
        return text.rstrip() + "\n\n## The unit's questions (graded by the tool; no answer key here)\n" + _visible_questions(unit) + "\n"
    ref = reference_root() / "reference_impl" / f"{unit.exercise.module}.py"
    source = ref.read_text(encoding="utf-8") if ref.is_file() else "(not available)"
    if compact:  # a small context window: the answer key stays, the reference source goes
        source = "# (omitted to fit the model's context window; the facts and hidden answers above are the ground truth)"
    secrets = render("unit_secrets", answers=_answer_key(unit), reference_source=source)
    return text.rstrip() + "\n\n" + secrets


def system_prompt(ws: Any, unit: Any, persona: Persona, machine: Any | None = None, *, learner_visible: bool = False,
                  compact: bool = False) -> str:
    from mentor.session.templates import fill

    persona_text = fill(persona.text, {"mentor_name": persona.name.replace("-", " ").title() if persona.name != "default" else "Mentor"}, f"persona {persona.name}")
    rules = render("rules", exercise_symbols=", ".join(s.name for s in unit.exercise.symbols))
    return render("system", persona=persona_text.strip(), rules=rules.strip(), learner_profile=learner_profile(ws),
                  hardware=hardware_text(machine), unit_context=unit_context(unit, learner_visible=learner_visible, compact=compact).strip())


def context_block(*, minutes_left: float, unit: Any, step: int | None, check: Any | None = None,
                  code: str | None = None, note: str | None = None) -> str:
    """What changes turn to turn, for the newest user message."""
    lines = [f"[context] {minutes_left:.0f} min left in the session. Unit {unit.id}, "
             + (f"step {step + 1}/{len(unit.steps)}: {unit.steps[step].title}." if step is not None else "exercise / questions.")]
    if check is not None:
        first = check.first_failure()
        lines.append(f"[context] Latest check: {check.status}" + (f" ({check.verdict})" if check.verdict else "")
                     + f": {check.message}" + (f" First failure: {first.name}: {first.message}" if first else ""))
    if code:
        lines.append(f"[context] The learner's myllm/{unit.exercise.module}.py now:\n```python\n{code[-6000:]}\n```")
    if note:
        lines.append(f"[context] {note}")
    return "\n".join(lines)
