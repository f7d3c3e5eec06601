"""Hallucination checks and the solution guard, on the code blocks of a mentor reply.

/verify runs the reply's Python blocks in the sandbox so the learner can tell a true claim from a
made-up one. The solution guard runs, before a reply is shown, any block that defines the
exercise's functions against the unit's hidden tests, on top of the learner's current code: if it
makes more checks pass than the learner's own code, it hands over a solution and is withheld.
"""

from __future__ import annotations

import ast
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.DOTALL)
_FUTURE = re.compile(r"^from __future__ import [^\n]*$", re.MULTILINE)
WITHHELD = "[code withheld by mentor: it would have handed you a working solution — ask for a hint instead]"


@dataclass
class Block:
    lang: str
    code: str
    span: tuple[int, int]


def code_blocks(text: str) -> list[Block]:
    return [Block(m.group(1).lower(), m.group(2), m.span()) for m in FENCE.finditer(text)]


def python_blocks(text: str) -> list[Block]:
    out = []
    for b in code_blocks(text):
        if b.lang in ("python", "py", "python3", "") and _parses(b.code):
            out.append(b)
    return out


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


def defined_names(code: str) -> set[str]:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))}


def verify_reply(text: str, workspace: Path) -> list[tuple[Block, Any]]:
    """Run every Python block of a reply; returns (block, SnippetResult) pairs."""
    from mentor.gate.snippet import run_snippet

    return [(b, run_snippet(b.code, workspace)) for b in python_blocks(text)]


def _passed(result: Any) -> int:
    return sum(t.status == "pass" for t in result.tests)


def solution_leak(text: str, ws: Any, course: Any, unit: Any) -> bool:
    """True when the reply's code, added to the learner's current module, passes more hidden checks."""
    from mentor.gate.runner import run_gate, spec_for
    from mentor.selfcheck import reference_package

    symbols = {s.name for s in unit.exercise.symbols}
    blocks = [b for b in python_blocks(text) if defined_names(b.code) & symbols]
    if not blocks:
        return False
    module = ws.module_path(unit.exercise.module)
    mine = module.read_text(encoding="utf-8") if module.is_file() else unit.starter_path.read_text(encoding="utf-8")
    spec = spec_for(unit, course.phase_of(unit.id).numpy_only)
    with tempfile.TemporaryDirectory(prefix="mentor-guard-") as tmp:
        root = reference_package(Path(tmp))
        for p in (ws.root / "myllm").glob("*.py"):  # the learner's other modules, as they are
            if p.name != "__init__.py":
                (root / "myllm" / p.name).write_text(p.read_text(encoding="utf-8"), encoding="utf-8")
        target = root / "myllm" / f"{unit.exercise.module}.py"
        target.write_text(mine, encoding="utf-8")
        base = _passed(run_gate(root, spec, seed=7))
        code = "\n\n".join(_FUTURE.sub("", b.code) for b in blocks)
        for candidate in (mine + "\n\n" + code + "\n", code + "\n"):  # on top of the learner's code, and alone
            target.write_text(candidate, encoding="utf-8")
            with_reply = run_gate(root, spec, seed=7)
            if with_reply.passed or _passed(with_reply) > base:
                return True
    return False


def withhold_code(text: str) -> str:
    """The reply with every code block that defines names replaced by a notice."""
    out, last = [], 0
    for b in code_blocks(text):
        if defined_names(b.code):
            out.append(text[last:b.span[0]] + WITHHELD)
            last = b.span[1]
    out.append(text[last:])
    return "".join(out)
