"""Running a stage on the learner's code: the units it needs (their latest `mentor check` passed), then the worker
subprocess (mentor/project/worker.py) with cwd = the workspace, its JSON event lines streamed back.

A learner function that raises (NotImplementedError or anything else) becomes a MentorError naming the myllm file,
line and the unit to finish; a crash, a kill (out of memory) or Ctrl-C are contained in the worker process.
"""

from __future__ import annotations

import ast
import json
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mentor.errors import MentorError

if TYPE_CHECKING:
    from mentor.curriculum import Course
    from mentor.workspace import Workspace

_MODEL = ["linear-embedding", "positional", "attention", "multihead", "norms", "ffn", "gpt"]
UNITS: dict[str, list[str]] = {
    "tokenizer": ["bpe-train", "bpe-tokenizer"],
    "data": ["bpe-tokenizer", "data-pipeline"],
    "train": _MODEL + ["cross-entropy", "adamw", "schedule-clip", "data-pipeline", "checkpoint", "train-loop"],
    "sample": ["bpe-tokenizer"] + _MODEL + ["adamw", "checkpoint", "sampling"],
    "sft": ["bpe-tokenizer"] + _MODEL + ["cross-entropy", "adamw", "schedule-clip", "checkpoint", "kv-cache", "sampling", "sft"],
    "dpo": ["bpe-tokenizer"] + _MODEL + ["adamw", "schedule-clip", "checkpoint", "kv-cache", "sampling", "sft", "dpo"],
    "quantize": _MODEL + ["cross-entropy", "checkpoint", "int8-quant", "int8-linear", "cpu-inference"],
    "chat": ["bpe-tokenizer"] + _MODEL + ["checkpoint", "kv-cache", "sampling", "sft", "int8-quant", "int8-linear",
                                          "cpu-inference"],
    "bench": _MODEL + ["cross-entropy", "checkpoint", "kv-cache", "int8-quant", "int8-linear", "cpu-inference"],
}


class Interrupted(Exception):
    """Ctrl-C reached the stage; the worker has stopped."""


def latest_status(ws: "Workspace") -> dict[str, str]:
    """Each unit's latest `mentor check` status (pass, fail, error, ...)."""
    from sqlmodel import Session, select

    from mentor.store.models import Attempt

    out: dict[str, str] = {}
    with Session(ws.engine()) as s:
        for uid, status in s.exec(select(Attempt.unit_id, Attempt.status).order_by(Attempt.id)).all():  # type: ignore[arg-type]
            out[uid] = status
    return out


def require_units(ws: "Workspace", stage: str) -> None:
    """MentorError naming the first unit the stage needs whose latest check did not pass."""
    status = latest_status(ws)
    missing = [u for u in UNITS.get(stage, []) if status.get(u) != "pass"]
    if not missing:
        return
    first = missing[0]
    why = "has not passed `mentor check` yet" if first not in status else f"last check: {status[first]}"
    more = f" (also needed: {', '.join(missing[1:])})" if len(missing) > 1 else ""
    raise MentorError(f"`mentor project {stage}` runs your own code, and unit '{first}' {why}{more}",
                      f"next: `mentor check {first}` (lesson: `mentor show {first}`); then run `mentor project {stage}` again")


def _unit_of_names(course: "Course") -> dict[tuple[str, str], str]:
    """(module, top-level name in its starter) -> unit id, in course order (the first unit that defines it)."""
    out: dict[tuple[str, str], str] = {}
    for uid in course.order:
        if not course.is_written(uid):
            continue
        u = course.units[uid]
        try:
            tree = ast.parse(u.starter_path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError):
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                out.setdefault((u.exercise.module, node.name), uid)
    return out


def unit_for_error(course: "Course", stage: str, err: dict[str, Any]) -> str | None:
    """The unit whose code failed: the innermost myllm frame's function, else the module named by the error."""
    names = _unit_of_names(course)
    for fr in reversed(err.get("frames") or []):
        uid = names.get((fr["module"], str(fr["qualname"]).split(".")[0]))
        if uid:
            return uid
    mod = (err.get("missing_module") or "").removeprefix("myllm.")
    frames_mods = [fr["module"] for fr in reversed(err.get("frames") or [])]
    for m in ([mod] if mod else []) + frames_mods:
        for uid in UNITS.get(stage, []):
            if course.is_written(uid) and course.units[uid].exercise.module == m:
                return uid
    text = str(err.get("message", ""))
    for (m, name), uid in names.items():
        if uid in UNITS.get(stage, []) and f"myllm.{m}" in text and f"'{name}'" in text:
            return uid
    return None


def _failure(ws: "Workspace", stage: str, err: dict[str, Any]) -> MentorError:
    from mentor.commands.common import course

    uid = unit_for_error(course(), stage, err)
    fr = (err.get("frames") or [None])[-1]
    where = f"{fr['file']}:{fr['line']} ({fr['qualname']})" if fr else "your myllm package"
    what = "is not written yet (it raises NotImplementedError)" if err.get("not_implemented") else \
        f"raised {err.get('type')}: {err.get('message')}"
    nothing = "The project's earlier outputs are kept as they were."
    if uid:
        return MentorError(f"`mentor project {stage}` stopped: {where} {what}",
                           f"that is unit '{uid}': fix it and run `mentor check {uid}`, then `mentor project {stage}` again. {nothing}")
    return MentorError(f"`mentor project {stage}` stopped: {where} {what}",
                       f"fix the code named above (run the check of its unit), then `mentor project {stage}` again. {nothing}")


def run_stage(ws: "Workspace", stage: str, args: dict[str, Any], on_event: Callable[[dict[str, Any]], None] | None = None,
              worker_stage: str | None = None) -> dict[str, Any]:
    """Run the worker for `stage`; on_event gets every row/piece/progress event; returns the result event."""
    cmd = [sys.executable, "-m", "mentor.project.worker", worker_stage or stage, json.dumps(args)]
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as errf:
        proc = subprocess.Popen(cmd, cwd=ws.root, stdout=subprocess.PIPE, stderr=errf, text=True, encoding="utf-8")
        result: dict[str, Any] | None = None
        error: dict[str, Any] | None = None
        interrupted = False
        assert proc.stdout is not None
        while True:
            try:
                line = proc.stdout.readline()
            except KeyboardInterrupt:
                interrupted = True
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)  # the worker stops at its next Python instruction
                continue
            if not line:
                break
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            kind = ev.get("event")
            if kind == "result":
                result = ev
            elif kind == "error":
                error = ev
            elif kind == "interrupted":
                interrupted = True
            elif on_event is not None:
                on_event(ev)
        rc = _wait(proc)
        errf.seek(0)
        tail = errf.read()[-3000:]
    if interrupted or rc == 130:
        raise Interrupted()
    if error is not None:
        raise _failure(ws, stage, error)
    if rc != 0 or result is None:
        how = f"was killed by signal {-rc}" if rc < 0 else f"exited with status {rc}"
        hint = ("signal 9 usually means out of memory: lower [train] batch_size or [model] context_length in "
                "data/project/project.toml" if rc == -9 else "the output above says where")
        raise MentorError(f"`mentor project {stage}`: the worker running your code {how}\n{tail.strip()[-1500:]}",
                          f"{hint}; the project's earlier outputs are kept")
    result.pop("event", None)
    return result


def _wait(proc: subprocess.Popen) -> int:
    while True:
        try:
            return proc.wait()
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGINT)
