"""mentor project [init|tokenizer|data|train|sample|sft|dpo|quantize|chat|bench|report]"""

from __future__ import annotations

from typing import Optional

import typer

app = typer.Typer(help="The course project: your own GPT from your own myllm code, trained, sampled, aligned, "
                       "quantized and served, stage by stage. `mentor project` alone shows where it stands.",
                  invoke_without_command=True, no_args_is_help=False)


def _ws():  # -> Workspace
    from mentor.commands.common import workspace

    return workspace()


@app.callback()
def overview(ctx: typer.Context, json_out: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Where the project stands: each stage done / next / not yet, its key figures, the next command."""
    if ctx.invoked_subcommand is not None:
        return
    from mentor.project.view import overview as gather, render_overview

    o = gather(_ws().root)
    if json_out:
        import json

        typer.echo(json.dumps(o, indent=2))
    else:
        render_overview(o)


@app.command()
def init(size: str = typer.Option("auto", "--size", help="auto | tiny | small | gpu100m (auto: from this machine)."),
         force: bool = typer.Option(False, "--force", help="Rewrite an existing project.toml.")) -> None:
    """Write data/project/project.toml sized for this machine; print parameters, memory and expected tokens/s."""
    from mentor.errors import MentorError
    from mentor.project import stages

    if size not in ("auto", "tiny", "small", "gpu100m"):
        raise MentorError(f"unknown size {size!r}", "choose one of auto, tiny, small, gpu100m")
    stages.init(_ws(), size, force)


@app.command()
def tokenizer(corpus: Optional[str] = typer.Option(None, "--corpus", help="A UTF-8 text file (default: the generated corpus)."),
              force: bool = typer.Option(False, "--force", help="Redo it over an existing tokenizer.")) -> None:
    """Train your BPE on the corpus; save vocab and merges; show bytes per token on held-out text."""
    from mentor.project import stages

    stages.tokenizer(_ws(), corpus, force)


@app.command()
def data(force: bool = typer.Option(False, "--force", help="Redo it over existing train.bin/val.bin.")) -> None:
    """Your tokenize_to_file: the corpus to train.bin and val.bin; token counts and throughput."""
    from mentor.project import stages

    stages.data(_ws(), force)


@app.command()
def train(resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from its checkpoint."),
          max_iters: Optional[int] = typer.Option(None, "--max-iters", min=1, help="Iterations (default: project.toml)."),
          nproc: int = typer.Option(1, "--nproc", min=1, help="Processes (torchrun with your ddp functions): not yet."),
          force: bool = typer.Option(False, "--force", help="Train again from scratch over a finished model.")) -> None:
    """Your train loop on your GPT with your AdamW, schedule and clipping; checkpoints, resume, live loss plot."""
    from mentor.project import stages

    stages.train(_ws(), resume, max_iters, nproc, force)


@app.command()
def sample(prompt: list[str] = typer.Option(["Once"], "--prompt", help="Text to continue (repeat for several)."),
           temperature: float = typer.Option(0.8, "--temperature", min=0.0),
           top_k: Optional[int] = typer.Option(None, "--top-k", min=1),
           top_p: Optional[float] = typer.Option(0.95, "--top-p", min=0.0, max=1.0),
           max_new_tokens: int = typer.Option(200, "--max-new-tokens", min=1),
           seed: int = typer.Option(0, "--seed")) -> None:
    """Stream text from your GPT with your sampling code (temperature, top-k, top-p)."""
    from mentor.project import stages

    stages.sample(_ws(), prompt, temperature, top_k, top_p, max_new_tokens, seed)


@app.command()
def report() -> None:
    """One page of the whole project: report.md and report.html (pictures embedded) under data/project/report/."""
    from rich.text import Text

    from mentor.project.report import write_report
    from mentor.project.state import read_state
    from mentor.project.paths import ProjectPaths
    from mentor.render import console

    ws = _ws()
    if "train" not in read_state(ProjectPaths.of(ws.root).state):
        from mentor.errors import MentorError

        raise MentorError("the report needs a trained model first", "run `mentor project train`")
    md, html = write_report(ws)
    console.print(Text(f"wrote {md} and {html}"))


def register(root: typer.Typer) -> None:
    from mentor.project import align_cmds

    align_cmds.register(app)
    root.add_typer(app, name="project")
