"""The conversation with the LLM mentor: append-only history, streaming, guards, recording.

The learner's words are stored before they are sent; every reply is stored with provider, model,
persona, tokens, cost and latency; reasoning text is stored separately and never sent back.
Code in a reply is held back until the reply is complete and the solution guard has looked at it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from sqlmodel import Session

from mentor.store.db import now_iso
from mentor.store.models import Message

MAX_FAILURES = 2


@dataclass
class Turn:
    content: str
    status: str
    withheld: bool = False


class FenceFilter:
    """Streams prose at once, holds ``` fenced blocks until the reply is complete."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self.emit, self.buf, self.in_fence = emit, "", False

    def feed(self, text: str) -> None:
        self.buf += text
        while True:
            if not self.in_fence:
                i = self.buf.find("```")
                if i < 0:
                    keep = 2 if self.buf.endswith(("`", "``")) else 0
                    out, self.buf = self.buf[: len(self.buf) - keep], self.buf[len(self.buf) - keep:]
                    if out:
                        self.emit(out)
                    return
                if i:
                    self.emit(self.buf[:i])
                self.buf, self.in_fence = self.buf[i:], True
            j = self.buf.find("```", 3)
            if j < 0:
                return
            self.buf, self.in_fence = self.buf[j + 3:], False  # the finished block is shown after the guard


class MentorChannel:
    def __init__(self, engine: Any, session_id: int, client: Any, persona: Any, system: str, emit: Callable) -> None:
        self.db, self.session_id, self.client, self.persona, self.emit = engine, session_id, client, persona, emit
        self.history: list[dict[str, str]] = [{"role": "system", "content": system}]
        self.failures = 0
        self.tokens = 0
        if system:
            self._store("system", system)

    @property
    def online(self) -> bool:
        return self.client is not None

    def _store(self, role: str, content: str, **kw: Any) -> None:
        with Session(self.db) as s:
            s.add(Message(session_id=self.session_id, created_at=now_iso(), role=role, content=content, **kw))
            s.commit()

    def _stream(self) -> Any:
        held = FenceFilter(lambda t: self.emit("delta", t))
        reply = self.client.stream_chat(self.history, on_delta=lambda kind, t: held.feed(t) if kind == "content" else self.emit("reasoning", t))
        u = reply.usage
        self._store("assistant", reply.content, reasoning=reply.reasoning, status=reply.status, provider=reply.provider,
                    model=reply.model, persona=f"{self.persona.name}@{self.persona.hash}",
                    prompt_tokens=getattr(u, "prompt_tokens", None), cached_tokens=getattr(u, "cached_tokens", None),
                    completion_tokens=getattr(u, "completion_tokens", None), reasoning_tokens=getattr(u, "reasoning_tokens", None),
                    cost_usd=reply.cost_usd, latency_s=reply.latency_s)
        if u is not None:
            self.tokens += (u.prompt_tokens or 0) + (u.completion_tokens or 0)
        return reply

    def say(self, text: str, context: str, leak_check: Callable[[str], bool] | None = None) -> Turn | None:
        """Send the learner's words (with the [context] block) and stream the reply. None when offline."""
        if self.client is None:
            self._store("user", text, status="offline")  # kept in the transcript even with no one to answer
            return None
        content = f"{context}\n\n{text}" if context else text
        self._store("user", content)  # stored before it is sent: nothing typed is lost
        self.history.append({"role": "user", "content": content})
        try:
            reply = self._stream()
        except Exception as e:  # auth errors and the like: the session goes on offline
            return self._failed(str(getattr(e, "message", e)))
        if reply.error == "interrupted" and not reply.content:  # Ctrl-C before any text: the learner's choice
            self.history.pop()
            self.emit("warn", "reply cancelled (your message is saved)")
            return None
        if reply.status == "failed" or (reply.status == "partial" and not reply.content):
            return self._failed(reply.error or "no reply")
        self.failures = 0
        turn = Turn(reply.content, reply.status)
        if reply.status == "partial":
            self.emit("warn", "reply cancelled; what arrived is kept" if reply.error == "interrupted"
                      else f"the reply was cut off ({reply.error}); what arrived is kept")
        if leak_check and leak_check(reply.content):
            turn = self._withhold(reply.content, leak_check)
        self.history.append({"role": "assistant", "content": reply.content})
        self.emit("reply_end", turn.content, {"withheld": turn.withheld})
        return turn

    def _withhold(self, content: str, leak_check: Callable[[str], bool]) -> Turn:
        from mentor.session.guard import withhold_code

        self._store("tool", json.dumps({"event": "solution_withheld"}), status="withheld")
        self.emit("warn", "The mentor's code would have passed the hidden tests, so it was withheld. Asking for a hint instead.")
        self.history.append({"role": "assistant", "content": content})
        ask = ("[context] Your previous reply contained code that passes the hidden tests; the tool withheld it from the "
               "learner. Give a hint instead: no code that implements the exercise's functions.")
        self._store("user", ask)
        self.history.append({"role": "user", "content": ask})
        try:
            again = self._stream()
        except Exception:
            return Turn(withhold_code(content), "complete", withheld=True)
        text = again.content
        if leak_check(text):
            text = withhold_code(text)
        return Turn(text, again.status, withheld=True)

    def _failed(self, why: str) -> None:
        self.failures += 1
        self.history.pop()  # keep the history consistent for the next try; the DB keeps the message
        self.emit("warn", f"the mentor could not answer: {why}")
        if self.failures >= MAX_FAILURES:
            self.client = None
            self.emit("warn", "The provider keeps failing: continuing offline (lesson, questions, hints and /check still work).")
        return None

    def side_request(self, messages: list[dict[str, str]]) -> str | None:
        """A one-off request outside the history (the session summary)."""
        if self.client is None:
            return None
        try:
            reply = self.client.stream_chat(messages)
        except Exception:
            return None
        return reply.content if reply.content else None
