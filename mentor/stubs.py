"""Add a unit's starter stubs to the learner's module: only the missing names, nothing else touched."""

from __future__ import annotations

import ast
from pathlib import Path

from mentor.errors import MentorError


def _defined(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name.split(".")[0]) for a in node.names)
    return names


def _segment(source: str, node: ast.stmt) -> str:
    lines = source.splitlines()
    start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return "\n".join(lines[start - 1 : node.end_lineno])


def missing_block(existing: str, starter: str, unit_id: str, path: str) -> str | None:
    """The text to append to `existing` so it defines every name `starter` defines; None if nothing is missing."""
    try:
        have = _defined(ast.parse(existing))
    except SyntaxError as e:
        raise MentorError(
            f"{path}:{e.lineno}: syntax error ({e.msg}); mentor did not add the stubs of unit '{unit_id}'",
            "fix the syntax error, then run the command again: your code was not changed") from None
    tree = ast.parse(starter)
    imports, defs = [], []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if any((a.asname or a.name.split(".")[0]) not in have for a in node.names):
                imports.append(_segment(starter, node))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign)):
            if _defined(ast.Module(body=[node], type_ignores=[])) - have:
                defs.append(_segment(starter, node))
    if not defs:
        return None
    header = f"\n\n# ---- stubs for unit '{unit_id}' (added by mentor; edit freely) ----\n"
    return header + "\n".join(imports) + ("\n\n\n" if imports else "\n") + "\n\n\n".join(defs) + "\n"


def add_stubs(module_path: Path, starter_path: Path, unit_id: str) -> list[str]:
    """Create or extend myllm/<module>.py with the starter's missing names; returns the names added."""
    starter = starter_path.read_text(encoding="utf-8")
    if not module_path.exists():
        module_path.parent.mkdir(parents=True, exist_ok=True)
        module_path.write_text(starter, encoding="utf-8")
        return sorted(_defined_defs(starter))
    existing = module_path.read_text(encoding="utf-8")
    block = missing_block(existing, starter, unit_id, f"myllm/{module_path.name}")
    if block is None:
        return []
    before = _defined_defs(existing)
    sep = "" if existing.endswith("\n") or not existing else "\n"
    with module_path.open("a", encoding="utf-8") as f:  # append only: the learner's text is never rewritten
        f.write(sep + block)
    return sorted(_defined_defs(existing + sep + block) - before)


def _defined_defs(source: str) -> set[str]:
    tree = ast.parse(source)
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
