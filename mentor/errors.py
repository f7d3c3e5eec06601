"""The one user-facing error type: a message saying what went wrong and a hint saying how to fix it."""

from __future__ import annotations


class MentorError(Exception):
    """A failure the user can act on. Rendered as message + hint, never as a traceback."""

    def __init__(self, message: str, hint: str | None = None, exit_code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\nhint: {self.hint}"
