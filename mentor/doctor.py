"""`mentor doctor`: the machine, the workspace, the course size that fits."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import asdict
from typing import Any

from rich.markup import escape

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
        "profile": _stored_profile(m),
    }


def _stored_profile(m: Any) -> dict[str, Any] | None:
    """This machine's latest stored measurement in the workspace, if any."""
    from mentor.commands.common import workspace
    from mentor.labs.profile import latest_profiles, machine_key

    try:
        return latest_profiles(workspace().engine()).get(machine_key(m))
    except MentorError:
        return None


def measure_machine(quick: bool) -> dict[str, Any]:
    """`mentor doctor --measure`: measure with a progress line on stderr; store in the workspace when there is one."""
    import time

    from mentor.commands.common import workspace
    from mentor.hardware import detect
    from mentor.labs.profile import measure, save_profile
    from mentor.render import err_console

    m = detect(with_torch=True)
    t0 = time.monotonic()

    def say(what: str) -> None:
        err_console.print(f"[dim]measuring: {escape(what)} ({time.monotonic() - t0:.0f} s)[/dim]")

    prof = measure(m, quick=quick, say=say)
    try:
        ws = workspace()
    except MentorError as e:
        prof["stored"] = f"not stored: {e.message}"
        return prof
    save_profile(ws.engine(), m, prof)
    prof["stored"] = f"stored in {ws.db_path}"
    return prof


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
    _render_profile(r.get("profile"))


def _render_profile(p: dict[str, Any] | None) -> None:
    from rich.table import Table

    from mentor.render import console

    if not p:
        console.print("\n[dim]This machine is not measured yet: `mentor doctor --measure` (~10-30 s) measures its "
                      "bandwidth and FLOP/s; lessons then show your figures next to the course's.[/dim]")
        return
    t = Table(title="This machine, measured" + (f" ({escape(p['measured_at'])})" if p.get("measured_at") else ""),
              show_header=True, header_style="bold")
    t.add_column("what")
    t.add_column("measured", justify="right")
    rows = [("memory bandwidth, one core (copy / triad)", f"{p['cpu_copy_gbs_1core']:.1f} / {p['cpu_triad_gbs_1core']:.1f} GB/s"),
            (f"memory bandwidth, all {p['cores']} cores (triad)", f"{p['cpu_triad_gbs_all']:.1f} GB/s"),
            ("fp32 matmul, one thread / all threads", f"{p['cpu_fp32_gflops_1thread']:.0f} / {p['cpu_fp32_gflops_all']:.0f} GFLOP/s"),
            ("CPU ridge point (fp32 FLOPs per byte)", f"{p['cpu_ridge_flops_per_byte']:.1f}")]
    if "cpu_bf16_gflops_all" in p:
        rows.append(("bf16 matmul, all threads", f"{p['cpu_bf16_gflops_all']:.0f} GFLOP/s"))
    if "gpu_copy_gbs" in p:
        rows += [("GPU memory bandwidth (copy)", f"{p['gpu_copy_gbs']:.0f} GB/s"),
                 ("GPU matmul fp32 / TF32 / bf16", f"{p['gpu_fp32_tflops']:.1f} / {p['gpu_tf32_tflops']:.1f} / {p['gpu_bf16_tflops']:.1f} TFLOP/s"),
                 ("host -> device / device -> host", f"{p['h2d_gbs']:.1f} / {p['d2h_gbs']:.1f} GB/s"),
                 ("GPU ridge point (bf16 FLOPs per byte)", f"{p['gpu_ridge_bf16_flops_per_byte']:.0f}")]
    for a, b in rows:
        t.add_row(a, b)
    console.print(t)
    if p.get("quick"):
        console.print("[dim](quick run: small sizes, rougher figures; `mentor doctor --measure` for the full one)[/dim]")
    if p.get("stored"):
        console.print(f"[dim]{escape(p['stored'])}[/dim]")
