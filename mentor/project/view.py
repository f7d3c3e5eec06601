"""`mentor project` alone (a table of stages: done / next / not yet, key figures, the next command) and the
project's headline for `mentor status`. Reads state.json only: no torch, no learner code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mentor.project.paths import ProjectPaths
from mentor.project.state import NEEDS, read_state

ORDER = ("init", "tokenizer", "data", "train", "sample", "sft", "dpo", "quantize", "chat", "bench", "report")
COMMANDS = {"init": "mentor project init --size tiny", "tokenizer": "mentor project tokenizer", "data": "mentor project data",
            "train": "mentor project train", "sample": 'mentor project sample --prompt "Once"', "sft": "mentor project sft",
            "dpo": "mentor project dpo", "quantize": "mentor project quantize", "chat": "mentor project chat",
            "bench": "mentor project bench", "report": "mentor project report"}


def figures(stage: str, d: dict[str, Any]) -> str:
    """The stage's key figures in a few words."""
    f = {
        "init": lambda: f"size {d.get('size')}, {d.get('params', 0) / 1e6:.2f}M parameters",
        "tokenizer": lambda: f"vocab {d.get('vocab_size')}, {d.get('bytes_per_token', 0):.2f} bytes/token held out",
        "data": lambda: f"{d.get('train_tokens', 0):,} train / {d.get('val_tokens', 0):,} val tokens; unigram {d.get('unigram_entropy', 0):.3f}",
        "train": lambda: f"val loss {d.get('final_val_loss', 0):.3f} after {d.get('tokens_seen', 0):,} tokens on {d.get('device')}",
        "sample": lambda: f"{len(d.get('samples', []))} sample(s) at temperature {d.get('temperature')}",
        "sft": lambda: f"answer accuracy {d.get('before', 0):.0%} -> {d.get('after', 0):.0%}",
        "dpo": lambda: f"preference accuracy {d.get('before', 0):.0%} -> {d.get('after', 0):.0%}",
        "quantize": lambda: f"weights {d.get('fp32_bytes', 0) / 2**20:.1f} -> {d.get('int8_bytes', 0) / 2**20:.1f} MiB",
        "bench": lambda: f"decode {d.get('fp32', {}).get('decode_tokens_per_s', 0):.0f} -> {d.get('int8', {}).get('decode_tokens_per_s', 0):.0f} tok/s",
        "report": lambda: f"{d.get('markdown', '')}",
    }.get(stage)
    try:
        return f() if f else ""
    except (TypeError, ValueError):
        return ""


def overview(root: Path) -> dict[str, Any]:
    p = ProjectPaths.of(root)
    st = read_state(p.state)
    rows, nxt = [], None
    for stage in ORDER:
        d = st.get(stage)
        need = NEEDS.get(stage)
        if isinstance(d, dict) and d.get("stale"):
            state, fig = "redo", f"{d['stale']}: `{COMMANDS[stage].split(' --')[0]} --force`"
        elif isinstance(d, dict):
            state, fig = "done", figures(stage, d)
        elif need is None or need in st:
            state, fig = "next" if nxt is None else "ready", ""
        else:
            state, fig = "not yet", f"after {need}"
        if state in ("next", "redo") and nxt is None:
            nxt = COMMANDS[stage] + (" --force" if state == "redo" else "")
        if stage == "train" and (st.get("train_run") or {}).get("status") == "interrupted":
            kept = "; the finished model of the run before is kept" if state == "done" else ""
            state, fig = "interrupted", f"checkpoint at iteration {st['train_run'].get('checkpoint_iter')}{kept}"
            nxt = "mentor project train --resume"
        rows.append({"stage": stage, "state": state, "figures": fig})
    return {"exists": p.config.is_file(), "stages": rows, "next": nxt or "mentor project report", "root": str(p.root)}


def render_overview(o: dict[str, Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    from mentor.render import console

    if not o["exists"]:
        console.print(Text("No course project yet. It trains, samples, aligns and serves a GPT made of your own myllm "
                           "code, stage by stage."))
        console.print(Text("Start: mentor project init --size tiny   (or --size auto for this machine's size)", style="bold"))
        return
    style = {"done": "green", "next": "bold yellow", "redo": "yellow", "interrupted": "yellow", "ready": "", "not yet": "dim"}
    t = Table(title=f"Course project ({o['root']})", show_header=True, header_style="bold")
    for c in ("stage", "state", "figures"):
        t.add_column(c)
    for r in o["stages"]:
        t.add_row(Text(r["stage"]), Text(r["state"], style=style.get(r["state"], "")), Text(r["figures"]))
    console.print(t)
    console.print(Text("Next: ", style="bold") + Text(o["next"]))


def headline(root: Path) -> str | None:
    """One line for `mentor status`, or None without a project."""
    p = ProjectPaths.of(root)
    if not p.config.is_file():
        return None
    try:
        st = read_state(p.state)
    except Exception:  # status never fails on the project's record
        return "Project: state.json unreadable (`mentor project` says how to fix it)"
    parts = [f"size {st.get('init', {}).get('size', '?')}"]
    for stage in ("train", "sft", "dpo", "bench"):
        if isinstance(st.get(stage), dict):
            parts.append(figures(stage, st[stage]))
    o = overview(root)
    return "Project: " + "; ".join(parts) + f" — next: {o['next']}"
