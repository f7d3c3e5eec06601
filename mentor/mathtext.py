"""LaTeX math in lesson text: find the `$...$` / `$$...$$` spans, check them, render them as Unicode.

Symbols come from maintained converters, not from a table of ours: pylatexenc parses the LaTeX
(and its latex2text context names the text of symbol macros: `\\le` -> ≤, `\\log` -> log), and
unicodeit supplies the rest of the symbols, the sub/superscript characters and the combining
accents. This module only lays out structure the converters flatten ambiguously: `\\frac` as
`a/(b + c)` inline (parentheses only where needed) and stacked over a rule in display math,
`\\sqrt`, `cases`/matrices as aligned rows with tall brackets, `\\underbrace` with its label below.
Each piece is a small box of text lines with a baseline, so display math can take several lines.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, NamedTuple

from rich.cells import cell_len

# --------------------------------------------------------------------------- finding math in Markdown
_FENCE = re.compile(r"[ \t]*(```|~~~)")


@dataclass(frozen=True)
class Span:
    """A piece of lesson text: kind 'text' (Markdown), 'code' (verbatim), 'inline' or 'display' math."""

    kind: str
    text: str  # for math: the LaTeX between the dollars
    line: int  # 0-based line of the span's start in the whole text


class MathSyntaxError(ValueError):
    """Unbalanced math in a text field; `line` is 0-based within the text."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def split_math(text: str, strict: bool = False) -> list[Span]:
    """Split Markdown into text, code (fenced blocks, backtick spans) and math spans.

    `\\$` is a literal dollar. Not strict (rendering): a `$` that opens no well-formed span stays
    text. Strict (validation): raise MathSyntaxError on the first unbalanced `$` or brace.
    """
    spans: list[Span] = []
    buf: list[str] = []
    buf_line = 0
    i, n, line = 0, len(text), 0

    def flush() -> None:
        if buf:
            spans.append(Span("text", "".join(buf), buf_line))
            buf.clear()

    def emit(kind: str, body: str, at: int) -> None:
        flush()
        spans.append(Span(kind, body, at))

    at_line_start = True
    while i < n:
        fence = _FENCE.match(text, i) if at_line_start else None
        if fence:  # a fenced code block runs to its closing fence (or the end)
            j = _line_end(text, i)
            while j < n:
                eol = _line_end(text, j)
                closes = re.match(r"[ \t]*" + re.escape(fence.group(1)), text[j:eol])
                j = eol
                if closes:
                    break
            block = text[i:j]
            emit("code", block, line)
            line += block.count("\n")
            i = j
            continue
        c = text[i]
        at_line_start = c == "\n"
        if c == "\\" and i + 1 < n and text[i + 1] in "$`\\":
            if not buf:
                buf_line = line
            buf.append(text[i:i + 2])
            i += 2
            continue
        if c == "`":
            run = re.match(r"`+", text[i:]).group(0)  # type: ignore[union-attr]
            close = text.find(run, i + len(run))
            if close >= 0:
                body = text[i:close + len(run)]
                start_line = line
                line += body.count("\n")
                emit("code", body, start_line)
                i = close + len(run)
                continue
        if c == "$":
            display = text.startswith("$$", i)
            width = 2 if display else 1
            close = _closing_dollar(text, i + width, display)
            if close < 0:
                if strict:
                    what = "$$" if display else "$"
                    raise MathSyntaxError(f"a {what} opens math that is never closed (an odd number of unescaped "
                                          f"{what}; write \\$ for a literal dollar)", line)
            else:
                body = text[i + width:close]
                if not display and "\n" in body:
                    if strict:
                        raise MathSyntaxError(f"the inline math ${_short(body)}$ spans a line break: keep a $...$ pair "
                                              "on one line (or make it display math, $$...$$)", line)
                else:
                    if strict:
                        _check_braces(body, line)
                    start_line = line
                    line += body.count("\n")
                    emit("display" if display else "inline", body, start_line)
                    i = close + width
                    continue
        if not buf:
            buf_line = line
        buf.append(c)
        line += c == "\n"
        i += 1
    flush()
    return spans


def _line_end(text: str, i: int) -> int:
    k = text.find("\n", i)
    return len(text) if k < 0 else k + 1


