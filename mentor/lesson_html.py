"""A unit's lesson as one self-contained HTML page: MathML math, highlighted code, the unit's status.

`mentor show UNIT --html` writes it. Math is typeset by the browser itself: latex2mathml turns each
`$...$` / `$$...$$` into MathML (which Chromium, Firefox and Safari render natively), Markdown
becomes HTML with markdown-it (rich's own parser), code blocks are coloured by pygments. Nothing is
fetched: no CDN, no web fonts, no scripts; the CSS is inline.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mentor.curriculum import Unit

# latex2mathml leaves these operator names as raw `\arg`: spell them as operator names it knows.
_OPERATOR_NAMES = ("arg", "sgn")

_CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; line-height: 1.55;
       max-width: 46rem; margin: 2rem auto; padding: 0 1rem; color: #1f2328; background: #ffffff; }
h1 { font-size: 1.7rem; margin-bottom: .2rem; } h2 { font-size: 1.25rem; margin-top: 2rem;
     border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; }
.status { display: inline-block; padding: .15rem .6rem; border-radius: 1rem; font-weight: 600; font-size: .9rem;
          background: #ddf4ff; color: #0550ae; border: 1px solid #54aeff; }
.status.locked { background: #fff8c5; color: #7d4e00; border-color: #d4a72c; }
.status.proficient, .status.mastered { background: #dafbe1; color: #116329; border-color: #4ac26b; }
.meta { color: #59636e; margin-top: .3rem; }
blockquote { border-left: .25rem solid #d0d7de; margin: 1rem 0; padding: .2rem 1rem; color: #59636e; }
code { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .92em;
       background: #f6f8fa; padding: .1em .3em; border-radius: .3em; }
pre { background: #f6f8fa; padding: .8rem 1rem; border-radius: .4rem; overflow-x: auto; }
pre code { background: none; padding: 0; }
math[display="block"] { display: block; margin: 1rem 0 1rem 1.5rem; padding: .2rem 0; overflow-x: auto;
                        overflow-y: hidden; font-size: 1.1em; }
math { font-family: "STIX Two Math", "Latin Modern Math", "Cambria Math", math; }
.latex-error { color: #cf222e; }
"""


def _mathml(latex: str, display: bool) -> str:
    from latex2mathml.converter import convert

    src = re.sub(r"\\\\\[[^\]]*\]", r"\\\\", latex)  # `\\[4pt]`: a row gap latex2mathml would print
    for name in _OPERATOR_NAMES:
        src = re.sub(rf"\\{name}(?![A-Za-z])", rf"\\operatorname{{{name}}}", src)
    try:
        return convert(src, display="block" if display else "inline")
    except Exception:  # latex2mathml raises many types; show the source rather than lose the formula
        return f'<code class="latex-error" title="could not typeset">{html.escape(latex)}</code>'


def _highlight(code: str, lang: str, _attrs: object) -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import TextLexer, get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        lexer = get_lexer_by_name(lang) if lang else TextLexer()
    except ClassNotFound:
        lexer = TextLexer()
    return highlight(code, lexer, HtmlFormatter(nowrap=True))


def markdown_html(text: str) -> str:
    """Lesson Markdown as HTML, its math as MathML (code spans and blocks keep their dollars)."""
    from markdown_it import MarkdownIt

    from mentor.mathtext import split_math

    parts: list[str] = []
    maths: dict[str, str] = {}
    for sp in split_math(text):
        if sp.kind in ("inline", "display"):
            key = f"MENTORMATH{len(maths)}X"
            maths[key] = _mathml(sp.text, sp.kind == "display")
            parts.append(f"\n\n{key}\n\n" if sp.kind == "display" else key)
        else:
            parts.append(sp.text)
    md = MarkdownIt("commonmark", {"html": False, "highlight": _highlight})
    out = md.render("".join(parts))
    out = re.sub(r"<p>(MENTORMATH\d+X)</p>", lambda m: maths[m.group(1)], out)
    return re.sub(r"MENTORMATH\d+X", lambda m: maths[m.group(0)], out)


def _code_spans(escaped: str) -> str:
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


def lesson_page(unit: "Unit", markdown: str, status: str, detail: str = "") -> str:
    """The whole page: title, the unit's status, the lesson (markdown from mentor.lesson.unit_markdown)."""
    from pygments.formatters import HtmlFormatter

    body = markdown_html(markdown)
    pygments_css = HtmlFormatter().get_style_defs("pre code")
    css_class = re.sub(r"[^a-z]", "", status.lower())
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{html.escape(unit.title)} — mentor</title>\n"
        f"<style>{_CSS}\n{pygments_css}</style>\n</head>\n<body>\n"
        f"<p class=\"meta\"><span class=\"status {css_class}\">{html.escape(status)}</span> "
        f"{_code_spans(html.escape(detail))}</p>\n{body}\n</body>\n</html>\n"
    )
