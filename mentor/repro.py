"""`mentor check --save-inputs DIR`: the failing checks' arguments as files, and a script repeating the call.

The harness sends, for each failing check that recorded its learner call (testkit `ctx.call` /
`ctx.record_call`), the arguments of that call as .npy bytes (tensors with their dtype and
requires_grad) or Python literals, and the expected value of the failed comparison. The inputs are
the check's random draws for the attempt's seed (replay them with `--seed`), so showing the expected
value hides nothing; checks whose data is itself hidden (`@check(hidden=True)`) send nothing.

Written here: DIR/inputs_<check>/<arg>.npy (+ expected.npy) and DIR/repro_<check>.py, which imports
the workspace's myllm, makes the same call, prints the result and the first mismatch, and exits 1
when the result still differs (an exception shows its traceback), so it runs in the learner's REPL
(`python -i DIR/repro_<check>.py`).
"""

from __future__ import annotations

import base64
import keyword
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mentor.errors import MentorError

if TYPE_CHECKING:
    from mentor.gate.result import CheckResult, TestResult

MARKER = "# mentor repro script"
RESERVED = {"np", "torch", "sys", "Path", "HERE", "DATA", "WORKSPACE", "out", "expected", "show", "compare",
            "as_array", "module", "candidates", "same_shape", "found"}


@dataclass
class SaveReport:
    scripts: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "check: why", for failing checks without inputs


def _var(name: str, taken: set[str]) -> str:
    v = name if name.isidentifier() and not keyword.iskeyword(name) else "arg"
    while v in RESERVED or v in taken:
        v += "_"
    taken.add(v)
    return v


class NotRecordable(Exception):
    """An argument the script cannot rebuild (a function, a model object, ...)."""


def _expr(enc: dict[str, Any], stem: str, files: dict[str, bytes]) -> tuple[str, bool]:
    """Python source rebuilding one encoded value (arrays become files in the data folder), and whether it needs torch."""
    kind = enc["kind"]
    if kind == "literal":
        return str(enc["repr"]), False
    if kind in ("ndarray", "tensor"):
        name = f"{_safe(stem)}.npy"
        files[name] = base64.b64decode(enc["npy"])
        expr = f'np.load(DATA / "{name}")'
        if kind == "ndarray":
            return expr, False
        dtype = str(enc["dtype"])
        tail = f".to(torch.{dtype})" if dtype == "bfloat16" or dtype.startswith("float8") else ""
        rg = ".requires_grad_(True)" if enc.get("requires_grad") else ""
        return f"torch.from_numpy({expr}){tail}{rg}", True
    if kind == "dict":
        parts, torch = [], False
        for key, val in enc["items"]:
            e, t = _expr(val, f"{stem}_{key.strip(chr(39)).strip(chr(34))}", files)
            parts.append(f"{key}: {e}")
            torch |= t
        return "{" + ", ".join(parts) + "}", torch
    if kind in ("list", "tuple"):
        parts, torch = [], False
        for i, val in enumerate(enc["items"]):
            e, t = _expr(val, f"{stem}_{i}", files)
            parts.append(e)
            torch |= t
        if kind == "tuple":
            return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")", torch
        return "[" + ", ".join(parts) + "]", torch
    raise NotRecordable(f"a {enc.get('type', kind)}")


HELPERS = '''

def show(name, value):
    print(f"{name} =")
    print(value)


def as_array(x):
    if hasattr(x, "detach"):
        x = x.detach().cpu().double().numpy()
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def compare(got, want, atol, rtol):
    """Where got differs from want beyond atol + rtol * |want| (None: they agree)."""
    got = as_array(got)
    if got is None or got.shape != want.shape:
        return f"shape {getattr(got, 'shape', None)}, expected {want.shape}"
    bad = ~np.isclose(got, want, atol=atol, rtol=rtol, equal_nan=True)
    if not bad.any():
        return None
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    return f"{int(bad.sum())} of {bad.size} values differ; first at {idx}: got {float(got[idx])!r}, expected {float(want[idx])!r}"
'''