def _closing_dollar(text: str, start: int, display: bool) -> int:
    """Index of the unescaped `$` (or `$$`) closing math that starts at `start`; -1 if none."""
    j = start
    while j < len(text):
        if text[j] == "\\":
            j += 2
            continue
        if text[j] == "$":
            if display:
                return j if text.startswith("$$", j) else -1
            return j if j > start else -1
        j += 1
    return -1


def _check_braces(body: str, line: int) -> None:
    depth = 0
    j = 0
    while j < len(body):
        if body[j] == "\\":
            j += 2
            continue
        if body[j] == "{":
            depth += 1
        elif body[j] == "}":
            depth -= 1
            if depth < 0:
                raise MathSyntaxError(f"unbalanced braces in the math ${_short(body)}$: a }} closes nothing", line + body[:j].count("\n"))
        j += 1
    if depth:
        raise MathSyntaxError(f"unbalanced braces in the math ${_short(body)}$: {depth} {{ never closed", line)


def _short(s: str, width: int = 50) -> str:
    s = " ".join(s.split())
    return s if len(s) <= width else s[: width - 1] + "…"


def math_problems(text: str) -> list[tuple[int, str]]:
    """Unbalanced math in one text field: [(0-based line, message)] (empty when it is fine)."""
    try:
        split_math(text, strict=True)
    except MathSyntaxError as e:
        return [(e.line, e.message)]
    return []


# --------------------------------------------------------------------------- boxes of text
@dataclass(frozen=True)
class Box:
    lines: tuple[str, ...]
    base: int = 0  # the line that aligns with the surrounding text
    linear: bool = False  # an inline fraction a/b: set apart from a juxtaposed factor (ε/2 ∂²f)

    @property
    def width(self) -> int:
        return max((cell_len(s) for s in self.lines), default=0)

    @property
    def flat(self) -> bool:
        return len(self.lines) == 1

    def text(self) -> str:
        return "\n".join(s.rstrip() for s in self.lines)


