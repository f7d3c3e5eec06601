"""The serving stages: `quantize`, `bench` and `chat` (mentor/project/serve.py on the learner's modules, in the worker).

They serve the newest tuned model: DPO's if it ran, else SFT's, else the trained one. `quantize` checks the
learner's INT8 path on it (weight bytes, validation loss of both); `bench` runs the learner's benchmark on the
fp32 and INT8 models side by side; `chat` streams replies from the INT8 model (fp32 with --fp32) on the CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from mentor.errors import MentorError

if TYPE_CHECKING:
    from mentor.project.config import ProjectConfig
    from mentor.project.paths import ProjectPaths
    from mentor.workspace import Workspace


def served(p: ProjectPaths) -> Path:
    """The newest tuned model: dpo/model.pt, else sft/model.pt, else checkpoints/final.pt."""
    for path in (p.dpo_dir / "model.pt", p.sft_dir / "model.pt"):
        if path.is_file():
            return path
    return p.final


def _args(p: ProjectPaths, cfg: ProjectConfig, st: dict[str, Any]) -> dict[str, Any]:
    return {"model": cfg.gpt_kwargs(), "checkpoint": str(served(p)), "val_bin": str(p.val_bin),
            "dtype": st["data"]["dtype"], "max_tokens": 8192, "threads": cfg.device.threads}


def quantize(ws: Workspace) -> None:
    from mentor.project.runner import require_units, run_stage
    from mentor.project.stages import _base, _need, _say
    from mentor.project.state import record_stage

    p, cfg, st = _base(ws)
    _need(st, "train", "quantize")
    require_units(ws, "quantize")
    r = run_stage(ws, "quantize", _args(p, cfg, st))
    mib = 2**20
    _say(f"{served(p).relative_to(ws.root)}: weights {r['fp32_bytes'] / mib:.2f} MiB fp32 -> {r['int8_bytes'] / mib:.2f} MiB "
         f"with your INT8 blocks ({r['int8_bytes'] / r['fp32_bytes']:.2f}x; embeddings and lm_head stay float)")
    _say(f"validation loss {r['val_loss_fp32']:.4f} fp32 -> {r['val_loss_int8']:.4f} INT8 "
         f"({r['val_loss_change']:+.4f} nats on {r['val_tokens']:,} tokens)")
    record_stage(p.state, "quantize", {**r, "checkpoint": str(served(p))})
    _say("next: `mentor project bench` (speed) or `mentor project chat`", "bold")


def bench(ws: Workspace) -> None:
    from rich.table import Table

    from mentor.project.runner import require_units, run_stage
    from mentor.project.stages import _base, _need, _say
    from mentor.project.state import record_stage
    from mentor.render import console

    p, cfg, st = _base(ws)
    _need(st, "quantize", "bench")
    require_units(ws, "bench")
    _say("running your benchmark on the fp32 and the INT8 model (batch 1, KV cache on) ...", "dim")
    r = run_stage(ws, "bench", _args(p, cfg, st))
    t = Table(show_header=True, header_style="bold")
    for col in ("", "prefill tok/s", "decode tok/s", "peak RSS MiB", "weight MiB", "val loss"):
        t.add_column(col, justify="right" if col else "left")
    for k in ("fp32", "int8"):
        f = r[k]
        t.add_row(k, f"{f['prefill_tokens_per_s']:,.0f}", f"{f['decode_tokens_per_s']:,.1f}", f"{f['peak_rss_mb']:,.0f}",
                  f"{f['weight_bytes'] / 2**20:.2f}", f"{f['val_loss']:.4f}")
    console.print(t)
    c = r["change"]
    _say(f"INT8 / fp32: decode {c['decode_speedup']:.2f}x, prefill {c['prefill_speedup']:.2f}x, weight bytes "
         f"{c['weight_bytes_ratio']:.2f}x, validation loss {c['val_loss']:+.4f} nats (prompt {r['prompt_len']}, "
         f"{r['new_tokens']} new tokens)")
    record_stage(p.state, "bench", r)
    _say("next: `mentor project report`", "bold")


def chat(ws: Workspace, fp32: bool, max_new_tokens: int, temperature: float, top_k: int | None, top_p: float | None,
         seed: int) -> None:
    import sys

    from mentor.project.runner import Interrupted, require_units, run_stage
    from mentor.project.stages import _base, _need, _say, _tok_args

    p, cfg, st = _base(ws)
    _need(st, "train", "chat")
    require_units(ws, "chat")
    model = served(p)
    _say(f"chatting with {model.relative_to(ws.root)} ({'fp32' if fp32 else 'INT8'}, on the CPU). An empty line or "
         "Ctrl-D ends.", "dim")
    history: list[dict[str, str]] = []

    def show(ev: dict[str, Any]) -> None:
        if ev.get("event") == "piece":
            sys.stdout.write(ev["text"])  # the model's text, literally, as it streams
            sys.stdout.flush()

    while True:
        try:
            text = input("you> ")
        except EOFError:
            break
        if not text.strip():
            break
        sys.stdout.write("model> ")
        sys.stdout.flush()
        args = {**_tok_args(p, cfg), **_args(p, cfg, st), "int8": not fp32, "history": history, "text": text,
                "max_new_tokens": max_new_tokens, "temperature": temperature, "top_k": top_k, "top_p": top_p,
                "seed": seed}
        try:
            r = run_stage(ws, "chat", args, on_event=show)
        except Interrupted:
            raise MentorError("chat interrupted", "nothing was lost", exit_code=130) from None
        sys.stdout.write("\n")
        history += [{"role": "user", "content": text}, {"role": "assistant", "content": r["reply"]}]


def register(app: typer.Typer) -> None:
    from mentor.commands.common import workspace

    @app.command(name="quantize")
    def quantize_cmd() -> None:
        """Your INT8 model from the newest tuned one (your quantize_model): weight bytes and validation loss of both."""
        quantize(workspace())

    @app.command(name="bench")
    def bench_cmd() -> None:
        """fp32 vs INT8 with your benchmark: prefill/decode tokens/s, peak RSS, weight bytes, validation loss."""
        bench(workspace())

    @app.command(name="chat")
    def chat_cmd(
        fp32: bool = typer.Option(False, "--fp32", help="Chat with the float model instead of the INT8 one."),
        max_new_tokens: int = typer.Option(64, "--max-new-tokens", min=1),
        temperature: float = typer.Option(0.0, "--temperature", min=0.0),
        top_k: Optional[int] = typer.Option(None, "--top-k", min=1),
        top_p: Optional[float] = typer.Option(None, "--top-p", min=0.0, max=1.0),
        seed: int = typer.Option(0, "--seed"),
    ) -> None:
        """Chat with your model on the CPU: your chat template, your stream_generate with the KV cache."""
        chat(workspace(), fp32, max_new_tokens, temperature, top_k, top_p, seed)
