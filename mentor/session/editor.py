"""Reading the learner's lines in `mentor start`: a line editor on a terminal, plain lines otherwise.

On a terminal (stdin and stdout both TTYs, TERM not "dumb") the session uses prompt_toolkit:
history kept per workspace in .mentor/history, Emacs-style editing, a bottom toolbar redrawn every
second (time left, unit and step titles, tokens used), time notices (the 10-minute warning, the
wrap-up offer at 0) printed above the prompt while the learner thinks, and multi-line answers for
predict and explain questions (a line with only "." or Esc then Enter sends them; a /command or a
?question on the first line is sent by Enter as usual). Anywhere else (a pipe, a script, a dumb
terminal) each input is one line read with input(), as before.

Both readers raise EOFError on Ctrl-D / end of input and KeyboardInterrupt on Ctrl-C at the prompt.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from mentor.session.engine import SessionEngine

MULTILINE_HELP = "several lines: finish with a line holding only a dot, or press Esc then Enter"


class LineReader(Protocol):
    def read(self, engine: SessionEngine) -> str: ...


class PlainReader:
    """One line per input (stdin is not a terminal: the existing scripted and piped sessions)."""

    def read(self, engine: SessionEngine) -> str:
        return input(f"{engine.prompt_label()} > ")


def finish_multiline(text: str) -> str | None:
    """The answer when the multi-line buffer is complete (its last line is a lone "."), else None."""
    lines = text.split("\n")
    if lines[-1].strip() == ".":
        return "\n".join(lines[:-1]).rstrip()
    return None


class EditorReader:
    """prompt_toolkit: history, editing, a live toolbar, time notices and multi-line answers."""

    def __init__(self, history_path: Path | None) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory, InMemoryHistory

        history = InMemoryHistory()
        if history_path is not None:
            try:
                history_path.parent.mkdir(parents=True, exist_ok=True)
                history_path.touch(exist_ok=True)
                history = FileHistory(str(history_path))
            except OSError:  # a read-only workspace: history for this session only
                pass
        self.session: PromptSession[str] = PromptSession(history=history, key_bindings=self._bindings(),
                                                        enable_history_search=False)
        self.multiline = False

    def _bindings(self):  # type: ignore[no-untyped-def]
        from prompt_toolkit.filters import Condition
        from prompt_toolkit.key_binding import KeyBindings

        kb = KeyBindings()
        in_multiline = Condition(lambda: self.multiline)

        @kb.add("enter", filter=in_multiline)
        def _enter(event) -> None:  # type: ignore[no-untyped-def]
            buf = event.current_buffer
            text = buf.text
            done = finish_multiline(text)
            if done is not None:
                buf.text = done
                buf.validate_and_handle()
            elif "\n" not in text and (not text.strip() or text.lstrip().startswith(("/", "?"))):
                buf.validate_and_handle()  # a command, a question to the mentor, or an empty line: one line
            else:
                buf.insert_text("\n")

        return kb

    def read(self, engine: SessionEngine) -> str:
        import asyncio

        from prompt_toolkit.application import get_app, run_in_terminal

        self.multiline = engine.multiline_expected()
        label = engine.prompt_label(live=True)
        message = f"{label} ({MULTILINE_HELP})\n> " if self.multiline else f"{label} > "

        async def watch() -> None:
            while True:
                await asyncio.sleep(1.0)
                notices = engine.time_notices()
                if notices:
                    def show() -> None:
                        for kind, text in notices:
                            engine.emit(kind, text)

                    await run_in_terminal(show)

        def pre_run() -> None:
            get_app().create_background_task(watch())

        return self.session.prompt(message, multiline=self.multiline, prompt_continuation="… ",
                                   bottom_toolbar=lambda: engine.toolbar_text(), refresh_interval=1.0,
                                   pre_run=pre_run)


def interactive() -> bool:
    """A line editor only on a real terminal: both ends TTYs and a terminal that can draw."""
    if os.environ.get("TERM", "") == "dumb":
        return False
    try:
        return sys.stdin.isatty() and sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def make_reader(history_path: Path | None) -> LineReader:
    if interactive():
        try:
            return EditorReader(history_path)
        except Exception:  # no usable terminal after all (prompt_toolkit refuses it): plain lines, nothing lost
            return PlainReader()
    return PlainReader()
