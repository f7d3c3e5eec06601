"""Mutants: known-wrong versions of a learner module that a unit's hidden tests must reject.

Two forms live in a unit's `mutants/` folder:
- `NAME.py`: a whole replacement for myllm/<module>.py (for rewrites, e.g. a naive BPE trainer);
- `NAME.yaml`: the answer key with a few edits — `doc` (the bug, in a sentence) and `replace`, a
  list of `{old, new}` pairs applied to reference_impl/<module>.py (with `reference_impl` renamed
  to `myllm`); each `old` must occur exactly once, so a refactored answer key that no longer fits
  the mutant is reported instead of silently testing something else. An optional `module` key
  names another learner module the edits apply to (e.g. `module: model` in the kv-cache unit,
  whose bugs also live in the learner's model.py); that file is replaced instead of the unit's.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from mentor.errors import MentorError
from mentor.paths import reference_root


def reference_source(module: str) -> str:
    path = reference_root() / "reference_impl" / f"{module}.py"
    return re.sub(r"\breference_impl\b", "myllm", path.read_text(encoding="utf-8"))


def mutant_paths(folder: Path) -> list[Path]:
    d = folder / "mutants"
    return sorted([*d.glob("*.py"), *d.glob("*.yaml")], key=lambda p: p.stem)


def _spec(path: Path) -> dict:
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise MentorError(f"{where}: invalid YAML in a mutant: {getattr(e, 'problem', None) or e}",
                          "quote a `doc` that contains ': ' (doc: '...'), or fix the syntax at that line") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("replace"), list) or not spec["replace"]:
        raise MentorError(f"{path}: a mutant needs `doc` and a non-empty `replace` list of {{old, new}}")
    return spec


def mutant_module(path: Path, module: str) -> str:
    """The learner module a mutant replaces: the unit's `module`, or a .yaml's own `module` key."""
    if path.suffix == ".py":
        return module
    target = _spec(path).get("module", module)
    if not isinstance(target, str) or not target.isidentifier() \
            or not (reference_root() / "reference_impl" / f"{target}.py").is_file():
        raise MentorError(f"{path}: `module: {target}` is not a module of reference_impl/",
                          "name the learner module the edits apply to, e.g. `module: model`")
    return target


def mutant_source(path: Path, module: str) -> str:
    """The module text of a mutant (a .py as it is; a .yaml applied to the answer key of its module)."""
    if path.suffix == ".py":
        return path.read_text(encoding="utf-8")
    spec = _spec(path)
    module = mutant_module(path, module)
    src = reference_source(module)
    for i, edit in enumerate(spec["replace"]):
        old, new = edit.get("old"), edit.get("new")
        if not isinstance(old, str) or not isinstance(new, str):
            raise MentorError(f"{path}: replace[{i}] needs string fields `old` and `new`")
        n = src.count(old)
        if n != 1:
            raise MentorError(f"{path}: replace[{i}].old occurs {n} times in reference_impl/{module}.py (must be once)",
                              "make `old` longer (more context) or update it to the current answer key")
        src = src.replace(old, new, 1)
    return src
