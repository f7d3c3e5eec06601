"""The session's wording (in-session commands, no ids) and the nudge chain after a wrong answer."""

from __future__ import annotations

from mentor.curriculum import course
from mentor.lesson import exercise_markdown, step_markdown
from mentor.session.nudge import nudge
from mentor.session.wording import SHELL_ADVICE, in_session, name_questions, question_label


def test_shell_advice_and_ids_become_session_terms():
    unit = course().unit("neuron")
    step = in_session(step_markdown(unit, 0))
    assert "step1-shape" not in step and "**Check yourself**" in step
    ex = in_session(exercise_markdown(unit))
    assert not SHELL_ADVICE.search(ex) and "/check" in ex and "/hint" in ex
    for shell, session in [("replay these inputs: mentor check neuron --seed 12   ·   stuck? mentor hint neuron", "stuck? /hint"),
                           ("Run mentor ask neuron to answer the questions.", "The unit's questions follow here."),
                           ("Unlocked: losses — `mentor show losses`", "Unlocked: losses"),
                           ("start with sigmoid(): `mentor show neuron` has the lesson", "start with sigmoid(): /show all has the lesson")]:
        assert in_session(shell) == session
    left = name_questions(unit, "pass `mentor check`; answer 2 question(s): sigmoid-neg, explain-stable-sigmoid")
    assert left == "pass /check; answer 2 question(s): question 1, question 4"
    assert question_label(unit, "step2-overflow") == "the question of step 2 (Sigmoid, and why the naive formula overflows)"


def test_nudge_chain_misconception_then_step_hint_then_unit_hint_then_the_step():
    unit = course().unit("neuron")
    predict = unit.question("predict-relu-grad")
    assert "ReLU's derivative at 0 is 1." in nudge(unit, predict, "[0.0, 1.0, 1.0]", None)  # the authored trigger
    explain = unit.question("explain-stable-sigmoid")
    assert "Clipping z" in nudge(unit, explain, "I would clip z to a safe range first", None)
    words = nudge(unit, explain, "an activation is cheap since it has few FLOPs to compute", None)  # no trigger: its words
    assert "An activation is cheap" in words
    assert nudge(unit, predict, "[1.0, 1.0, 1.0]", None) == ""  # a unit question with no match: the verdict only
    assert nudge(unit, unit.steps[1].question, "C", 1).startswith("A hint: Follow the float64 values")
    bare = unit.model_copy(update={"steps": [s.model_copy(update={"hint": ""}) for s in unit.steps]})
    assert nudge(bare, bare.steps[2].question, "1", 2) == "A hint: " + unit.hints[3]  # the closest unit hint
    assert nudge(bare, bare.steps[0].question, "(31, 4)", 0) == \
        "Re-read step 1 (The neuron is a dot product) with /show, then try again."
