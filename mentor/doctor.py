"""`mentor doctor`: the machine, the workspace, the course size that fits."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import asdict
from typing import Any

from mentor.errors import MentorError


def _workspace_report() -> dict[str, Any]:
    from mentor.commands.common import workspace

    try:
        ws = workspace()
    except MentorError as e:
        return {"ok": False, "problem": e.message, "hint": e.hint}
    out: dict[str, Any] = {"ok": True, "root": str(ws.root), "db": str(ws.db_path)}
    try:
        from mentor.store.db import migrate

        migrate(ws.db_path)
        import sqlite3

        con = sqlite3.connect(ws.db_path)
        out["migrations"] = [r[0] for r in con.execute("SELECT name FROM schema_migration ORDER BY name")]
        out["integrity"] = con.execute("PRAGMA integrity_check").fetchone()[0]
        out["journal_mode"] = con.execute("PRAGMA journal_mode").fetchone()[0]
        con.close()
    except Exception as e:  # doctor reports, never crashes
        out.update(ok=False, problem=f"database: {e}")
    out["myllm"] = (ws.root / "myllm" / "__init__.py").is_file()
    return out


def diagnose() -> dict[str, Any]:
    from mentor.hardware import advise, detect

    m = detect(with_torch=True)
    advice = advise(m)
    return {
        "python": {"version": m.python, "ok": sys.version_info >= (3, 11), "executable": sys.executable},
        "machine": m.to_dict(),
        "triton": importlib.util.find_spec("triton") is not None,
        "workspace": _workspace_report(),
        "course_scope": asdict(advice),
    }


def render_doctor(r: dict[str, Any]) -> None:
    from rich.markup import escape as e

    from mentor.render import console

    ok, bad, dash = "[green]✓[/green]", "[red]✗[/red]", "[yellow]–[/yellow]"
    m = r["machine"]
    console.print(f"{ok if r['python']['ok'] else bad} Python {e(r['python']['version'])} ({e(r['python']['executable'])})")
    console.print(f"{ok if m['torch'] else bad} torch {e(m['torch'] or 'not installed')}")
    if m["cuda"]:
        console.print(f"{ok} GPU {e(m['gpu_name'])}, {m['vram_gb']:.1f} GB VRAM (CUDA)")
    else:
        console.print(f"{dash} no CUDA GPU{e(': ' + m['gpu_name']) if m['gpu_name'] else ''} (Phases 1-2 and 5 run fine on CPU)")
    console.print(f"{ok} CPU {e(m['cpu_model'])}, {m['cpu_cores']} cores; SIMD: {e(', '.join(m['simd']) or 'none detected')}")
    console.print(f"{ok} RAM {m['ram_gb']:.1f} GB")
    console.print(f"{ok if r['triton'] else dash} Triton {'installed' if r['triton'] else 'not installed (only needed for flash-triton: pip install triton)'}")
    w = r["workspace"]
    if w["ok"]:
        console.print(f"{ok} workspace {e(str(w['root']))}; DB {e(str(w.get('integrity')))} ({e(str(w.get('journal_mode')))}), "
                      f"migrations: {e(', '.join(w.get('migrations', [])))}")
    else:
        console.print(f"{dash} workspace: {e(str(w['problem']))}" + (f"\n   hint: {e(str(w['hint']))}" if w.get("hint") else ""))
    for n in m["notes"]:
        console.print(f"[yellow]![/yellow] {e(n)}")
    s = r["course_scope"]
    console.print(f"\n[bold]Course model size here:[/bold] ~{s['params_m']}M parameters "
                  f"(d_model {s['d_model']}, {s['n_layers']} layers, {s['n_heads']} heads, context {s['context_length']})")
    console.print(f"[dim]{e(s['reason'])}[/dim]")