def _pad(s: str, width: int, align: str = "left") -> str:
    gap = max(0, width - cell_len(s))
    if align == "center":
        return " " * (gap // 2) + s + " " * (gap - gap // 2)
    return s + " " * gap


def _line(s: str) -> Box:
    return Box((s,), 0)


def hcat(boxes: Iterable[Box]) -> Box:
    boxes = [b for b in boxes if b.lines and (b.width or not b.flat)]
    if not boxes:
        return _line("")
    above = max(b.base for b in boxes)
    below = max(len(b.lines) - b.base - 1 for b in boxes)
    rows = []
    for r in range(above + below + 1):
        parts = []
        for b in boxes:
            k = r - above + b.base
            parts.append(_pad(b.lines[k] if 0 <= k < len(b.lines) else "", b.width))
        rows.append("".join(parts))
    return Box(tuple(rows), above)


def vstack(rows: list[Box], base: int, align: str = "center") -> Box:
    width = max(b.width for b in rows)
    lines: list[str] = []
    for b in rows:
        lines.extend(_pad(s, width, align) for s in b.lines)
    return Box(tuple(lines), base)


def _tall(left: str, right: str, height: int, body: Box) -> Box:
    """body between tall delimiters: left/right are 'top, middle, bottom, single' characters."""
    def column(chars: str) -> Box:
        if not chars:
            return _line("")
        if height == 1:
            return Box((chars[3],), 0)
        col = [chars[1]] * height
        col[0], col[-1] = chars[0], chars[2]
        if len(chars) > 4 and height % 2:
            col[height // 2] = chars[4]
        return Box(tuple(col), body.base)

    return hcat([column(left), body, column(right)])


# --------------------------------------------------------------------------- the converters' tables
class _Tables(NamedTuple):
    text_db: object  # pylatexenc's latex2text context: the text of symbol macros (\\le -> ≤, \\log -> log)
    symbols: dict[str, str]  # unicodeit: macro name -> symbol
    letters: dict[str, str]  # unicodeit: \\mathbb{R} -> ℝ, \\mathbf{x} -> 𝐱
    sup: dict[str, str]  # unicodeit: character -> superscript character
    sub: dict[str, str]
    marks: dict[str, str]  # unicodeit: accent macro name -> combining mark


@lru_cache(maxsize=1)
def _tables() -> _Tables:
    import unicodeit.data as ud
    from pylatexenc.latex2text import get_default_latex_context_db

    sup: dict[str, str] = {}
    sub: dict[str, str] = {}
    for k, v in ud.SUBSUPERSCRIPTS:  # keep the real sub/superscript characters only (its ^V is a Hangul letter)
        name = unicodedata.name(v, "")
        if k[0] == "^" and ("SUPERSCRIPT" in name or "MODIFIER" in name):
            sup[k[1:]] = v
        elif k[0] == "_" and "SUBSCRIPT" in name:
            sub[k[1:]] = v
    return _Tables(
        text_db=get_default_latex_context_db(),
        symbols={k[1:]: v for k, v in ud.REPLACEMENTS if re.fullmatch(r"\\[A-Za-z]+", k)},
        letters={k: v for k, v in ud.REPLACEMENTS if re.fullmatch(r"\\math[a-z]+\{.\}", k)},
        sup=sup, sub=sub, marks={k[1:]: v for k, v in ud.COMBININGMARKS})


def _symbol(name: str) -> str | None:
    """The Unicode text of a symbol macro (no arguments), from pylatexenc then unicodeit."""
    t = _tables()
    spec = t.text_db.get_macro_spec(name)  # type: ignore[attr-defined]
    repl = getattr(spec, "simplify_repl", None) if spec is not None else None
    if isinstance(repl, str) and repl and "%" not in repl:
        return repl
    return t.symbols.get(name)


def _script(content: str, sup: bool) -> str:
    """content as Unicode super/subscript characters, else `^x`/`_x` or `^(x + 1)`/`_(x + 1)`."""
    table = _tables().sup if sup else _tables().sub
    if sup:
        content = content.replace("⊤", "T")  # W^\top reads as Wᵀ
    if sup and content in ("′", "'", "*", "†", "″"):
        return content
    if content and all(ch in table for ch in content):
        return "".join(table[ch] for ch in content)
    mark = "^" if sup else "_"
    return mark + content if re.fullmatch(r"[A-Za-z0-9]+|.", content) else f"{mark}({content})"


# --------------------------------------------------------------------------- LaTeX to boxes
_SIZING = {"left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr", "biggl", "biggr",
           "Biggl", "Biggr", "displaystyle", "textstyle", "scriptstyle", "limits", "nolimits", "middle"}
_TEXT = {"text", "textrm", "textnormal", "mathrm", "operatorname", "mbox", "texttt", "textit", "mathit",
         "textbf", "mathsf", "textsf", "emph", "mathtt"}
_STYLED = {"mathbf", "mathbb", "mathcal", "mathfrak", "mathscr", "boldsymbol", "bm", "mathbfit"}
_FRACS = {"frac": True, "dfrac": True, "tfrac": False, "cfrac": True}
_SPACES = {",": " ", ":": " ", ";": " ", ">": " ", " ": " ", "!": "", "quad": "  ", "qquad": "    ", "enspace": " "}
_ENV_DELIMS = {"pmatrix": ("⎛⎜⎝(", "⎞⎟⎠)"), "bmatrix": ("⎡⎢⎣[", "⎤⎥⎦]"), "vmatrix": ("││││", "││││"),
               "Vmatrix": ("‖‖‖‖", "‖‖‖‖"), "cases": ("⎧⎪⎩{⎨", ""), "matrix": ("", ""), "aligned": ("", ""),
               "align": ("", ""), "align*": ("", ""), "array": ("", ""), "gathered": ("", ""), "split": ("", "")}
_OPERATOR_NAMES = {"arg", "bmod", "pmod", "det", "deg", "dim", "gcd", "hom", "ker", "Pr", "lg", "liminf", "limsup", "sgn"}
_OPENERS = {"langle", "lVert", "lvert", "lceil", "lfloor", "{", "lbrace", "lbrack"}
_CLOSERS = {"rangle", "rVert", "rvert", "rceil", "rfloor", "}", "rbrace", "rbrack"}
_OPERATOR_CHARS = set(" +-−=<>≤≥≈±∓·⋅×/∕,;:|→←⇒∈∼≠")


def _walker_nodes(latex: str) -> list[object]:
    from pylatexenc.latexwalker import LatexWalker

    nodes, _, _ = LatexWalker(latex, latex_context=_walker_db(), tolerant_parsing=True).get_latex_nodes()
    return nodes


@lru_cache(maxsize=1)
def _walker_db() -> object:
    from pylatexenc.latexwalker import get_default_latex_context_db
    from pylatexenc.macrospec import MacroSpec

    db = get_default_latex_context_db()
    specs = [MacroSpec(name, "{{") for name in _FRACS] + [MacroSpec("underbrace", "{"), MacroSpec("overbrace", "{"),
             MacroSpec("mathrel", "{"), MacroSpec("operatorname", "{"), MacroSpec("boldsymbol", "{"), MacroSpec("bm", "{")]
    specs += [MacroSpec(name, "{") for name in _STYLED | _TEXT]
    db.add_context_category("mentor-math", macros=specs, prepend=True)
    return db


class _Renderer:
    def __init__(self, display: bool) -> None:
        self.display = display

    def nodes(self, nodes: list[object], display: bool | None = None) -> Box:
        """A node list as one box (`display` overrides the mode for this list)."""
        saved = self.display
        if display is not None:
            self.display = display
        try:
            return hcat(_join(self._items(nodes)))
        finally:
            self.display = saved

    def _items(self, nodes: list[object]) -> list[tuple[Box, str]]:
        """Each token as (box, role); roles drive spacing: open, close, ord (a letter), opname (log, softmax),
        frac (an inline a/b), script, space (written), soft (after a control word: dropped before a letter)."""
        from pylatexenc import latexwalker as lw

        tokens: list[object] = []
        for nd in nodes:
            if isinstance(nd, lw.LatexCharsNode):
                tokens.extend(nd.chars)
            elif isinstance(nd, lw.LatexCommentNode):
                continue
            else:
                tokens.append(nd)
        items: list[tuple[Box, str]] = []  # (box, role): open / close / ord / space / soft / other
        k = 0
        while k < len(tokens):
            t = tokens[k]
            if isinstance(t, str) and t in ("_", "^"):
                arg, k = self._arg(tokens, k + 1)
                items.append((_line(_script(" ".join(arg.text().split()), t == "^")), "script"))
                continue
            if isinstance(t, str):
                if t.isspace():
                    items.append((_line(" "), "space"))
                    while k < len(tokens) and isinstance(tokens[k], str) and tokens[k].isspace():
                        k += 1
                    if k < len(tokens) and isinstance(tokens[k], str) and tokens[k] in ("_", "^"):
                        items.pop()  # `x ^2` is x²
                    continue
                role = "open" if t in "([{" else "close" if t in ")]}" else "ord" if t.isalnum() else "other"
                items.append((_line({"~": " ", "'": "′"}.get(t, t)), role))
                k += 1
                continue
            if (isinstance(t, lw.LatexMacroNode) and t.macroname in ("left", "right") and k + 1 < len(tokens)
                    and isinstance(tokens[k + 1], str) and tokens[k + 1] == "."):
                k += 2  # \left. and \right. draw nothing
                continue
            name = getattr(t, "macroname", "")
            if name in _SIZING:  # \left \big \textstyle: sizes we cannot draw
                k += 1
                continue
            box = self.node(t)
            role = ("open" if name in _OPENERS else "close" if name in _CLOSERS else "frac" if box.linear
                    else "space" if name in _SPACES
                    else "ord" if self._ordinary(box)
                    else "opname" if re.fullmatch(r"[A-Za-z][A-Za-z ]+", box.text()) else "other")
            items.append((box, role))
            if isinstance(t, lw.LatexMacroNode) and t.macro_post_space and role != "space" and not self.args(t):
                items.append((_line(" "), "soft" if role in ("ord", "open") else "space"))
            k += 1
        return items

    @staticmethod
    def _ordinary(b: Box) -> bool:
        """An ordinary symbol (a letter, ∂, ∇): LaTeX puts no space after it (`\\partial L` is ∂L)."""
        s = b.text()
        return (len(s) >= 1 and (unicodedata.category(s[0]).startswith("L") or s[0] in "∂∇")
                and all(unicodedata.category(ch) == "Mn" for ch in s[1:]))

    def _arg(self, tokens: list[object], k: int) -> tuple[Box, int]:
        while k < len(tokens) and isinstance(tokens[k], str) and tokens[k].isspace():
            k += 1
        if k >= len(tokens):
            return _line(""), k
        t = tokens[k]
        if isinstance(t, str):
            return _line({"'": "′"}.get(t, t)), k + 1
        return self.node(t, flat=True), k + 1

    def group(self, nd: object) -> Box:
        return self.nodes(getattr(nd, "nodelist", None) or [])

    def node(self, nd: object, flat: bool = False) -> Box:
        from pylatexenc import latexwalker as lw

        if flat:
            saved, self.display = self.display, False
            try:
                return self.node(nd)
            finally:
                self.display = saved
        if isinstance(nd, lw.LatexGroupNode):
            inner = self.group(nd)
            if nd.delimiters[0] == "[":
                return hcat([_line("["), inner, _line("]")])
            return inner
        if isinstance(nd, lw.LatexCharsNode):
            return self.nodes([nd])
        if isinstance(nd, lw.LatexSpecialsNode):
            return _line({"&": " ", "~": " "}.get(nd.specials_chars, nd.specials_chars))
        if isinstance(nd, lw.LatexEnvironmentNode):
            return self.environment(nd)
        if isinstance(nd, lw.LatexMathNode):
            return self.nodes(nd.nodelist)
        if isinstance(nd, lw.LatexMacroNode):
            return self.macro(nd)
        return _line("")

    def args(self, nd: object) -> list[object]:
        d = getattr(nd, "nodeargd", None)
        return list(d.argnlist) if d is not None and d.argnlist else []

    def macro(self, nd: object) -> Box:
        name = nd.macroname  # type: ignore[attr-defined]
        args = self.args(nd)
        if name in _FRACS:
            num, den = (self.node(a) if a is not None else _line("") for a in (args + [None, None])[:2])
            if self.display and _FRACS[name]:
                w = max(num.width, den.width)
                top = Box(tuple(_pad(s, w, "center") for s in num.lines), 0)
                bottom = Box(tuple(_pad(s, w, "center") for s in den.lines), 0)
                return Box(top.lines + ("─" * w,) + bottom.lines, len(top.lines))
            return Box((_wrap(_flat(num)) + "/" + _wrap(_flat(den)),), 0, linear=True)
        if name == "sqrt":
            index = args[0] if args else None
            body = self.node(args[1], flat=True) if len(args) > 1 and args[1] is not None else _line("")
            root = {"3": "∛", "4": "∜"}.get(_flat(self.node(index)) if index is not None else "", "√")
            return _line(root + _wrap(_flat(body)))
        if name in _TEXT:
            return _line(_flat_text(args[0]) if args and args[0] is not None else "")
        if name in _STYLED:
            inner = _flat(self.node(args[0])) if args and args[0] is not None else ""
            style = {"boldsymbol": "mathbf", "bm": "mathbf", "mathscr": "mathcal"}.get(name, name)
            letters = _tables().letters
            return _line("".join(letters.get(f"\\{style}{{{ch}}}", ch) for ch in inner))
        if name == "mathrel":
            return self.node(args[0]) if args and args[0] is not None else _line("")
        if name in ("underbrace", "overbrace"):
            return self._brace(nd, name)
        marks = _tables().marks
        if name in marks and args and args[0] is not None:
            inner = _flat(self.node(args[0], flat=True))
            mark = marks[name]
            if name in ("overline", "bar", "underline"):  # the mark on every character: g̅x̂̅
                clusters = re.findall(r"\S[\u0300-\u036f]*", inner)
                return _line(unicodedata.normalize("NFC", "".join(cl + mark for cl in clusters)))
            return _line(unicodedata.normalize("NFC", inner + mark))
        if name in _SIZING:
            return _line("")
        if name in _SPACES:
            return _line(_SPACES[name])
        if name == "\\":
            return _line(" ")
        if len(name) == 1 and not name.isalpha():  # \{ \} \| \% \$ \_ \# \&
            return _line({"|": "‖"}.get(name, name))
        sym = _symbol(name)
        if sym is not None:
            return _line(sym)
        if name in _OPERATOR_NAMES:  # \arg, \bmod: upright operator words
            return _line({"bmod": "mod", "pmod": "mod"}.get(name, name))
        return _line("\\" + name)

    def _brace(self, nd: object, name: str) -> Box:
        args = self.args(nd)
        body = self.node(args[0]) if args and args[0] is not None else _line("")
        label = getattr(nd, "_mentor_label", None)
        if label is None:
            return body
        if not self.display:
            return _line(_wrap(_flat(body)) + _script(_flat(label), name == "overbrace"))
        w = max(body.width, 3)
        rule = "└" + "─" * ((w - 3) // 2) + "┬" + "─" * (w - 3 - (w - 3) // 2) + "┘"
        parts = [Box(tuple(_pad(s, w, "center") for s in body.lines), 0), _line(rule),
                 Box(tuple(_pad(s, w, "center") for s in label.lines), 0)]
        return vstack(parts, body.base)

    def environment(self, nd: object) -> Box:
        from pylatexenc import latexwalker as lw

        name = nd.environmentname  # type: ignore[attr-defined]
        rows: list[list[list[object]]] = [[[]]]
        for child in nd.nodelist:  # type: ignore[attr-defined]
            if isinstance(child, lw.LatexSpecialsNode) and child.specials_chars == "&":
                rows[-1].append([])
            elif isinstance(child, lw.LatexMacroNode) and child.macroname == "\\":
                rows.append([[]])
            else:
                rows[-1][-1].append(child)
        rows = [r for r in rows if any(_has_content(c) for c in r)]
        cells = [[self.nodes(c, display=False) for c in r] for r in rows]
        if not cells:
            return _line("")
        left, right = _ENV_DELIMS.get(name, ("", ""))
        if not self.display:  # inline: one line
            inner = "; ".join(", ".join(_flat(c).strip() for c in r) for r in cells)
            return _line((left[3] if left else "") + inner + (right[3] if right else ""))
        ncol = max(len(r) for r in cells)
        widths = [max((cell_len(_flat(r[j]).strip()) for r in cells if j < len(r)), default=0) for j in range(ncol)]
        align = "center" if name.endswith("matrix") else "left"
        gap = "  " if name.endswith("matrix") or name == "cases" else " "
        lines = [gap.join(_pad(_flat(r[j]).strip() if j < len(r) else "", widths[j], align) for j in range(ncol)).rstrip()
                 for r in cells]
        body = Box(tuple(f" {s} " if left or right else s for s in lines), (len(lines) - 1) // 2)
        return _tall(left, right, len(lines), body)


def _join(items: list[tuple[Box, str]]) -> list[Box]:
    """Keep the spaces LaTeX would show: none after an opening bracket or before a closing one, one around
    operator words and inline fractions, the widest of several (`, \\qquad`)."""
    boxes: list[Box] = []
    prev = "open"  # no space at the start
    for j, (box, role) in enumerate(items):
        if role in ("space", "soft"):
            nxt = next((r for _, r in items[j + 1:] if r not in ("space", "soft")), "close")
            if prev == "space" and box.width > boxes[-1].width:  # `, \qquad`: the widest space wins
                boxes[-1] = box
            if (prev in ("open", "space") or nxt == "close" or (role == "soft" and nxt in ("ord", "open", "opname"))
                    or (boxes and boxes[-1].text().endswith(" "))):
                continue
        elif ((prev == "frac" and role in ("ord", "open", "frac")) or (role == "frac" and prev == "ord")
              or (prev == "opname" and role in ("ord", "opname", "frac", "other"))
              or (role == "opname" and prev in ("ord", "script", "close", "opname") and boxes[-1].text() not in "∂∇")):
            if not boxes[-1].text().endswith(" "):
                boxes.append(_line(" "))
        boxes.append(box)
        prev = "space" if role in ("space", "soft") else role
    return boxes


def _has_content(nodes: list[object]) -> bool:
    from pylatexenc import latexwalker as lw

    return any(not (isinstance(n, lw.LatexCharsNode) and not n.chars.strip()) for n in nodes)


def _flat(b: Box) -> str:
    return " ".join(s.strip() for s in b.lines if s.strip()) if not b.flat else b.lines[0]


def _flat_text(nd: object) -> str:
    """The text of a \\text{...} argument, with its escapes (\\_ \\%) resolved and spaces kept."""
    from pylatexenc import latexwalker as lw

    out = []
    for n in getattr(nd, "nodelist", None) or [nd]:
        if isinstance(n, lw.LatexCharsNode):
            out.append(n.chars.replace("~", " "))
        elif isinstance(n, lw.LatexMacroNode):
            name = n.macroname
            out.append(name if len(name) == 1 and not name.isalpha() else _flat(_Renderer(False).macro(n)))
            if n.macro_post_space:
                out.append(" ")
        elif isinstance(n, lw.LatexMathNode):
            out.append(_flat(_Renderer(False).nodes(n.nodelist)))
        elif isinstance(n, lw.LatexGroupNode):
            out.append(_flat_text(n))
    return "".join(out)


_ATOM = re.compile(r"[∂∇√]?(?:\d+(?:[.,]\d+)?|[^\W\d_][\w′'^\u0300-\u036f\u2070-\u209f]*)")


def _wrap(s: str) -> str:
    """Parenthesise a fraction part or a radicand unless it is one atom: 2, x, ∂L, xᵢ², f(x), (a + b)."""
    s = s.strip()
    head = s
    while head.endswith(")"):  # strip trailing balanced (...) groups: f(x), (a + b)
        depth, k = 0, len(head) - 1
        while k >= 0:
            depth += {")": 1, "(": -1}.get(head[k], 0)
            if depth == 0:
                break
            k -= 1
        if k < 0:
            break
        head = head[:k]
    return s if (not head and s) or _ATOM.fullmatch(head) else f"({s})"


def _attach_brace_labels(nodes: list[object]) -> list[object]:
    """`\\underbrace{x}_{label}`: take the subscript as the brace's label (recursively)."""
    from pylatexenc import latexwalker as lw

    out: list[object] = []
    k = 0
    while k < len(nodes):
        nd = nodes[k]
        for attr in ("nodelist",):
            if getattr(nd, attr, None):
                setattr(nd, attr, _attach_brace_labels(getattr(nd, attr)))
        d = getattr(nd, "nodeargd", None)
        if d is not None and d.argnlist:
            for a in d.argnlist:
                if a is not None and getattr(a, "nodelist", None):
                    a.nodelist = _attach_brace_labels(a.nodelist)
        if isinstance(nd, lw.LatexMacroNode) and nd.macroname in ("underbrace", "overbrace") and k + 1 < len(nodes):
            nxt = nodes[k + 1]
            if isinstance(nxt, lw.LatexCharsNode) and nxt.chars.lstrip()[:1] in ("_", "^"):
                rest = nxt.chars.lstrip()[1:]
                if rest.strip():  # a one-character label in the same chars node: `_n`
                    nd._mentor_label = _line(rest.strip()[0])  # type: ignore[attr-defined]
                    nxt.chars = rest.strip()[1:]
                    out.append(nd)
                    k += 1
                    continue
                if k + 2 < len(nodes):
                    nd._mentor_label = _Renderer(False).node(nodes[k + 2])  # type: ignore[attr-defined]
                    out.append(nd)
                    k += 3
                    continue
        out.append(nd)
        k += 1
    return out


def latex_box(latex: str, display: bool = False) -> Box:
    """LaTeX math (no dollars) as a box of Unicode text."""
    nodes = _attach_brace_labels(_walker_nodes(latex))
    rows: list[list[object]] = [[]]
    from pylatexenc import latexwalker as lw

    for nd in nodes:  # top-level `\\` in display math: several lines
        if display and isinstance(nd, lw.LatexMacroNode) and nd.macroname == "\\":
            rows.append([])
        else:
            rows[-1].append(nd)
    boxes = [_Renderer(display).nodes(r) for r in rows if r]
    if not boxes:
        return _line("")
    if len(boxes) == 1:
        b = boxes[0]
        return Box(tuple(s.rstrip() for s in b.lines), b.base) if display else _line(" ".join(b.text().split()))
    return vstack(boxes, 0, align="left")


def latex_to_unicode(latex: str, display: bool = False) -> str:
    """LaTeX math (no dollars) as Unicode text: one line inline, possibly several lines in display math."""
    return latex_box(latex, display).text() if display else " ".join(latex_box(latex, False).text().split())
