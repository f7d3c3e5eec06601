"""The facts a review's questions are about: the learner's model, its audit, this machine.

The model is the course project's (data/project/project.toml, the `[model]` table or top-level
keys named like the GPT constructor's arguments) when there is one, else the course's model for
this machine (`mentor doctor`'s advice, as `mentor audit` uses). The audit runs the learner's own
`myllm.audit` once system-audit is proficient, the reference before (mentor/audit.py). The machine
figures are the latest `mentor doctor --measure` of this machine, else the course laptop's low
figures from curriculum/hardware.yaml. Every value is a preformatted string: questions quote them
as {me:KEY}.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mentor.curriculum import Course
    from mentor.workspace import Workspace

PLACEHOLDER = re.compile(r"\{me:([a-z0-9_.]+)\}")
GPT_KEYS = ("vocab_size", "context_length", "d_model", "n_layers", "n_heads", "d_ff")


def _project_model(ws: Workspace) -> tuple[dict[str, int], int] | None:
    """(GPT config, batch size) from the course project's config, if the learner has one."""
    import tomllib

    path = ws.root / "data" / "project" / "project.toml"
    if not path.is_file():
        return None
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None  # `mentor project` reports a broken config itself; the review falls back

    def find(key: str) -> Any:
        for table in (doc.get("model"), doc, doc.get("train"), doc.get("training")):
            if isinstance(table, dict) and isinstance(table.get(key), int):
                return table[key]
        return None

    cfg = {k: find(k) for k in GPT_KEYS}
    if any(v is None for k, v in cfg.items() if k != "d_ff"):
        return None
    return cfg, int(find("batch_size") or 8)


def build_context(ws: Workspace, course: Course) -> dict[str, str]:
    from mentor.audit import default_config, run_audit, swiglu_width
    from mentor.hardware import detect

    m = detect(with_torch=False)
    found = _project_model(ws)
    if found:
        cfg, batch = found
        cfg["d_ff"] = cfg.get("d_ff") or swiglu_width(cfg["d_model"])
        source = "your project config, data/project/project.toml"
    else:
        cfg, batch = default_config(m), 8
        source = "the course's model for this machine; `mentor project init` makes your own"
    a = run_audit(ws, course, cfg)
    return facts(cfg, batch, source, a)


def facts(cfg: dict[str, int], batch: int, source: str, a: dict[str, Any]) -> dict[str, str]:
    """All {me:...} values from a GPT config, a batch size and an audit (mentor.audit.run_audit's result)."""
    f, mach = a["figures"], a["machine"]
    gib, mib = 2**30, 2**20
    n = f["params"]
    V, d, L, H, T = cfg["vocab_size"], cfg["d_model"], cfg["n_layers"], cfg["n_heads"], cfg["context_length"]
    scores = batch * H * T * T * 4  # bytes of one (B, H, T, T) fp32 tensor
    one_core = mach.get("bandwidth_1core_gbs") or mach["bandwidth_gbs"] / 2
    fp32, int8 = a["decode"]["fp32"], a["decode"]["int8 (bf16 cache)"]
    return {
        "model.vocab_size": str(V), "model.context_length": str(T), "model.d_model": str(d),
        "model.n_layers": str(L), "model.n_heads": str(H), "model.d_ff": str(cfg["d_ff"]), "model.d_head": str(d // H),
        "model.source": source, "train.batch_size": str(batch),
        "audit.params_m": f"{n / 1e6:.1f}", "audit.embed_share_pct": f"{100 * 2 * V * d / n:.0f}",
        "audit.mflops_per_token": f"{f['flops_per_token'] / 1e6:,.0f}",
        "audit.train_fp32_gib": f"{f['train_fp32']['total'] / gib:.2f}",
        "audit.train_mixed_gib": f"{f['train_mixed']['total'] / gib:.2f}",
        "audit.kv_fp32_mib": f"{f['kv_fp32'] / mib:.0f}", "audit.kv_bf16_mib": f"{f['kv_bf16'] / mib:.0f}",
        "audit.decode_fp32_mib": f"{fp32['bytes_per_token'] / mib:.0f}",
        "audit.decode_fp32_tps": f"{fp32['tokens_per_s']:.0f}", "audit.decode_int8_tps": f"{int8['tokens_per_s']:.0f}",
        "audit.chinchilla_tokens_m": f"{20 * n / 1e6:,.0f}",
        "attn.scores_mib": f"{scores / mib:,.0f}", "attn.saved_gib": f"{3 * L * scores / gib:,.1f}",
        "machine.bw_1core_gbs": f"{one_core:.0f}", "machine.bw_all_gbs": f"{mach['bandwidth_gbs']:.0f}",
        "machine.fp32_gflops": f"{mach['fp32_gflops']:.0f}", "machine.ridge": f"{mach['ridge']:.1f}",
        "machine.source": mach["source"],
    }


def fill(text: str, values: dict[str, str]) -> str:
    """Replace {me:KEY} placeholders (unknown keys stay visible, the self-check reports them)."""
    return PLACEHOLDER.sub(lambda mt: values.get(mt.group(1), mt.group(0)), text)


def unknown_keys(text: str, values: dict[str, str]) -> list[str]:
    return [mt.group(0) for mt in PLACEHOLDER.finditer(text) if mt.group(1) not in values]
