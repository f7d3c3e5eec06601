"""The real `mentor start` in a pseudo-terminal, its output drawn on a terminal emulator (pyte).

prompt_toolkit redraws the prompt and the toolbar in place (a changed digit is one escape sequence
and one character), so the raw byte stream is no place to look for "29:58 left": the emulated
screen is. The emulator also answers prompt_toolkit's cursor-position requests, as a real terminal
does (without an answer prompt_toolkit does not know the screen's height and draws no toolbar).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pexpect
import pyte

ROWS, COLS = 40, 150


class _Screen(pyte.Screen):
    child: pexpect.spawn | None = None

    def write_process_input(self, data: str) -> None:  # the terminal's answer to a device status request
        if self.child is not None:
            self.child.send(data)


class Term:
    def __init__(self, args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("MENTOR_", "DEEPSEEK", "DASHSCOPE", "OPENAI"))}
        base.pop("PROMPT_TOOLKIT_NO_CPR", None)
        base.update(env or {})
        base.update(TERM="xterm-256color", COLUMNS=str(COLS), LINES=str(ROWS))
        self.child = pexpect.spawn(sys.executable, ["-m", "mentor.cli", *args], cwd=str(cwd), env=base,
                                   encoding="utf-8", timeout=5, dimensions=(ROWS, COLS))
        self.screen = _Screen(COLS, ROWS)
        self.screen.child = self.child
        self.stream = pyte.Stream(self.screen)
        self.raw = ""  # everything the program wrote
        self.eof = False

    def pump(self, wait_s: float = 0.2) -> None:
        try:
            data = self.child.read_nonblocking(1 << 16, timeout=wait_s)
        except pexpect.TIMEOUT:
            return
        except pexpect.EOF:
            self.eof = True
            return
        self.raw += data
        self.stream.feed(data)

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.screen.display)

    def plain(self) -> str:
        """Everything written so far with the escape sequences removed (for text that scrolled off the screen)."""
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]|\r", "", self.raw)

    def wait_screen(self, pattern: str, reads: int = 600) -> re.Match[str]:
        """Read until `pattern` is on the screen (at most `reads` reads of up to 0.2 s with no output)."""
        for _ in range(reads):
            m = re.search(pattern, self.text())
            if m:
                return m
            if self.eof:
                break
            self.pump()
        raise AssertionError(f"{pattern!r} never appeared on the screen:\n{self.text()}")

    def wait_output(self, pattern: str, since: int = 0, reads: int = 600) -> re.Match[str]:
        """Read until `pattern` is in the output written after character `since` of plain()."""
        for _ in range(reads):
            m = re.search(pattern, self.plain()[since:])
            if m:
                return m
            if self.eof:
                break
            self.pump()
        raise AssertionError(f"{pattern!r} never appeared in the output:\n{self.plain()[since:][-3000:]}")

    def mark(self) -> int:
        return len(self.plain())

    def toolbar(self) -> str:
        return self.screen.display[-1].strip()

    def type(self, text: str) -> None:
        self.child.send(text)

    def enter(self, text: str = "") -> None:
        self.child.send(text + "\r")

    def finish(self) -> None:
        for _ in range(600):
            if self.eof:
                break
            self.pump()
        self.child.close()
