"""mentor audit [--vocab-size N ...] [--json]"""

from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def audit(
        vocab_size: Optional[int] = typer.Option(None, "--vocab-size", min=2, help="Default: 32000."),
        context_length: Optional[int] = typer.Option(None, "--context", min=1, help="Default: this machine's course model."),
        d_model: Optional[int] = typer.Option(None, "--d-model", min=1),
        n_layers: Optional[int] = typer.Option(None, "--n-layers", min=1),
        n_heads: Optional[int] = typer.Option(None, "--n-heads", min=1),
        d_ff: Optional[int] = typer.Option(None, "--d-ff", min=1, help="Default: 8/3 d_model rounded to 64."),
        json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
    ) -> None:
        """Audit your model: parameters, FLOPs per token, training memory (fp32 vs mixed), KV cache, and the
        roofline of a decode step on this machine — with your own myllm.audit once system-audit is proficient."""
        from mentor.audit import default_config, render_audit, run_audit
        from mentor.commands.common import course, workspace
        from mentor.hardware import detect

        cfg = default_config(detect(with_torch=False), vocab_size=vocab_size, context_length=context_length,
                             d_model=d_model, n_layers=n_layers, n_heads=n_heads, d_ff=d_ff)
        r = run_audit(workspace(), course(), cfg)
        if json_out:
            import json

            typer.echo(json.dumps(r, indent=2))
        else:
            render_audit(r)
