"""Auto-graded question kinds and the screen that refuses passive answers."""

from __future__ import annotations

import pytest

from mentor.curriculum import ChoiceQuestion, ExplainQuestion, NumericQuestion, PredictQuestion, ShortQuestion
from mentor.grading import grade, self_assessment

NUM = NumericQuestion(id="n", kind="numeric", prompt="?", answer=0.25, tolerance=0.001)
BIG = NumericQuestion(id="b", kind="numeric", prompt="?", answer=16777216, rel_tolerance=0.001)
CHO = ChoiceQuestion(id="c", kind="choice", prompt="?", options=["nan", "zero", "error"], answer=1)
SHO = ShortQuestion(id="s", kind="short", prompt="?", answers=["(32, 4)"], regex=None)
PRE = PredictQuestion(id="p", kind="predict", prompt="?", code="print(1)", answer="[0.0, 1.0]")
EXP = ExplainQuestion(id="e", kind="explain", prompt="?", rubric=["a", "b"], reference_answer="x", min_words=8)


@pytest.mark.parametrize("q,answer,verdict", [
    (NUM, "0.25", "correct"), (NUM, "1/4", "correct"), (NUM, "0.2505", "correct"), (NUM, "0.3", "incorrect"),
    (NUM, "a quarter", "refused"), (BIG, "16,777,216", "correct"), (BIG, "1.678e7", "correct"), (BIG, "2^24", "correct"),
    (BIG, "1.7e7", "incorrect"), (CHO, "B", "correct"), (CHO, "b", "correct"), (CHO, "zero", "correct"),
    (CHO, "A", "incorrect"), (CHO, "Z", "refused"), (SHO, "(32,4)", "correct"), (SHO, " `(32, 4)`. ", "correct"),
    (SHO, "(4, 32)", "incorrect"), (PRE, "[0.0,  1.0]", "correct"), (PRE, "[0, 1]", "correct"), (PRE, "[0, 2]", "incorrect"), (PRE, "", "refused"),
])
def test_auto_graded(q, answer, verdict):
    assert grade(q, answer).verdict == verdict


@pytest.mark.parametrize("answer", ["ok", "I get it", "makes sense.", "got it!", "", "yes", "idk",
                                    "it is stable because of math"])
def test_passive_or_short_explanations_are_refused(answer):
    assert grade(EXP, answer).verdict == "refused"


def test_real_explanation_goes_to_self_assessment():
    g = grade(EXP, "Each branch exponentiates only a non-positive number so the result stays below one.")
    assert g.verdict == "needs_self_assessment"
    assert self_assessment(EXP, [True, True]).verdict == "self_correct"
    assert self_assessment(EXP, [True, False]).verdict == "self_incorrect"


def test_wrong_numbers_say_nothing_about_direction():
    for a in ("0.3", "0.2", "100"):
        fb = grade(NUM, a).feedback
        assert "high" not in fb and "low" not in fb and "close" not in fb


@pytest.mark.parametrize("q", [NUM, CHO, SHO, PRE])
@pytest.mark.parametrize("ack", ["ok", "I get it", "makes sense", "got it!", "sure", "yes", "understood", "", "  "])
def test_acknowledgements_are_refused_for_every_kind(q, ack):
    assert grade(q, ack).verdict == "refused"


def test_real_outputs_that_look_like_words_are_graded():
    true = PredictQuestion(id="t", kind="predict", prompt="?", code="print(True)", answer="True")
    assert grade(true, "True").verdict == "correct"
    assert grade(PRE, "[]").verdict == "incorrect"


def test_choice_is_graded_in_the_order_shown():
    from mentor.grading import option_order

    order = option_order("u", "c", 3, 3)
    assert order == option_order("u", "c", 3, 3) and sorted(order) == [0, 1, 2]
    right = chr(65 + order.index(CHO.answer))
    g = grade(CHO, right, order)
    assert g.verdict == "correct" and g.chosen == "zero"
    assert grade(CHO, "zero", order).verdict == "correct"
    wrong = next(chr(65 + k) for k, i in enumerate(order) if i != CHO.answer)
    assert grade(CHO, wrong, order).verdict == "incorrect"


@pytest.mark.parametrize("uid,qid,answer,ok", [
    ("neuron", "predict-relu-grad", "[0, 0, 1]", True),            # 0 vs 0.0 in a list
    ("neuron", "predict-relu-grad", "[0, 1, 1]", False),
    ("losses", "predict-fancy-index", "(3,3) (3, )", True),        # spacing inside tuples
    ("losses", "predict-fancy-index", "[3, 3] (3,)", False),       # a list is not a tuple
    ("gradient-descent", "predict-fwd-central", "0.00003 1e-10", True),
    ("gradient-descent", "predict-restore", "[0, 0, 1]", False),   # booleans are not numbers here
    ("bpe-train", "predict-pretok", '["We", " don", "\'t", " ", " pay", " $", "12", ".", "50", "!!"]', True),  # quotes
    ("norms", "predict-var", "1.667 1.25", False),                 # a different value is still wrong
])
def test_predict_answers_compared_by_value_and_the_learner_is_told(uid, qid, answer, ok):
    from mentor.curriculum import course
    from mentor.grading import NORMALISED, grade

    g = grade(course().units[uid].question(qid), answer)
    assert (g.verdict == "correct") == ok, (answer, g)
    if ok:
        assert g.feedback == NORMALISED


GIB = NumericQuestion(id="g", kind="numeric", prompt="?", answer=2.0, tolerance=0.01, unit="GiB")
GB = NumericQuestion(id="d", kind="numeric", prompt="?", answer=2.147, tolerance=0.01, unit="GB")


@pytest.mark.parametrize("q,answer,verdict", [
    (GIB, "2", "correct"), (GIB, "2 GiB", "correct"), (GIB, "2 gib", "correct"), (GIB, "2 GB", "refused"),
    (GIB, "2GB", "refused"), (GB, "2.147 GB", "correct"), (GB, "2.15", "correct"), (GB, "2 GiB", "refused"),
    (GB, "2", "incorrect"), (GB, "2.147 gigabytes", "correct"),
])
def test_a_different_byte_unit_is_not_accepted_as_the_asked_one(q, answer, verdict):
    g = grade(q, answer)
    assert g.verdict == verdict, (answer, g.feedback)
    if verdict == "refused":
        assert q.unit in g.feedback and "2^30" in g.feedback
