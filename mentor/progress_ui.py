"""Progress on slow commands: a spinner with elapsed time, a bar over units. Only on a terminal.

Both draw on stderr and only when stderr is a terminal (and TERM is not "dumb"), so `--json`,
pipes and redirected output stay free of escape codes; the drawing disappears when it is done
(transient), leaving only the command's own output. While one is drawn, rich redirects stdout so
the command's lines print above it.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    from rich.progress import Progress


def interactive() -> bool:
    """stderr is a terminal that can draw (MENTOR_NO_PROGRESS=1 turns progress off)."""
    if os.environ.get("MENTOR_NO_PROGRESS") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _progress(*columns: object) -> "Progress":
    from rich.console import Console
    from rich.progress import Progress

    return Progress(*columns, console=Console(stderr=True, highlight=False), transient=True)  # type: ignore[arg-type]


@contextmanager
def spinner(text: str, enabled: bool = True) -> Iterator[None]:
    """`with spinner("checking neuron"):` shows `⠋ checking neuron 0:00:02` on stderr while the block runs."""
    if not (enabled and interactive()):
        yield
        return
    from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

    with _progress(SpinnerColumn(), TextColumn("{task.description}", markup=False), TimeElapsedColumn()) as p:
        p.add_task(text, total=None)
        yield


class UnitBar:
    """A bar over the units of `mentor dev check`; `advance(uid)` after each. Does nothing off a terminal."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._p: "Progress | None" = None
        self._task = 0

    def __enter__(self) -> "UnitBar":
        if interactive():
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

            self._p = _progress(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn())
            self._p.__enter__()
            self._task = self._p.add_task("self-check", total=self.total)
        return self

    def start(self, uid: str) -> None:
        if self._p is not None:
            self._p.update(self._task, description=f"self-check {uid}")

    def advance(self) -> None:
        if self._p is not None:
            self._p.advance(self._task)

    def __exit__(self, *exc: object) -> None:
        if self._p is not None:
            self._p.__exit__(None, None, None)
