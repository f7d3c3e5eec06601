"""Lesson Markdown in the terminal: math as Unicode (inline in the text, display math set apart), code untouched."""

from rich.console import Console

from mentor.render import lesson_renderable, protect_math


def test_protect_math_renders_unicode_and_escapes_markdown():
    out = protect_math(r"cost $2NDK$ and $d_{\text{model}} \cdot x^*$ and $$a \\ b,\; c$$ then `np.exp($x$)` stays")
    assert "cost 2NDK and" in out
    assert r"d\_model · x\*" in out  # `_` and `*` would be read as emphasis
    assert "```text\na\nb, c\n```" in out  # a display line break (\\\\) starts a new line
    assert "`np.exp($x$)`" in out


def test_text_without_math_is_unchanged():
    text = "A plain paragraph with `code` and no dollars."
    assert protect_math(text) == text


def _shown(markdown: str) -> str:
    c = Console(width=80, record=True, color_system=None)
    c.print(lesson_renderable(markdown))
    return c.export_text()


def test_display_math_is_set_apart_on_its_own_indented_lines():
    out = _shown("The mean:\n\n$$\\mu = \\frac{1}{d}\\sum_i x_i$$\n\nwith $x \\in \\mathbb{R}^d$ and **bold** text.")
    lines = out.splitlines()
    k = next(i for i, ln in enumerate(lines) if "μ =" in ln)
    assert lines[k].startswith("    μ = ─∑ᵢ xᵢ")
    assert lines[k - 1].strip() == "1" and lines[k + 1].strip() == "d"
    assert lines[k - 2].strip() == "" and lines[k + 2].strip() == ""  # blank lines around it
    assert "with x ∈ ℝᵈ and bold text." in out
    assert "$" not in out and "\\" not in out
