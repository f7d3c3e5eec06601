"""How a check result reads on a terminal, check50-style: the first failure in a panel, then every
check on one line (✓ passed, ✗ did not pass, – not run) with its plain description, and under each
failing one its input class, the arguments (values when small) and the first mismatch.

Builds rich `Text` only (everything from the curriculum or the learner is literal, never markup);
mentor/render.py prints it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.panel import Panel
from rich.text import Text

if TYPE_CHECKING:
    from mentor.gate.result import CheckResult, TestResult

MARKS = {"pass": ("✓", "green"), "not_run": ("–", "dim")}
FAILED = ("✗", "red")
STATUS_WORDS = {"fail": "", "error": "error", "not_implemented": "not implemented", "timeout": "timed out",
                "not_run": "not run"}


def _fmt(v: Any) -> str:
    return f"{v:.8g}" if isinstance(v, float) else str(v)


def input_lines(t: "TestResult") -> list[str]:
    """The input class, the arguments of the learner call (values when small) and the first mismatch."""
    d = t.details or {}
    call = t.call or {}
    out: list[str] = []
    label = call.get("inputs") or d.get("inputs")
    args = call.get("args") or []
    if call.get("recordable") and args:
        shapes = ", ".join(f"{a['name']} {tuple(a['shape'])} {a['dtype']}" if "shape" in a else
                           f"{a['name']}={a.get('repr', a.get('type', '?'))}" for a in args)
        callee = call.get("function", "?") + (f"({call['construct']})" if call.get("construct") is not None else "")
        out.append(f"input: {label + ': ' if label else ''}{callee}({shapes})")
        for a in args:
            if "values" in a:
                out.append(f"  {a['name']} = {a['values']}")
    elif label:
        out.append(f"input: {label}")
    if "at the first mismatch" in (t.message or ""):
        pass  # the message says it already
    elif "input_name" in d and "first_index" in d:
        idx = ", ".join(str(i) for i in d["first_index"])
        out.append(f"first mismatch: {d['input_name']}[{idx}] = {d['input_value']:.6g}: "
                   f"expected {_fmt(d.get('expected_at'))}, got {_fmt(d.get('actual_at'))}")
    elif "first_index" in d and "expected_at" in d:
        idx = ", ".join(str(i) for i in d["first_index"])
        out.append(f"first mismatch at [{idx}]: expected {_fmt(d['expected_at'])}, got {_fmt(d['actual_at'])}")
    if call and not call.get("recordable") and call.get("why"):
        out.append(str(call["why"]))
    return out


def first_failure_panel(t: "TestResult") -> Panel:
    body = Text(t.message or t.status)
    d = t.details or {}
    for key in ("expected", "actual"):
        if key in d:
            body += Text(f"\n{key:>8}: {d[key]}", style="dim")
    lines = input_lines(t)
    if lines:
        body += Text("\n" + "\n".join(lines), style="dim")
    if t.help:
        body += Text("\n\nhelp: ", style="bold cyan") + Text(t.help)
    title = Text("first failure: ") + Text(t.label)
    return Panel(body, title=title, title_align="left",
                 border_style="yellow" if t.status == "not_implemented" else "red")


def check_list(r: "CheckResult") -> Text:
    """One line per check, in the hidden tests' order; details under the ones that did not pass."""
    out = Text()
    first = r.first_failure()
    deselected = [t for t in r.tests if t.details.get("deselected")]
    for t in r.tests:
        if t.details.get("deselected"):
            continue  # -k: summed up in one line below
        mark, style = MARKS.get(t.status, FAILED)
        line = Text(f"{mark} ", style=style) + Text(t.label)
        word = STATUS_WORDS.get(t.status)
        if t.status == "not_run":
            line += Text("  not run: skipped after an earlier failure or timeout", style="dim")
        elif word:
            line += Text(f"  ({word})", style=style)
        out += line + Text("\n")
        if t.status in ("pass", "not_run", "not_implemented"):
            continue
        if t is not first:  # the first failure's message is in its panel above
            out += Text(f"    {t.message.splitlines()[0] if t.message else t.status}\n", style="dim")
            for ln in input_lines(t):
                out += Text(f"    {ln}\n", style="dim")
    if deselected:
        out += Text(f"– {len(deselected)} other check(s) not run: not selected by -k\n", style="dim")
    out.rstrip()
    return out
