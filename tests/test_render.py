"""Lesson Markdown in the terminal: LaTeX survives verbatim (rich would eat its backslash escapes)."""

from mentor.render import protect_math


def test_inline_and_display_math_become_code():
    out = protect_math(r"cost $2NDK$ and $$a \\ b,\; c$$ then `np.exp` stays")
    assert "`2NDK`" in out
    assert "```latex\na \\\\ b,\\; c\n```" in out
    assert "`np.exp`" in out


def test_text_without_math_is_unchanged():
    text = "A plain paragraph with `code` and no dollars."
    assert protect_math(text) == text