def script_text(r: "CheckResult", t: "TestResult", unit_module: str, workspace: Path, data_dir: str, script: Path,
                args: list[tuple[str, str, bool, str]], uses_torch: bool) -> str:
    """args: (variable, expression, passed by keyword, parameter name), in call order."""
    p = t.payload or {}
    fn = str(p["function"])
    pos = [var for var, _, by_kw, _ in args if not by_kw]
    kw = [f"{name}={var}" for var, _, by_kw, name in args if by_kw]
    construct = p.get("construct")
    callee = f"{fn}({construct})" if construct is not None else fn
    call = f"{callee}({', '.join(pos + kw)})"
    label = _doc(str(p.get("inputs") or "the check's inputs"))
    exp = p.get("expected")
    body = [
        f"{MARKER}: written by `mentor check {r.unit} --save-inputs`; safe to edit or delete.",
        f'"""Repeats the failing check "{_doc(t.label)}" of unit {r.unit} (attempt seed {r.seed}):',
        f"the call {call} on {label}, with the arguments the check passed.",
        "",
        f"Run it: python -i {script}",
        f"(it imports myllm/ of the workspace {workspace}; edit your code and run it again)",
        '"""',
        "",
        "import sys",
        "from pathlib import Path",
        "",
        "import numpy as np",
    ]
    if uses_torch:
        body.append("import torch")
    body += [
        "",
        "HERE = Path(__file__).resolve().parent",
        f'DATA = HERE / "{data_dir}"',
        f"WORKSPACE = Path({str(workspace)!r})",
        "sys.path.insert(0, str(WORKSPACE))",
        f"from myllm.{unit_module} import {fn}  # noqa: E402",
        HELPERS,
        "np.set_printoptions(precision=6, linewidth=120)",
        *[f"{var} = {expr}" for var, expr, _, _ in args],
        *[f'show("{var}", {var})' for var, _, _, _ in args],
        "",
        *([f"module = {callee}"] if construct is not None else []),
        f"out = {'module' if construct is not None else fn}({', '.join(pos + kw)})",
        f'show("{fn}(...) returned", out)',
    ]
    if exp and "file" in exp:
        what = _doc(str(exp.get("what", "the result")))
        body += [
            "",
            f"# what the check compared: {what}",
            f'expected = np.load(DATA / "{exp["file"]}")',
            f"show({'expected (' + what + ')'!r}, expected)",
            "candidates = out if isinstance(out, (tuple, list)) else (out,)",
            "same_shape = [c for c in candidates if getattr(as_array(c), 'shape', None) == expected.shape]",
            f"found = [compare(c, expected, {float(exp['atol'])!r}, {float(exp['rtol'])!r}) for c in same_shape]",
            "if not found:",
            f"    print({'the check compared ' + what + ': compare it with `expected` yourself'!r})",
            "elif all(found):",
            '    print("MISMATCH:", found[0])',
            "    sys.exit(1)",
            "else:",
            '    print("the result matches what the check expected now")',
        ]
    return "\n".join(body) + "\n"


def validate_dest(workspace: Path, dest: Path) -> Path:
    """The folder for --save-inputs, refused inside the learner's package (checked before the check runs)."""
    dest = dest.expanduser().resolve()
    pkg = (workspace / "myllm").resolve()
    if dest == pkg or pkg in dest.parents:
        raise MentorError(f"--save-inputs {dest} is inside your package myllm/",
                          "pick a folder outside myllm/, e.g. `--save-inputs debug`")
    if dest.exists() and not dest.is_dir():
        raise MentorError(f"--save-inputs {dest} is a file, not a folder", "name a folder (it is created if missing)")
    return dest


def save_inputs(r: "CheckResult", unit_module: str, workspace: Path, dest: Path) -> SaveReport:
    """Write inputs and a script for every failing check of r that brought its arguments back."""
    dest = validate_dest(workspace, dest)
    rep = SaveReport()
    for t in r.tests:
        if t.status not in ("fail", "error"):
            continue
        p = t.payload
        if not p or "args" not in p:
            why = (t.call or {}).get("why") or ("inputs too large to save" if p and p.get("too_large")
                                                else "inputs not recordable for this check")
            rep.skipped.append(f"{t.label}: {why}")
            continue
        script = dest / f"repro_{t.name}.py"
        if script.exists() and not script.read_text(errors="replace").startswith(MARKER):
            raise MentorError(f"{script} exists and was not written by mentor",
                              "move it away or pick another folder for --save-inputs")
        data_dir = f"inputs_{t.name}"
        files: dict[str, bytes] = {}
        args: list[tuple[str, str, bool, str]] = []
        taken: set[str] = {str(p["function"])}
        uses_torch = False
        try:
            for i, a in enumerate(p["args"]):
                expr, tch = _expr(a, f"{i}_{a['name']}", files)
                args.append((_var(str(a["name"]), taken), expr, bool(a.get("keyword")), str(a["name"])))
                uses_torch |= tch
        except NotRecordable as e:
            rep.skipped.append(f"{t.label}: an argument is {e} (not recordable)")
            continue
        exp = p.get("expected")
        if exp and "npy" in exp:
            exp["file"] = "expected.npy"
            files["expected.npy"] = base64.b64decode(exp["npy"])
        (dest / data_dir).mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (dest / data_dir / name).write_bytes(data)
        script.write_text(script_text(r, t, unit_module, workspace, data_dir, script, args, uses_torch))
        rep.scripts.append(script)
    return rep


def _doc(text: str) -> str:
    """Text from the check, safe in the script's docstring and comments: one line, no quote run that ends it."""
    return " ".join(text.split()).replace('"', "'").replace("\\", "/")


def _safe(name: str) -> str:
    s = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in name)
    return s or "arg"
