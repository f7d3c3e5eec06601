"""`mentor audit`: the learner's model, audited with the learner's own formulas (myllm.audit once the
system-audit unit is proficient; the reference before): parameters, FLOPs per token, training memory in fp32 and
mixed precision, the KV cache at full context, and where a decode step sits on this machine's roofline.

The learner's functions run in a separate interpreter (`python -I`, a time limit, only their package on the path)
and must agree with the reference on the same inputs: a disagreement is shown, not hidden.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING, Any

from mentor.errors import MentorError

if TYPE_CHECKING:
    from mentor.curriculum import Course
    from mentor.workspace import Workspace

_PROGRAM = """
import json, sys
cfg, kv = json.loads(sys.argv[1]), json.loads(sys.argv[2])
import {module} as a
n = int(a.count_parameters(**cfg))
out = {{"params": n, "flops_per_token": int(a.forward_flops_per_token(**cfg)),
       "train_fp32": {{k: int(v) for k, v in a.training_memory_bytes(n, False).items()}},
       "train_mixed": {{k: int(v) for k, v in a.training_memory_bytes(n, True).items()}},
       "kv_fp32": int(a.kv_cache_bytes(**kv, bytes_per_elem=4)), "kv_bf16": int(a.kv_cache_bytes(**kv, bytes_per_elem=2))}}
print(json.dumps(out))
"""


def _figures(module: str, cfg: dict[str, int], path: str) -> dict[str, Any]:
    kv = {"n_layers": cfg["n_layers"], "batch_size": 1, "seq_len": cfg["context_length"], "n_heads": cfg["n_heads"],
          "d_head": cfg["d_model"] // cfg["n_heads"]}
    try:
        proc = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {path!r})\n" + _PROGRAM.format(module=module),
                               json.dumps(cfg), json.dumps(kv)], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise MentorError(f"{module} took longer than 60 s to compute the audit", "look for a loop in myllm/audit.py") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise MentorError(f"{module} failed: {last}", "run `mentor check system-audit` to see which function is wrong")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def swiglu_width(d_model: int) -> int:
    """The course's SwiGLU hidden size: 8/3 d_model rounded to a multiple of 64 (tensor-core friendly)."""
    return max(64, int(round(8 * d_model / 3 / 64) * 64))


def default_config(machine: Any, **given: int | None) -> dict[str, int]:
    """The course's model for this machine (mentor doctor's advice), the course's vocabulary and SwiGLU width,
    with any of the fields given instead."""
    from mentor.hardware import advise

    a = advise(machine)
    cfg = {"vocab_size": 32000, "context_length": a.context_length, "d_model": a.d_model, "n_layers": a.n_layers,
           "n_heads": a.n_heads}
    cfg.update({k: v for k, v in given.items() if v is not None and k != "d_ff"})
    cfg["d_ff"] = given.get("d_ff") or swiglu_width(cfg["d_model"])
    return cfg


