"""The later stages: `sft` and `dpo` (mentor/project/align.py on the learner's modules, in the worker), measured
before and after on held-out items and plotted; `quantize`, `chat` and `bench` are in mentor/project/serve_cmds.py."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Optional

import typer

from mentor.errors import MentorError

if TYPE_CHECKING:
    from mentor.workspace import Workspace

_WHAT = {"sft": ("answer accuracy", "held-out questions about generated stories"),
         "dpo": ("preference accuracy", "held-out pairs (right answer vs a wrong one of its kind)")}


def aligned(ws: "Workspace", stage: str, iters: int | None, force: bool) -> None:
    from mentor.plot import Chart, Series, write_bars_svg, write_svg
    from mentor.project.paths import ProjectPaths
    from mentor.project.runner import Interrupted, require_units, run_stage
    from mentor.project.stages import _base, _need, _refuse, _say, _tok_args
    from mentor.project.state import record_stage

    p, cfg, st = _base(ws)
    _need(st, "train" if stage == "sft" else "sft", stage)
    out_dir = p.sft_dir if stage == "sft" else p.dpo_dir
    model_path = out_dir / "model.pt"
    if model_path.exists() and not force:
        raise _refuse(model_path, stage)
    require_units(ws, stage)
    settings = (cfg.sft if stage == "sft" else cfg.dpo).model_dump()
    if iters:
        settings["iters"] = iters
    out_dir.mkdir(parents=True, exist_ok=True)
    new = out_dir / ".model.pt.new"
    src = p.final if stage == "sft" else ProjectPaths.of(ws.root).sft_dir / "model.pt"
    rows: list[dict[str, Any]] = []

    def show(ev: dict[str, Any]) -> None:
        if ev.get("event") == "progress":
            _say(ev.get("message", ""), "dim")
        elif ev.get("event") == "row":
            rows.append(ev)
            if (ev["iter"] + 1) % max(1, settings["iters"] // 10) == 0:
                extra = f"  reward accuracy {ev['reward_accuracy']:.2f}" if "reward_accuracy" in ev else ""
                _say(f"iter {ev['iter'] + 1}/{settings['iters']}  loss {ev['loss']:.3f}  lr {ev['lr']:.2e}{extra}")

    args = {**_tok_args(p, cfg), "model": cfg.gpt_kwargs(), "train": cfg.train.model_dump(), "checkpoint": str(src),
            "settings": settings, "seed": cfg.train.seed, "out": str(new), "threads": cfg.device.threads}
    try:
        r = run_stage(ws, stage, args, on_event=show)
        os.replace(new, model_path)
    except Interrupted:
        raise MentorError(f"{stage} interrupted: nothing was replaced", f"run `mentor project {stage}` again", exit_code=130) from None
    finally:
        new.unlink(missing_ok=True)
    metric, on = _WHAT[stage]
    loss_svg = write_svg(Chart([Series(f"{stage} loss", [x["iter"] for x in rows], [x["loss"] for x in rows])],
                               title=f"{stage.upper()} loss", x_label="iteration", y_label="loss"), p.report_dir / f"{stage}_loss.svg")
    bars = None if max(r["before"], r["after"]) <= 0 else write_bars_svg([("before", 100 * r["before"]), ("after", 100 * r["after"])], p.report_dir / f"{stage}_accuracy.svg",
                          title=f"{metric} on {r['held_out']} {on}", unit="%")
    record_stage(p.state, stage, {"before": r["before"], "after": r["after"], "iters": settings["iters"], "held_out": r["held_out"],
                                  "final_loss": r["final_loss"], "picture": str(bars) if bars else None, "loss_picture": str(loss_svg)})
    _say(f"{metric} on {r['held_out']} {on}: {r['before']:.1%} before -> {r['after']:.1%} after; model in {model_path}", "bold")
    _say("next: " + ("`mentor project dpo`" if stage == "sft" else "`mentor project report`"), "bold")


def _aligned_cmd(stage: str, doc: str) -> Callable[..., None]:
    def cmd(iters: Optional[int] = typer.Option(None, "--iters", min=1, help="Iterations (default: project.toml)."),
            force: bool = typer.Option(False, "--force", help="Redo it over an existing tuned model.")) -> None:
        from mentor.commands.common import workspace

        aligned(workspace(), stage, iters, force)

    cmd.__doc__ = doc
    return cmd


def register(app: typer.Typer) -> None:
    app.command(name="sft")(_aligned_cmd("sft", "Supervised fine-tuning with your SFT code on generated questions; "
                                                "held-out answer accuracy before and after."))
    app.command(name="dpo")(_aligned_cmd("dpo", "DPO with your code on generated preference pairs; held-out "
                                                "preference accuracy before and after."))
    from mentor.project import serve_cmds

    serve_cmds.register(app)


