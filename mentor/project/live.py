"""A training run as it happens: the history file (one JSON row a line, kept exact across resumes), the progress
line (iteration, loss, lr, tokens/s, ETA) on stderr when it is a terminal, the loss plot redrawn at each
evaluation (mentor.plot), and the SVG of the train/val curves at the end."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text

from mentor.plot import Chart, Series, terminal_chart, write_svg
from mentor.render import console, err_console

if TYPE_CHECKING:
    from mentor.project.config import ProjectConfig


def read_history(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue  # a line cut by a crash
    return rows


def loss_chart(rows: list[dict[str, Any]], baseline: float | None, title: str) -> Chart:
    val = [r for r in rows if r.get("val_loss") is not None]
    series = [Series("train loss", [r["iter"] for r in rows], [r["train_loss"] for r in rows])]
    if val:
        series.append(Series("validation loss", [r["iter"] for r in val], [r["val_loss"] for r in val]))
    return Chart(series, title=title, x_label="iteration", y_label="loss (nats)",
                 hlines=[("unigram baseline", baseline)] if baseline else [])


def _dur(s: float) -> str:
    s = int(max(s, 0))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class TrainView:
    def __init__(self, history_path: Path, rows: list[dict[str, Any]], max_iters: int, cfg: "ProjectConfig",
                 baseline: float | None) -> None:
        self.path, self.rows, self.max_iters, self.baseline = history_path, rows, max_iters, baseline
        self.tokens_per_iter = cfg.train.batch_size * cfg.train.grad_accum_steps * cfg.model.context_length
        self.params: int | None = None
        self.device = "cpu"
        self._t0: float | None = None
        self._n = 0  # rows since the first one of this process (the first includes start-up)
        self._elapsed = 0.0
        self._live: Any = None
        self._chart = ""
        self.tty = err_console.is_terminal

    def __enter__(self) -> "TrainView":
        if self.tty:
            from rich.live import Live

            self._live = Live(Text(""), console=err_console, refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None

    def on_event(self, ev: dict[str, Any]) -> None:
        if ev.get("event") == "progress":
            self.params = ev.get("params", self.params)
            self.device = ev.get("device", self.device)
            self._print(f"{ev.get('message', '')}" + (f": {self.params:,} parameters" if self.params else ""), "dim")
            return
        if ev.get("event") != "row":
            return
        row = {k: ev[k] for k in ("iter", "train_loss", "val_loss", "lr") if k in ev}
        if self.rows and self.rows[-1]["iter"] >= row["iter"]:  # resumed from an earlier checkpoint: drop what it redoes
            self.rows = [r for r in self.rows if r["iter"] < row["iter"]]
            self.path.write_text("".join(json.dumps(r) + "\n" for r in self.rows), encoding="utf-8")
        self.rows.append(row)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        else:
            self._n += 1
            self._elapsed = now - self._t0
        if row.get("val_loss") is not None:
            self._chart = terminal_chart(loss_chart(self.rows, self.baseline, "loss"), width=60, height=10)
            if not self.tty:
                self._print(self._line(row))
        if self._live is not None:
            self._live.update(Text(self._chart + "\n" + self._line(row)))

    def _line(self, row: dict[str, Any]) -> str:
        tps = self.tokens_per_s()
        eta = (self.max_iters - row["iter"] - 1) * self.tokens_per_iter / tps if tps else None
        val = f"  val {row['val_loss']:.3f}" if row.get("val_loss") is not None else ""
        return (f"iter {row['iter'] + 1}/{self.max_iters}  loss {row['train_loss']:.3f}{val}  lr {row['lr']:.2e}"
                + (f"  {tps:,.0f} tok/s  ETA {_dur(eta)}" if tps and eta is not None else ""))

    def _print(self, text: str, style: str = "") -> None:
        (self._live.console if self._live is not None else console).print(Text(text, style=style))

    def tokens_per_s(self) -> float | None:
        return self._n * self.tokens_per_iter / self._elapsed if self._n and self._elapsed > 0 else None

    def last_iter(self) -> int:
        return self.rows[-1]["iter"] + 1 if self.rows else 0

    def last_checkpoint_iter(self) -> int:
        """Iterations held by the learner's last checkpoint (it saves at each evaluation)."""
        return next((r["iter"] + 1 for r in reversed(self.rows) if r.get("val_loss") is not None), 0)

    def finish(self, svg: Path) -> Path:
        svg.parent.mkdir(parents=True, exist_ok=True)
        title = f"your GPT ({self.params:,} parameters), {len(self.rows)} iterations on {self.device}" if self.params else "training"
        chart = loss_chart(self.rows, self.baseline, title)
        write_svg(chart, svg)
        console.print(Text(terminal_chart(chart, width=60, height=12)))
        sys.stdout.flush()
        return svg
