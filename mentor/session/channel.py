"""The conversation with the LLM mentor: append-only history, streaming, guards, recording.

The learner's words are stored before they are sent; every reply is stored with provider, model,
persona, tokens, cost and latency; reasoning text is stored separately and never sent back.
Code in a reply is held back until the reply is complete and the solution guard has looked at it.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any, Callable

from sqlmodel import Session

from mentor.store.db import now_iso
from mentor.store.models import Message

MAX_FAILURES = 2
RECONNECT_FIRST_S = 20.0   # after going offline, try the provider again after this long ...
RECONNECT_MAX_S = 300.0    # ... doubling up to this
REPLY_MARGIN_TOKENS = 256  # slack for the chat template's own tokens
_OLD_CODE = re.compile(r"\[context\] The learner's (myllm/\w+\.py) now:\n```python\n.*?\n```", re.DOTALL)
_OVERFLOW_WORDS = ("context", "exceed", "too long", "maximum", "n_ctx", "tokens")


def _first_wait() -> float:
    """Seconds before the first reconnection attempt (MENTOR_RECONNECT_S overrides it, for tests and scripts)."""
    import os

    try:
        return max(0.0, float(os.environ.get("MENTOR_RECONNECT_S", RECONNECT_FIRST_S)))
    except ValueError:
        return RECONNECT_FIRST_S


def budget_for(profile: Any) -> int:
    """Prompt tokens a request may use: the model's context minus the reply's max_tokens and a margin."""
    ctx = int(getattr(profile, "context_tokens", 32768) or 32768)
    reply = int(getattr(profile, "max_tokens", 1024) or 1024)
    return max(256, ctx - reply - REPLY_MARGIN_TOKENS)


def estimate_tokens(messages: list[dict[str, str]], chars_per_token: float = 3.0) -> int:
    """Tokens of `messages`, estimated from characters (no tokenizer; the channel calibrates the ratio from the
    usage the server reports). 3 characters per token errs on the safe side for English prose and code."""
    chars = sum(len(m.get("content") or "") + 12 for m in messages)
    return int(chars / chars_per_token) + 1


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
        self.parked: Any = None          # the client while offline after failures; tried again later
        self.retry_at = 0.0
        self.retry_wait = _first_wait()
        self.went_offline = False
        self._reconnecting = False
        self.chars_per_token = 3.0       # conservative until the server reports usage; then calibrated
        self.trimmed = 0                 # old messages left out of requests to stay within the context
        if system:
            self._store("system", system)

    # -- the context budget ----------------------------------------------------------------------
    @property
    def _profile(self) -> Any:
        return getattr(self.client or self.parked, "profile", None)

    def budget_tokens(self) -> int:
        return budget_for(self._profile)

    def estimate(self, messages: list[dict[str, str]]) -> int:
        return estimate_tokens(messages, self.chars_per_token)

    def window(self, messages: list[dict[str, str]] | None = None) -> list[dict[str, str]]:
        """What is sent: the system prompt (byte-stable), then the newest turns that fit the budget.

        Oldest turns go first; the kept part always starts with a user message so roles alternate."""
        msgs = messages if messages is not None else self.history
        head, turns = msgs[:1], list(msgs[1:])
        budget = self.budget_tokens()
        dropped = 0
        while len(turns) > 1 and self.estimate(head + turns) > budget:
            turns.pop(0)
            dropped += 1
            while len(turns) > 1 and turns[0]["role"] != "user":
                turns.pop(0)
                dropped += 1
        self.trimmed = max(self.trimmed, dropped)
        return head + turns

    def _calibrate(self, sent: list[dict[str, str]], prompt_tokens: int | None) -> None:
        if prompt_tokens and prompt_tokens > 50:
            chars = sum(len(m.get("content") or "") + 12 for m in sent)
            self.chars_per_token = min(6.0, max(1.5, chars / prompt_tokens))

    def _drop_old_code(self) -> None:
        """The learner's module travels once, in the newest message: earlier copies are cut from the history
        sent (the database keeps every message whole)."""
        for m in self.history[1:]:
            if m["role"] == "user" and "```python" in m["content"]:
                m["content"] = _OLD_CODE.sub(lambda x: f"[context] (the learner's {x.group(1)} at that time: omitted; "
                                             "the newest message has the current code)", m["content"])

    def new_segment(self, system: str) -> None:
        """A new conversation (new system prompt, recorded) at a unit boundary: the old unit's answer key and
        history do not describe the new unit. Within a segment the system prompt stays byte-identical."""
        self.history = [{"role": "system", "content": system}]
        self._store("tool", json.dumps({"event": "new_segment"}), status="segment")
        self._store("system", system)

    # -- going offline and coming back -----------------------------------------------------------
    def maybe_reconnect(self) -> bool:
        """Offline after failures and the backoff has passed: try the provider again on this message."""
        if self.client is None and self.parked is not None and time.monotonic() >= self.retry_at:
            self.client, self.parked = self.parked, None
            self.failures = MAX_FAILURES - 1  # one more failure parks it again, with a longer wait
            self._reconnecting = True
            return True
        return False

    @property
    def online(self) -> bool:
        return self.client is not None

    def _mark_session(self, column: str) -> None:
        from mentor.store.models import Session as SessionRow

        with Session(self.db) as s:
            row = s.get(SessionRow, self.session_id)
            if row is not None:
                setattr(row, column, now_iso())
                s.add(row)
                s.commit()

    def note(self, role: str, content: str) -> None:
        """A transcript entry that is not part of the conversation sent to the LLM: a question the tool asked
        ("question"), the learner's answer or self-assessment ("user"), the tool's verdict ("verdict")."""
        self._store(role, content)

    def _store(self, role: str, content: str, **kw: Any) -> None:
        with Session(self.db) as s:
            s.add(Message(session_id=self.session_id, created_at=now_iso(), role=role, content=content, **kw))
            s.commit()

    def _stream(self) -> Any:
        held = FenceFilter(lambda t: self.emit("delta", t))
        sent = self.window()
        reply = self.client.stream_chat(sent, on_delta=lambda kind, t: held.feed(t) if kind == "content" else self.emit("reasoning", t))
        u = reply.usage
        self._calibrate(sent, getattr(u, "prompt_tokens", None))
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
        self._drop_old_code()
        self.history.append({"role": "user", "content": content})
        need = self.estimate(self.history[:1] + self.history[-1:])
        if need > self.budget_tokens():
            self.history.pop()
            self.emit("warn", f"Not sent: the system prompt and this message need ~{need} tokens, more than the "
                              f"{self._profile.context_tokens}-token context of {self._profile.model} allows "
                              f"(minus {self._profile.max_tokens} for the reply). Use a server/model with a larger "
                              "context (README: local servers), or a shorter message. Your message is saved.")
            return None
        try:
            reply = self._stream()
        except Exception as e:  # auth errors and the like: the session goes on offline
            return self._failed(str(getattr(e, "message", e)))
        if reply.error == "interrupted" and not reply.content:  # Ctrl-C before any text: the learner's choice
            self.history.pop()
            self.emit("warn", "reply cancelled (your message is saved)")
            return None
        if reply.status == "failed" or (reply.status == "partial" and not reply.content):
            self._store("tool", json.dumps({"event": "provider_error", "http_status": reply.http_status,
                                            "error": reply.error_detail or reply.error}), status="error")  # the whole text, for `mentor log`
            return self._failed(self._why(reply))
        self.failures = 0
        if self._reconnecting:
            self._reconnecting = False
            self.retry_wait = _first_wait()
            self._store("tool", json.dumps({"event": "back_online"}), status="online")
            self._mark_session("back_online_at")
            self.emit("info", "The mentor is back online.")
        turn = Turn(reply.content, reply.status)
        if reply.status == "partial":
            self.emit("warn", "reply cancelled; what arrived is kept" if reply.error == "interrupted"
                      else f"the reply was cut off ({reply.error}); what arrived is kept")
        if leak_check and leak_check(reply.content):
            turn = self._withhold(reply.content, leak_check)  # appends both replies and the tool's request
        else:
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
            again = None
        if again is None or not again.content:
            self.history.pop()  # the request for a hint got no answer: roles must keep alternating
            return Turn(withhold_code(content), "complete", withheld=True)
        self.history.append({"role": "assistant", "content": again.content})
        text = again.content
        if leak_check(text):
            text = withhold_code(text)
        return Turn(text, again.status, withheld=True)

    def _why(self, reply: Any) -> str:
        """The failure in the learner's terms; a (probable) context overflow is named as such, with the numbers."""
        from mentor.llm.client import EMPTY_STREAM

        err = (reply.error or "no reply").splitlines()[0][:300]
        low = err.lower()
        prof, sent = self._profile, self.estimate(self.window())
        overflow = reply.http_status in (400, 413) and sum(w in low for w in _OVERFLOW_WORDS) >= 2
        if overflow or (err == EMPTY_STREAM and sent > 2048):
            return (f"{err} — probably the context window: this request is ~{sent} tokens and {prof.name} is configured "
                    f"for {prof.context_tokens}. If the server's window is smaller, set context_tokens of the profile "
                    f"{prof.name} to it once this session is over (README: local servers), or start the server with a "
                    "larger context")
        return err

    def _failed(self, why: str) -> None:
        self.failures += 1
        self.history.pop()  # keep the history consistent for the next try; the DB keeps the message
        self.emit("warn", f"the mentor could not answer: {why}")
        if self.failures >= MAX_FAILURES:
            was_reconnecting = self._reconnecting
            self._reconnecting = False
            self.parked, self.client = self.client, None
            self.retry_at = time.monotonic() + self.retry_wait
            if was_reconnecting:
                self.retry_wait = min(RECONNECT_MAX_S, self.retry_wait * 2)
            if not self.went_offline:
                self.went_offline = True
                self._store("tool", json.dumps({"event": "went_offline", "why": why[:300]}), status="offline")
                self._mark_session("went_offline_at")
            self.emit("warn", f"The provider keeps failing: continuing offline (lesson, questions, hints and /check still "
                              f"work). The mentor is tried again with your next message after {self.retry_wait:.0f} s.")
        return None

    def side_request(self, messages: list[dict[str, str]]) -> str | None:
        """A one-off request outside the history (the session summary)."""
        if self.client is None:
            return None
        try:
            reply = self.client.stream_chat(self.window(messages), max_tokens=400)
        except Exception:
            return None
        return reply.content if reply.status == "complete" and reply.content else None
