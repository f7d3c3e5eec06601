"""Static guard: read the learner's modules (never run them) and refuse what a check must not accept.

Found before anything runs, with file:line: syntax errors, imports of `reference_impl` or
`mentor`, banned APIs (resolved through import aliases: `F.softmax` is
`torch.nn.functional.softmax`; an entry ending in `*` bans every name with that prefix:
`torch._foreach_*`), torch in a NumPy-only phase, and reaching into the harness
(`sys.modules`, frame inspection, `gc.get_objects`). The sandbox repeats the important ones at
run time, so spelling a name dynamically does not get past both.
"""

from __future__ import annotations

import ast
import threading
from dataclasses import dataclass
from pathlib import Path

PROTECTED = ("reference_impl", "mentor")
_PARSE_LOCK = threading.Lock()  # CPython 3.11's ast.parse is not thread-safe (the self-check runs gates in threads)
TAMPERING = (
    "sys.modules", "sys._getframe", "sys.settrace", "sys.setprofile", "sys._current_frames",
    "gc.get_objects", "gc.get_referrers", "gc.get_referents", "inspect.currentframe", "inspect.stack",
    "inspect.getouterframes", "inspect.trace", "builtins", "threading.settrace",
)


@dataclass(frozen=True)
class Violation:
    kind: str  # syntax | reference_import | banned | numpy_only | tampering
    file: str
    line: int
    api: str
    message: str

    def where(self) -> str:
        return f"{self.file}:{self.line}"


def banned_match(full: str, api: str) -> bool:
    """Whether dotted name `full` is banned API `api`, an attribute of it, or (api ends in `*`) has its prefix."""
    if api.endswith("*"):
        return full.startswith(api[:-1])
    return full == api or full.startswith(api + ".")


def _resolve_relative(level: int, module: str | None, package: str) -> str:
    parts = package.split(".")
    base = parts[: len(parts) - (level - 1)] if level > 1 else parts
    return ".".join(base + ([module] if module else []))


class _Scanner(ast.NodeVisitor):
    def __init__(self, rel: str, banned: dict[str, str], numpy_only: bool) -> None:
        self.rel, self.banned, self.numpy_only = rel, banned, numpy_only
        self.aliases: dict[str, str] = {}
        self.imports: set[str] = set()
        self.found: list[Violation] = []

    def _add(self, kind: str, node: ast.AST, api: str, message: str) -> None:
        self.found.append(Violation(kind, self.rel, getattr(node, "lineno", 1), api, message))

    def _check_name(self, full: str, node: ast.AST, imported: bool = False) -> None:
        root = full.split(".")[0]
        if root in PROTECTED:
            self._add("reference_import", node, full, f"imports `{full}`: learner code may not use {root}")
            return
        if self.numpy_only and root == "torch":
            self._add("numpy_only", node, full, "imports torch, but this phase is NumPy only")
            return
        for api, reason in self.banned.items():
            if api.startswith("Tensor."):
                continue
            if banned_match(full, api):
                verb = "imports" if imported else "uses"
                self._add("banned", node, api, f"{verb} `{full}`, banned in this unit" + (f": {reason}" if reason else ""))
                return
        for api in TAMPERING:
            if full == api or full.startswith(api + "."):
                self._add("tampering", node, full, f"uses `{full}`: learner code may not inspect or change the test harness")
                return

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            self.imports.add(a.name)
            self.aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            self._check_name(a.name, node, imported=True)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = _resolve_relative(node.level, node.module, "myllm") if node.level else (node.module or "")
        self.imports.add(module)
        for a in node.names:
            full = f"{module}.{a.name}" if module else a.name
            if node.level or module.startswith("myllm"):
                self.imports.add(full)
            self.aliases[a.asname or a.name] = full
            self._check_name(full, node, imported=True)

    def _dotted(self, node: ast.AST) -> str | None:
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name) and node.id in self.aliases:
            return ".".join([self.aliases[node.id]] + parts[::-1])
        return None

    def visit_Attribute(self, node: ast.Attribute) -> None:
        full = self._dotted(node)
        if full is not None:
            self._check_name(full, node)
        else:
            for api, reason in self.banned.items():
                if api.startswith("Tensor.") and node.attr == api.split(".", 1)[1]:
                    self._add("banned", node, api, f"calls `.{node.attr}()` on a tensor, banned in this unit" + (f": {reason}" if reason else ""))
        if full is None or not any(full.startswith(b.rstrip("*")) for b in self.banned):
            self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id == "__builtins__":
            self._add("tampering", node, "__builtins__", "uses `__builtins__`: learner code may not change the harness")
        elif node.id == "__import__":
            self._add("tampering", node, "__import__", "calls `__import__` directly; use an import statement")

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and "reference_impl" in node.value:
            self._add("reference_import", node, "reference_impl", "names `reference_impl` in a string: learner code may not load the answer key")


def scan_source(source: str, rel: str, banned: dict[str, str], numpy_only: bool) -> tuple[list[Violation], set[str]]:
    """Violations in one module's source, and the modules it imports."""
    try:
        with _PARSE_LOCK:
            tree = ast.parse(source, filename=rel)
    except SyntaxError as e:
        return [Violation("syntax", rel, e.lineno or 1, "", f"syntax error: {e.msg}")], set()
    s = _Scanner(rel, banned, numpy_only)
    s.visit(tree)
    return s.found, s.imports


def scan_unit(workspace: Path, module: str, banned: dict[str, str], numpy_only: bool) -> list[Violation]:
    """Scan myllm/<module>.py and the myllm modules it imports, transitively."""
    pkg = workspace / "myllm"
    todo, seen, found = [module], set(), []
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = pkg / f"{name}.py"
        if not path.is_file():
            continue
        src = path.read_text(encoding="utf-8", errors="replace")
        v, imports = scan_source(src, f"myllm/{name}.py", banned, numpy_only)
        found.extend(v)
        for imp in imports:
            parts = imp.split(".")
            if parts[0] == "myllm" and len(parts) > 1 and (pkg / f"{parts[1]}.py").is_file():
                todo.append(parts[1])
    init = pkg / "__init__.py"
    if init.is_file():
        v, _ = scan_source(init.read_text(encoding="utf-8", errors="replace"), "myllm/__init__.py", banned, numpy_only)
        found.extend(x for x in v if x.kind in ("syntax", "reference_import", "tampering"))
    return found
