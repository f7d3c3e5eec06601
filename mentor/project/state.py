"""state.json: which stages are done, with their figures. Plain JSON, read without torch (mentor status uses it)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from mentor.errors import MentorError

STAGES = ("init", "tokenizer", "data", "train", "sample", "sft", "dpo", "quantize", "bench", "report")
NEEDS = {"tokenizer": "init", "data": "tokenizer", "train": "data", "sample": "train", "sft": "train", "dpo": "sft",
         "quantize": "train", "bench": "quantize", "chat": "train", "report": "train"}


def read_state(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise MentorError(f"{path} is not readable JSON ({e})",
                          "it records which project stages are done; delete it to start the record afresh (your files stay)") from None
    return data if isinstance(data, dict) else {}


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def record_stage(path: Path, stage: str, figures: dict[str, Any], *, stale_after: bool = True) -> dict[str, Any]:
    """Mark `stage` done with its figures; stages built on an older output of it become stale."""
    from mentor.store.db import now_iso

    st = read_state(path)
    st[stage] = {"done_at": now_iso(), **figures}
    if stale_after:
        for later, need in NEEDS.items():
            if need == stage and later in st and later != stage:
                _mark_stale(st, later, stage)
    write_json_atomic(path, st)
    return st


def _mark_stale(st: dict[str, Any], stage: str, because: str) -> None:
    if isinstance(st.get(stage), dict) and not st[stage].get("stale"):
        st[stage]["stale"] = f"{because} was redone after it"
        for later, need in NEEDS.items():
            if need == stage:
                _mark_stale(st, later, stage)


def update_state(path: Path, key: str, value: Any) -> None:
    st = read_state(path)
    if value is None:
        st.pop(key, None)
    else:
        st[key] = value
    write_json_atomic(path, st)
