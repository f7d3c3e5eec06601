"""The checks of a hidden test file, read without running it: names and one-line descriptions.

`mentor check -k NAME` selects checks before the sandbox starts, so it reads the file's syntax tree
(never importing it): every top-level `def test_*`, described by `@check(describe="...")`, else the
first paragraph of its docstring, else its name in words. The harness describes a check the same way
(testkit.describe) from the imported function.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CheckInfo:
    name: str
    description: str


def first_doc_line(doc: str | None) -> str:
    """The first paragraph of a docstring on one line (a sentence may wrap)."""
    out: list[str] = []
    for ln in (doc or "").strip().splitlines():
        if not ln.strip():
            break
        out.append(ln.strip())
    return " ".join(out)


def words_of(test_name: str) -> str:
    """test_linear_many_outputs -> "linear many outputs" (the fallback description)."""
    name = test_name[5:] if test_name.startswith("test_") else test_name
    return name.replace("_", " ").strip() or test_name


def _describe_kw(fn: ast.FunctionDef) -> str | None:
    for dec in fn.decorator_list:
        if isinstance(dec, ast.Call):
            for kw in dec.keywords:
                if kw.arg == "describe" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                    return kw.value.value
    return None


def list_checks(tests_path: Path) -> list[CheckInfo]:
    tree = ast.parse(tests_path.read_text(), filename=str(tests_path))
    out: list[CheckInfo] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            desc = _describe_kw(node) or first_doc_line(ast.get_docstring(node)) or words_of(node.name)
            out = [c for c in out if c.name != node.name] + [CheckInfo(node.name, desc)]  # a redefinition wins
    return out


def select(checks: list[CheckInfo], pattern: str) -> list[str]:
    """The checks whose name or description contains `pattern` (case-insensitive); [] when none does."""
    p = pattern.strip().lower()
    return [c.name for c in checks if p and (p in c.name.lower() or p in c.description.lower())]
