"""Lesson math as Unicode (mentor/mathtext.py): every span of the curriculum, exact renderings, unbalanced math."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from mentor.curriculum import _text_fields, load_course
from mentor.errors import MentorError
from mentor.mathtext import latex_to_unicode, math_problems, split_math
from mentor.paths import curriculum_dir


def _curriculum_spans() -> list[tuple[str, str, str, str]]:
    spans = []
    for uid, unit in load_course().units.items():
        for loc, text in _text_fields(unit):
            for sp in split_math(text):
                if sp.kind in ("inline", "display"):
                    spans.append((uid, ".".join(map(str, loc)), sp.kind, sp.text))
    return spans


SPANS = _curriculum_spans()


def test_the_curriculum_has_math_to_render():
    assert len(SPANS) > 1000
    assert sum(kind == "display" for _, _, kind, _ in SPANS) > 80


@pytest.mark.parametrize("display", [False, True])
def test_every_curriculum_math_span_renders_without_leftover_commands(display):
    bad = []
    for uid, field, kind, latex in SPANS:
        if display and kind != "display":
            continue
        out = latex_to_unicode(latex, display=display)
        where = f"{uid} {field}: ${latex}$ -> {out!r}"
        if re.search(r"\\[A-Za-z]+|\\[^A-Za-z\s]", out):  # no allowed exceptions
            bad.append("leftover command: " + where)
        if not out.strip():
            bad.append("empty: " + where)
        for a, b in ("()", "[]"):  # fractions and roots add parentheses in pairs only
            if out.count(a) - out.count(b) != latex.count(a) - latex.count(b):
                bad.append(f"unbalanced {a}{b}: " + where)
        drawn = latex.count("\\{") + latex.count("\\lbrace") + (not display and "{cases}" in latex)
        if out.count("{") != drawn or out.count("}") != latex.count("\\}") + latex.count("\\rbrace"):
            bad.append("grouping brace left in: " + where)
    assert not bad, "\n".join(bad[:20])


REPRESENTATIVE = [
    (r"\frac{a+b}{c}", "(a+b)/c"),
    (r"\frac{1}{\sqrt{d_k}}", "1/√dₖ"),
    (r"\frac{\partial L}{\partial z}", "∂L/∂z"),
    (r"\frac{f(x + \epsilon e_i) - f(x)}{2\epsilon}", "(f(x + ϵeᵢ) - f(x))/(2ϵ)"),
    (r"\tfrac{\epsilon^2}{2}\,\partial_i^2 f", "ϵ²/2 ∂ᵢ² f"),
    (r"\sqrt{2/\mathrm{fan\_in}}", "√(2/fan_in)"),
    (r"x_i^2 + x_{t-1} + 2^{-52}", "xᵢ² + xₜ₋₁ + 2⁻⁵²"),
    (r"\sum_{i=1}^{n} x_i", "∑ᵢ₌₁ⁿ xᵢ"),
    (r"\alpha, \beta, \sigma, \Delta, \varepsilon", "α, β, σ, Δ, ε"),
    (r"W \in \mathbb{R}^{d_\text{out} \times d_\text{in}}", "W ∈ ℝ^(dₒᵤₜ × dᵢₙ)"),
    (r"W^\top x", "Wᵀx"),
    (r"W_Q^{(h)\top}", "W_Q⁽ʰ⁾ᵀ"),
    (r"a \odot b", "a ⊙ b"),
    (r"\lVert g\rVert \le c", "‖g‖ ≤ c"),
    (r"V = 50{,}257", "V = 50,257"),
    (r"\mathbf{x} \cdot \mathbf{y}", "𝐱 · 𝐲"),
    (r"\text{softmax}(z)_i", "softmax(z)ᵢ"),
    (r"\log \exp(x) \approx x", "log exp(x) ≈ x"),
    (r"\log\sum_k e^{z_k}", "log ∑ₖ e^(zₖ)"),
    (r"d_{\text{model}}", "d_model"),
    (r"\hat y - \bar x", "ŷ - x̅"),
    (r"\theta \leftarrow \theta - \eta \nabla L", "θ ← θ - η∇L"),
    (r"\|w\| \to \infty", "‖w‖ → ∞"),
    (r"\arg\max_i z_i", "arg maxᵢ zᵢ"),
    (r"\left( \frac{a}{b} \right)", "(a/b)"),
    (r"\sigma(z) = \begin{cases} 1 & z \ge 0 \\ 0 & z < 0 \end{cases}", "σ(z) = {1, z ≥ 0; 0, z < 0"),
    (r"\underbrace{Vd}_{\text{embedding}}", "Vd_embedding"),
]


@pytest.mark.parametrize("latex,expected", REPRESENTATIVE)
def test_representative_inline_renderings(latex, expected):
    assert latex_to_unicode(latex) == expected


def test_display_math_stacks_fractions_cases_matrices_and_braces():
    assert latex_to_unicode(r"\sigma(z) = \begin{cases} \dfrac{1}{1 + e^{-z}} & z \ge 0 \\[4pt] "
                            r"\dfrac{e^{z}}{1 + e^{z}} & z < 0 \end{cases}", display=True) == (
        "σ(z) = ⎧ 1/(1 + e⁻ᶻ)  z ≥ 0\n"
        "       ⎩ eᶻ/(1 + eᶻ)  z < 0")
    assert latex_to_unicode(r"\frac{\partial L}{\partial b} = \frac{1}{N}\sum_n x_n", display=True) == (
        "∂L   1\n"
        "── = ─∑ₙ xₙ\n"
        "∂b   N")
    assert latex_to_unicode(r"\begin{pmatrix} a & b \\ c & d \end{pmatrix}", display=True) == "⎛ a  b ⎞\n⎝ c  d ⎠"
    assert latex_to_unicode(r"N = \underbrace{Vd}_{\text{embedding}} + 1", display=True) == (
        "N =    Vd     + 1\n"
        "       └┬┘\n"
        "    embedding")


def test_split_math_keeps_code_and_escaped_dollars_out_of_math():
    spans = split_math("cost $2NDK$, `echo $HOME` and\n```\nprint('$x')\n```\n$$a\nb$$ then \\$5")
    assert [(s.kind, s.text) for s in spans if s.kind != "text"] == [
        ("inline", "2NDK"), ("code", "`echo $HOME`"), ("code", "```\nprint('$x')\n```\n"), ("display", "a\nb")]
    assert spans[-1].text == " then \\$5"


@pytest.mark.parametrize("text,line,words", [
    ("one\ngives $\\epsilon \\sim u^{1/2}\n\\approx 10^{-8}$ for", 1, "spans a line break"),
    ("a $x$ and $b", 0, "never closed"),
    ("a $$x\n\ny", 0, "never closed"),
    ("ok\n$\\frac{a}{b$", 1, "1 { never closed"),
    ("$a}$", 0, "a } closes nothing"),
])
def test_unbalanced_math_is_found_with_its_line(text, line, words):
    problems = math_problems(text)
    assert len(problems) == 1 and problems[0][0] == line and words in problems[0][1], problems


def test_balanced_math_has_no_problems():
    assert math_problems("a $x_{i}$, `$`, \\$5 and $$\\frac{a}{b}\n+ c$$") == []


def test_the_course_rejects_a_dollar_pair_across_a_line_break_with_file_line_unit_and_field(tmp_path: Path):
    root = tmp_path / "curriculum"
    shutil.copytree(curriculum_dir(), root)
    path = next(root.glob("p1/*-neuron/unit.yaml"))
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    k = next(i for i, ln in enumerate(lines) if ln.startswith("      ") and "$$" not in ln and ln.count("$") == 2)
    indent = lines[k][: len(lines[k]) - len(lines[k].lstrip())]
    lines[k + 1:k + 1] = [indent + "broken $x +", indent + "y$ here"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(MentorError) as e:
        load_course(root)
    msg = e.value.message
    assert f"{path}:{k + 2}:" in msg and "unit 'neuron'" in msg and "spans a line break" in msg, msg


def test_every_curriculum_math_span_typesets_as_mathml():
    from mentor.lesson_html import _mathml

    bad = []
    for uid, field, kind, latex in SPANS:
        out = _mathml(latex, kind == "display")
        if not out.startswith("<math") or re.search(r"\\[A-Za-z]+|\[\d+pt\]", out):
            bad.append(f"{uid} {field}: ${latex}$ -> {out[:200]}")
    assert not bad, "\n".join(bad[:20])


def test_lesson_markdown_becomes_html_with_mathml_and_literal_code():
    from mentor.lesson_html import markdown_html

    out = markdown_html("Cost $O(T^2)$, **bold**, `a $b$ c` and\n\n$$\\frac{1}{2}$$\n\n```python\nx = '$1'\n```\n\n\\$5")
    assert '<math xmlns="http://www.w3.org/1998/Math/MathML" display="inline">' in out and "<msup>" in out
    assert '<math xmlns="http://www.w3.org/1998/Math/MathML" display="block"><mrow><mfrac>' in out
    assert '\n<math xmlns="http://www.w3.org/1998/Math/MathML" display="block">' in out  # its own block, not in a <p>
    assert "<code>a $b$ c</code>" in out  # code keeps its dollars
    assert """<span class="s1">'$1'</span>""" in out  # pygments highlighted the block
    assert "<p>$5</p>" in out
