"""A unit as Markdown: the lesson steps, the exercise, the hardware notes (used by show and the mentor)."""

from __future__ import annotations

from typing import Any


def question_markdown(q: Any, order: list[int] | None = None) -> str:
    """`order`: the shuffled order of a choice question's options at this attempt (grading.option_order)."""
    lines = [q.prompt.strip()]
    if q.kind == "predict":
        lines += ["", "```python", q.code.rstrip(), "```", "", "*Predict the output before you run anything.*"]
    elif q.kind == "choice":
        lines += [""] + [f"- **{chr(65 + k)}**. {q.options[i]}" for k, i in enumerate(order or range(len(q.options)))]
    elif q.kind == "numeric" and q.unit:
        lines += ["", f"*(answer in {q.unit})*"]
    elif q.kind == "explain":
        lines += ["", f"*Explain in your own words (at least {q.min_words} words).*"]
    return "\n".join(lines)


def exercise_markdown(unit: Any) -> str:
    ex = unit.exercise
    lines = [f"## Exercise: `myllm/{ex.module}.py`", ""]
    lines += [f"- `{s.signature}`" + (f" — {s.summary}" if s.summary else "") for s in ex.symbols]
    if ex.banned:
        lines += ["", "**Banned here** (the ready-made versions of what you are building):"]
        lines += [f"- `{b.api}`" + (f": {b.reason}" if b.reason else "") for b in ex.banned]
    lines += ["", f"Check it with `mentor check {unit.id}`; stuck? `mentor hint {unit.id}`."]
    return "\n".join(lines)


def step_markdown(unit: Any, i: int, order: list[int] | None = None, profile: dict[str, Any] | None = None) -> str:
    """`profile`: the learner's measured machine (mentor doctor --measure), shown next to {hw:...} figures."""
    from mentor.hardware_ref import resolve

    s = unit.steps[i]
    return resolve(f"## Step {i + 1}/{len(unit.steps)}: {s.title}\n\n{s.body.strip()}\n\n"
                   f"**Check yourself** (`{s.question.id}`)\n\n{question_markdown(s.question, order)}", profile)


def unit_markdown(unit: Any, step: int | None = None, profile: dict[str, Any] | None = None) -> str:
    from mentor.hardware_ref import resolve

    if step is not None:
        return step_markdown(unit, step, profile=profile)
    parts = [f"# {unit.title}", f"*unit `{unit.id}` · phase {unit.phase} · about {unit.estimated_minutes} min*", "",
             "**You will be able to:**", *[f"- {o}" for o in unit.objectives], ""]
    parts += [step_markdown(unit, i, profile=profile) + "\n" for i in range(len(unit.steps))]
    parts.append(exercise_markdown(unit))
    parts += ["", "## On your machines", f"- **16 GB GPU workstation:** {unit.hardware.gpu}",
              f"- **CPU-only laptop:** {unit.hardware.cpu}"]
    if unit.further_reading:
        parts += ["", "## Further reading"]
        parts += [f"- {r.title}" + (f" — {r.url}" if r.url else "") + (f" ({r.note})" if r.note else "") for r in unit.further_reading]
    parts += ["", f"When the check passes, answer the unit's {len(unit.questions)} questions: `mentor ask {unit.id}`."]
    return resolve("\n".join(parts), profile)