def run_audit(ws: "Workspace", course: "Course", cfg: dict[str, int]) -> dict[str, Any]:
    from mentor.hardware import detect
    from mentor.hardware_ref import figure
    from mentor.labs.profile import latest_profiles, machine_key
    from mentor.paths import reference_root
    from mentor.progress import refresh

    if cfg["d_model"] % cfg["n_heads"]:
        raise MentorError(f"d_model {cfg['d_model']} is not divisible by n_heads {cfg['n_heads']}", "choose n_heads that divides d_model")
    ref = _figures("reference_impl.audit", cfg, str(reference_root()))
    states = refresh(ws.engine(), course).states
    own = states.get("system-audit") is not None and states["system-audit"].state in ("proficient", "mastered")
    mine = _figures("myllm.audit", cfg, str(ws.root)) if own else None
    m = detect(with_torch=False)
    prof = latest_profiles(ws.engine()).get(machine_key(m))
    if prof:
        bw, flops, source = prof["cpu_triad_gbs_all"] * 1e9, prof["cpu_fp32_gflops_all"] * 1e9, f"measured on {prof['hostname']}"
        bw1 = prof["cpu_triad_gbs_1core"]
    else:
        lo_bw = figure("laptop8", "bandwidth_gbs_all")["value"][0]
        lo_fl = figure("laptop8", "fp32_tflops")["value"][0]
        bw, flops, source = lo_bw * 1e9, lo_fl * 1e12, "the course laptop's low figures (run `mentor doctor --measure`)"
        bw1 = figure("laptop8", "bandwidth_gbs_1core")["value"][0]
    fig = mine or ref
    decode = {}
    for label, bytes_per_param in (("fp32", 4), ("int8 (bf16 cache)", 1)):
        moved = fig["params"] * bytes_per_param + fig["kv_fp32" if bytes_per_param == 4 else "kv_bf16"]
        t = max(fig["flops_per_token"] / flops, moved / bw)
        decode[label] = {"bytes_per_token": moved, "seconds": t, "tokens_per_s": 1 / t,
                         "bound": "bandwidth" if moved / bw >= fig["flops_per_token"] / flops else "compute",
                         "intensity": fig["flops_per_token"] / moved}
    return {"config": cfg, "figures": fig, "source": "your myllm.audit" if mine else "the reference (system-audit not proficient yet)",
            "disagreements": [k for k in ref if mine is not None and mine[k] != ref[k]],
            "machine": {"bandwidth_gbs": bw / 1e9, "bandwidth_1core_gbs": bw1, "fp32_gflops": flops / 1e9, "source": source,
                        "ridge": flops / bw}, "decode": decode}


def render_audit(r: dict[str, Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    from mentor.render import console

    c, f = r["config"], r["figures"]
    console.print(Text(f"Audit of GPT(vocab {c['vocab_size']}, context {c['context_length']}, d_model {c['d_model']}, "
                       f"{c['n_layers']} layers, {c['n_heads']} heads, d_ff {c['d_ff']}) with {r['source']}", style="bold"))
    gib = 2**30
    t = Table(show_header=True, header_style="bold")
    t.add_column("what")
    t.add_column("value", justify="right")
    t.add_row("parameters", f"{f['params']:,} ({f['params'] / 1e6:.1f}M)")
    t.add_row("forward FLOPs per token (full context)", f"{f['flops_per_token'] / 1e6:,.0f} MFLOP")
    for label, key in (("training memory, fp32 AdamW", "train_fp32"), ("training memory, mixed precision", "train_mixed")):
        m = f[key]
        t.add_row(label, f"{m['total'] / gib:.2f} GiB (params {m['params'] / gib:.2f}, grads {m['grads'] / gib:.2f}, "
                         f"AdamW {m['optimizer'] / gib:.2f}, master {m['master'] / gib:.2f}) + activations")
    t.add_row("KV cache, one sequence at full context", f"{f['kv_fp32'] / 2**20:.0f} MiB fp32, {f['kv_bf16'] / 2**20:.0f} MiB bf16")
    mach = r["machine"]
    for label, d in r["decode"].items():
        t.add_row(f"decode step, {label} weights", f"{d['bytes_per_token'] / 2**20:.0f} MiB read, {d['intensity']:.2f} FLOP/byte: "
                                                 f"{d['bound']}-bound, <= {d['tokens_per_s']:.1f} tokens/s")
    console.print(t)
    console.print(Text(f"Roofline: {mach['bandwidth_gbs']:.0f} GB/s and {mach['fp32_gflops']:.0f} GFLOP/s ({mach['source']}); "
                       f"ridge point {mach['ridge']:.1f} FLOP/byte. A decode step at batch 1 sits far left of it: "
                       "every weight is read once per token.", style="dim"))
    for k in r["disagreements"]:
        console.print(Text(f"your {k} differs from the reference: run `mentor check system-audit`", style="yellow"))
