"""The terminal layer of `mentor start`: reads lines, renders the engine's events with rich."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from rich.panel import Panel
from rich.syntax import Syntax
from rich.text import Text

from mentor.render import lesson_renderable
from mentor.session.wording import in_session

if TYPE_CHECKING:
    from mentor.session.editor import LineReader
    from mentor.session.engine import SessionEngine


class TerminalUI:
    def __init__(self, show_reasoning: bool = True) -> None:
        from mentor.render import console

        self.console = console
        self.show_reasoning = show_reasoning
        self.streaming = False

    def _end_stream(self) -> None:
        if self.streaming:
            self.console.file.write("\n")
            self.console.file.flush()
            self.streaming = False

    def _write_in_session(self, rendered: str, unit: Any) -> None:
        """Rendered output, each line that names a shell command or a question id reworded (that line's colours
        are dropped: it is advice, not the result); the other lines exactly as rendered."""
        from mentor.session.wording import name_questions

        for line in rendered.splitlines(keepends=True):
            plain = Text.from_ansi(line.rstrip("\n")).plain
            said = name_questions(unit, plain)
            if said != plain:
                self.console.print(Text(said), soft_wrap=True)
            else:
                self.console.file.write(line)
        self.console.file.flush()

    def __call__(self, kind: str, text: str, data: dict[str, Any]) -> None:
        c = self.console
        if kind == "delta":
            if not self.streaming:
                c.print(Text("mentor: ", style="bold magenta"), end="")
                self.streaming = True
            c.file.write(text)
            c.file.flush()
            return
        if kind == "reasoning":
            if self.show_reasoning:
                c.file.write(f"\x1b[2m{text}\x1b[0m")
                c.file.flush()
            return
        self._end_stream()
        if kind in ("markdown", "question", "ok", "bad", "warn", "info", "summary"):  # the tool's words, not the mentor's
            text = in_session(text)
        if kind == "markdown":
            c.print(lesson_renderable(text))
        elif kind == "question":
            title = data.get("label") or ("review" if data.get("review") else "question")
            c.print(Panel(lesson_renderable(text), title=Text(title), border_style="cyan"))
        elif kind == "ok":
            c.print(Text("✓ " + text, style="bold green"))
            if data.get("explanation"):
                c.print(Text(data["explanation"], style="dim"))
        elif kind == "bad":
            c.print(Text("✗ " + text, style="bold red"))
        elif kind == "warn":
            c.print(Text("! " + text, style="yellow"))
        elif kind == "info":
            c.print(Text(text, style="cyan"))
        elif kind == "reply_end":
            from mentor.session.guard import code_blocks

            for b in code_blocks(text):
                c.print(Syntax(b.code.rstrip(), b.lang or "python", theme="ansi_dark"))
        elif kind == "check":
            from mentor.render import render_check

            with c.capture() as cap:  # the shared renderer advises shell commands: say them the session's way
                render_check(data["outcome"], data["unit"])
            self._write_in_session(cap.get(), data["unit"])
        elif kind == "verify":
            style = "green" if data.get("ok") else "red"
            title = "verify: ran" + (" (timed out)" if data.get("timed_out") else f", exit code {data.get('rc')}")
            c.print(Syntax(data.get("code", "").rstrip(), "python", theme="ansi_dark"))
            c.print(Panel(Text(text or "(no output)"), title=title, border_style=style))
        elif kind == "summary":
            c.print(Panel(lesson_renderable(text), title="session summary", border_style="magenta"))
        elif kind == "end":
            c.print(Text("Session saved. See you tomorrow.", style="dim"))


def run_session(engine: SessionEngine, reader: LineReader | None = None) -> None:
    """The read-eval loop. Ctrl-C at the prompt, Ctrl-D and /quit end with a summary; Ctrl-C during an
    operation (/check, a streaming reply) cancels only that one, so a second Ctrl-C ends the session."""
    from mentor.session.editor import PlainReader

    ui_console = sys.stdout
    reader = reader or PlainReader()
    engine.start()
    try:
        while not engine.finished:
            try:
                line = reader.read(engine)
            except EOFError:
                print(file=ui_console)  # the prompt's line is still open: the summary starts on its own line
                engine.end("eof")
                break
            try:
                engine.handle(line)
            except KeyboardInterrupt:  # a second Ctrl-C while this is shown reaches the handler below
                engine.emit("warn", "cancelled (Ctrl-C at the prompt ends the session)")
    except KeyboardInterrupt:
        print(file=ui_console)
        engine.end("interrupted")
    except Exception:
        engine.end("error")
        raise
