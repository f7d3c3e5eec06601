"""What `mentor project init` prints: parameters, training memory against the device's memory, expected tokens/s.

Parameters, FLOPs per token and the weights/grads/AdamW bytes come from the system-audit formulas: the learner's
myllm.audit once their latest check of system-audit passed, else the reference (mentor/audit.py runs either in a
separate interpreter). Activations are estimated from what autograd keeps for this GPT per token and layer, in fp32:
about 11 d_model + 5 d_ff + 3 n_heads T values (inputs of the norms and projections, q/k/v, RoPE outputs, the
(T, T) scores and probabilities per head, the SwiGLU branches), plus 3 vocab_size values for the logits, their
softmax and gradient. bf16 autocast keeps most of them in 2 bytes (an upper bound is shown).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mentor.hardware import Machine
    from mentor.project.config import ProjectConfig
    from mentor.workspace import Workspace

EFFICIENCY = 0.3  # share of the measured matmul rate a small model's training step reaches (kernels, launch, memory)


def activation_bytes(cfg: "ProjectConfig") -> int:
    m, t = cfg.model, cfg.train
    per_token = m.n_layers * (11 * m.d_model + 5 * m.d_ff + 3 * m.n_heads * m.context_length) + 3 * m.vocab_size
    return 4 * t.batch_size * m.context_length * per_token  # one micro-batch: accumulation frees it between steps


def audit_figures(ws: "Workspace", cfg: "ProjectConfig") -> tuple[dict[str, Any], str]:
    from mentor.audit import _figures
    from mentor.paths import reference_root
    from mentor.project.runner import latest_status

    shape = {k: v for k, v in cfg.gpt_kwargs().items() if k != "rope_theta"}
    if latest_status(ws).get("system-audit") == "pass":
        return _figures("myllm.audit", shape, str(ws.root)), "your myllm.audit"
    return _figures("reference_impl.audit", shape, str(reference_root())), "the reference formulas (system-audit not passed yet)"


def estimate(ws: "Workspace", cfg: "ProjectConfig", machine: "Machine") -> dict[str, Any]:
    from mentor.labs.profile import latest_profiles, machine_key

    fig, source = audit_figures(ws, cfg)
    cuda = machine.cuda and cfg.device.device != "cpu"
    mem = fig["train_mixed" if cuda else "train_fp32"]
    act = activation_bytes(cfg)
    device_bytes = int((machine.vram_gb if cuda else machine.ram_gb) * 2**30) if (machine.vram_gb if cuda else machine.ram_gb) else 0
    total = mem["total"] + act
    prof = latest_profiles(ws.engine()).get(machine_key(machine))
    tps, tps_source = None, "measure with `mentor doctor --measure`"
    if prof:
        peak = prof.get("gpu_bf16_tflops", 0) * 1e12 if cuda else prof.get("cpu_fp32_gflops_all", 0) * 1e9
        if peak:
            tps = EFFICIENCY * peak / (3 * fig["flops_per_token"])  # forward + backward = 3 forward passes
            tps_source = (f"{EFFICIENCY:.0%} of the measured {'GPU bf16' if cuda else 'CPU fp32'} matmul rate "
                          f"({peak / 1e9:,.0f} GFLOP/s) / (3 x {fig['flops_per_token'] / 1e6:,.1f} MFLOP per token)")
    tokens = cfg.train.batch_size * cfg.train.grad_accum_steps * cfg.model.context_length
    return {"params": fig["params"], "flops_per_token": fig["flops_per_token"], "source": source,
            "memory": {**mem, "activations": act, "total_with_activations": total, "device": "GPU" if cuda else "RAM",
                       "device_bytes": device_bytes, "fits": bool(device_bytes) and total < 0.8 * device_bytes,
                       "mixed_precision": cuda},
            "tokens_per_iter": tokens, "tokens_per_s": tps, "tokens_per_s_source": tps_source,
            "eta_s": (cfg.train.max_iters * tokens / tps) if tps else None}


def render_estimate(e: dict[str, Any], size: str, why: str) -> list[str]:
    gib, m = 2**30, e["memory"]
    lines = [f"size {size}: {why}",
             f"parameters: {e['params']:,} ({e['params'] / 1e6:.2f}M), from {e['source']}",
             f"forward FLOPs per token at full context: {e['flops_per_token'] / 1e6:,.1f} MFLOP",
             f"training memory ({'bf16 autocast, fp32 master and AdamW' if m['mixed_precision'] else 'fp32'}): "
             f"weights {m['params'] / gib:.3f} GiB + grads {m['grads'] / gib:.3f} + AdamW {m['optimizer'] / gib:.3f}"
             + (f" + master {m['master'] / gib:.3f}" if m["master"] else "")
             + f" + activations ~{m['activations'] / gib:.3f} (one micro-batch, fp32 upper bound)"
             f" = {m['total_with_activations'] / gib:.2f} GiB"]
    if m["device_bytes"]:
        verdict = "fits" if m["fits"] else "does NOT fit in 80% of it: lower [train] batch_size (raise grad_accum_steps) or context_length"
        lines.append(f"against this machine's {m['device']}: {m['device_bytes'] / gib:.1f} GiB -> {verdict}")
    if e["tokens_per_s"]:
        lines.append(f"expected ~{e['tokens_per_s']:,.0f} tokens/s ({e['tokens_per_s_source']}); "
                     f"{e['tokens_per_iter']:,} tokens per iteration, so the run takes ~{_dur(e['eta_s'])}")
    else:
        lines.append(f"expected tokens/s: unknown, {e['tokens_per_s_source']}; {e['tokens_per_iter']:,} tokens per iteration")
    return lines


def _dur(s: float) -> str:
    return f"{s / 3600:.1f} h" if s >= 5400 else f"{s / 60:.0f} min" if s >= 90 else f"{s:.0f} s"
