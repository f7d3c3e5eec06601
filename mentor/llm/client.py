"""The streaming chat client for any OpenAI-compatible endpoint.

`LLMClient.stream_chat` streams one reply and always returns a `Reply` (network trouble is a
status, not an exception); only a rejected or missing API key raises (`AuthError`).

- Content and reasoning arrive separately: reasoning from `delta.reasoning_content` (DeepSeek,
  vLLM, DashScope) or `delta.reasoning` (Ollama, newer vLLM). The client never puts reasoning back
  into messages.
- Usage is read from the stream's final chunk (empty `choices`, `usage`) when the provider sends
  it; cached tokens from `prompt_tokens_details.cached_tokens` or DeepSeek's
  `prompt_cache_hit_tokens`. Missing numbers stay None ("unknown").
- A wall-clock deadline covers the whole reply, retries included. The HTTP work runs in a worker
  thread that feeds a queue; this thread waits on the queue with the time left, so neither a
  silent server, SSE keep-alive comments nor a slow drip of tiny chunks can run past it. A reply cut
  by the deadline keeps its text (status "partial"). Ctrl-C while streaming ends the reply the same
  way, with error "interrupted".
- Retries (with exponential backoff; Retry-After honoured, capped) on 429, 5xx and connection
  errors, only while nothing has been streamed. 401/403 are never retried.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import openai
from pydantic import BaseModel

from mentor.errors import MentorError
from mentor.llm.profiles import Profile

RETRY_AFTER_CAP_S = 20.0
CONNECT_TIMEOUT_S = 10.0
REASONING_FIELDS = ("reasoning_content", "reasoning")
NO_KEY = "no-key"  # sent when the endpoint needs no key (the SDK insists on one)
EMPTY_STREAM = "the server returned no tokens — often a chat template or context-size problem"

OnDelta = Callable[[str, str], None]


class AuthError(MentorError):
    """The endpoint rejected the key (401/403), or the key's environment variable is not set."""


@dataclass
class Usage:
    prompt_tokens: int | None
    cached_tokens: int | None
    completion_tokens: int | None
    reasoning_tokens: int | None


@dataclass
class Reply:
    content: str
    reasoning: str
    status: str  # "complete" | "partial" (stream dropped / deadline hit, content kept) | "failed"
    usage: Usage | None
    latency_s: float
    provider: str
    model: str
    error: str | None
    cost_usd: float | None
    attempts: int
    finish_reason: str | None = None
    reasoning_field: str | None = None  # which delta field carried reasoning, if any
    http_status: int | None = None  # status of the last HTTP error, if any
    first_delta_s: float | None = None  # time to the first content/reasoning delta
    error_detail: str | None = None  # the server's whole error body (error is its one-line summary)


@dataclass
class _Acc:
    """What one reply has accumulated so far (across attempts)."""

    content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    usage: Usage | None = None
    finish_reason: str | None = None
    reasoning_field: str | None = None
    delivered: bool = False
    first_delta_s: float | None = None


class _Worker(threading.Thread):
    """Opens the stream and pushes ("chunk", c) ... then ("end", None) or ("error", exc) to a queue."""

    def __init__(self, open_stream: Callable[[], Any]) -> None:
        super().__init__(daemon=True, name="mentor-llm-stream")
        self.open_stream = open_stream
        self.q: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.cancelled = threading.Event()
        self.stream: Any = None

    def run(self) -> None:
        try:
            self.stream = self.open_stream()
            for chunk in self.stream:
                if self.cancelled.is_set():
                    break
                self.q.put(("chunk", chunk))
            self.q.put(("end", None))
        except BaseException as e:  # delivered to the waiting thread
            self.q.put(("error", e))
        finally:
            self._close()

    def cancel(self) -> None:
        self.cancelled.set()
        self._close()

    def _close(self) -> None:
        try:
            if self.stream is not None:
                self.stream.close()
        except Exception:
            pass


class LLMClient:
    """Streams chat replies from one profile's endpoint; see the module docstring."""

    def __init__(self, profile: Profile, *, deadline_s: float = 120.0, max_retries: int = 3, backoff_s: float = 1.0) -> None:
        self.profile = profile
        self.deadline_s = deadline_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.last_replies: list[Reply] = []  # every Reply of the latest complete_json call (for usage/cost records)
        self._sdk: openai.OpenAI | None = None

    # -- public API -------------------------------------------------------------------------
    def stream_chat(self, messages: list[dict], on_delta: OnDelta | None = None, **extra: Any) -> Reply:
        """Stream one reply. `on_delta(kind, text)` gets "content"/"reasoning" chunks as they arrive.

        `extra` goes to `chat.completions.create` (e.g. temperature, max_tokens, response_format,
        extra_body; `deadline_s` overrides the client's deadline for this call).
        """
        deadline_s = float(extra.pop("deadline_s", self.deadline_s))
        sdk = self._client()
        kwargs = self._request_kwargs(messages, extra)
        t0 = time.monotonic()
        deadline_at = t0 + deadline_s
        acc = _Acc()
        attempts, error, http_status, outcome, detail = 0, None, None, "error", None
        while True:
            attempts += 1
            outcome, exc = self._attempt(sdk, kwargs, acc, on_delta, t0, deadline_at)
            if outcome != "error":
                break
            http_status = getattr(exc, "status_code", None)
            if http_status in (401, 403):
                raise self._auth_error(http_status, exc)
            error = self._describe(exc)
            detail = _error_text(exc)
            if acc.delivered or attempts > self.max_retries or not _retryable(exc):
                break
            wait = self._wait_s(exc, attempts)
            if time.monotonic() + wait >= deadline_at:
                error += f" (no time left to retry within the {deadline_s:g}s deadline)"
                break
            try:
                time.sleep(wait)
            except KeyboardInterrupt:
                outcome = "interrupted"
                break
        reply = self._finish(acc, outcome, error, http_status, attempts, t0, deadline_s)
        reply.error_detail = self._redact(detail) if detail and reply.error else None
        return reply

    def complete_json(self, messages: list[dict], model_cls: type[BaseModel]) -> BaseModel:
        """Structured output validated by `model_cls`; see mentor/llm/structured.py."""
        from mentor.llm.structured import complete_json

        return complete_json(self, messages, model_cls)

    # -- one attempt --------------------------------------------------------------------------
    def _attempt(self, sdk: openai.OpenAI, kwargs: dict[str, Any], acc: _Acc, on_delta: OnDelta | None,
                 t0: float, deadline_at: float) -> tuple[str, BaseException | None]:
        """Run one HTTP attempt; returns ("end"|"deadline"|"interrupted"|"error", exc)."""
        remaining = max(0.05, deadline_at - time.monotonic())
        timeout = openai.Timeout(remaining, connect=min(CONNECT_TIMEOUT_S, remaining))
        worker = _Worker(lambda: sdk.chat.completions.create(**kwargs, timeout=timeout))
        worker.start()
        try:
            while True:
                left = deadline_at - time.monotonic()
                if left <= 0:
                    worker.cancel()
                    return "deadline", None
                try:
                    kind, item = worker.q.get(timeout=min(left, 0.25))
                except queue.Empty:
                    continue
                if kind == "end":
                    return "end", None
                if kind == "error":
                    return "error", item
                self._absorb(item, acc, on_delta, t0)
        except KeyboardInterrupt:
            worker.cancel()
            return "interrupted", None

    def _absorb(self, chunk: Any, acc: _Acc, on_delta: OnDelta | None, t0: float) -> None:
        """Fold one stream chunk into the accumulator and forward its text to on_delta."""
        for choice in getattr(chunk, "choices", None) or []:
            delta = getattr(choice, "delta", None)
            if delta is not None:
                for kind, name, text in _delta_texts(delta):
                    if kind == "reasoning":
                        acc.reasoning_field = acc.reasoning_field or name
                        acc.reasoning.append(text)
                    else:
                        acc.content.append(text)
                    if acc.first_delta_s is None:
                        acc.first_delta_s = time.monotonic() - t0
                    acc.delivered = True
                    if on_delta is not None:
                        on_delta(kind, text)
            if getattr(choice, "finish_reason", None):
                acc.finish_reason = choice.finish_reason
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            acc.usage = _usage(usage)

    # -- helpers ------------------------------------------------------------------------------
    def _finish(self, acc: _Acc, outcome: str, error: str | None, http_status: int | None, attempts: int,
                t0: float, deadline_s: float) -> Reply:
        content = "".join(acc.content)
        if outcome == "end":
            if not acc.delivered:
                error = EMPTY_STREAM  # a 200 with nothing in it (finish_reason or not) is its own failure
            elif acc.finish_reason is not None:
                error = None
            else:
                error = "the stream ended before the reply was finished (connection dropped?)"
        elif outcome == "deadline":
            error = f"deadline of {deadline_s:g}s reached"
        elif outcome == "interrupted":
            error = "interrupted"
        status = "complete" if error is None else ("partial" if content else "failed")
        u = acc.usage
        cost = self.profile.cost_usd(u.prompt_tokens, u.cached_tokens, u.completion_tokens) if u else None
        return Reply(content=content, reasoning="".join(acc.reasoning), status=status, usage=u,
                     latency_s=time.monotonic() - t0, provider=self.profile.name, model=self.profile.model,
                     error=self._redact(error), cost_usd=cost, attempts=attempts, finish_reason=acc.finish_reason,
                     reasoning_field=acc.reasoning_field, http_status=http_status, first_delta_s=acc.first_delta_s)

    def _client(self) -> openai.OpenAI:
        if self.profile.key_env and not self.profile.api_key():
            raise AuthError(f"{self.profile.key_env} is not set: the {self.profile.name} profile needs an API key",
                            f"export {self.profile.key_env}=... in your shell, then run `mentor config test`")
        if self._sdk is None:
            self._sdk = openai.OpenAI(api_key=self.profile.api_key() or NO_KEY, base_url=self.profile.base_url,
                                      max_retries=0, timeout=self.deadline_s)
        return self._sdk

    def _request_kwargs(self, messages: list[dict], extra: dict[str, Any]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": self.profile.model, "messages": messages, "stream": True,
                                  "max_tokens": self.profile.max_tokens}  # always bounded: some models never stop
        if self.profile.stream_usage:
            kwargs["stream_options"] = {"include_usage": True}
        body = dict(extra.pop("extra_body", None) or {})
        if self.profile.thinking_switch and self.profile.thinking is not None:
            body.setdefault(self.profile.thinking_switch, self.profile.thinking)
        if body:
            kwargs["extra_body"] = body
        kwargs.update(extra)
        return kwargs

    def _wait_s(self, exc: BaseException, attempt: int) -> float:
        after = _retry_after_s(exc)
        if after is not None:
            return min(after, RETRY_AFTER_CAP_S)
        return self.backoff_s * (2 ** (attempt - 1))

    def _auth_error(self, status: int, exc: BaseException) -> AuthError:
        env = self.profile.key_env
        what = f"set {env} to a valid key" if env else f"this endpoint wants a key: export it as MENTOR_API_KEY or `mentor config set {self.profile.name}.key_env VAR`"
        return AuthError(f"{self.profile.name} rejected the request (HTTP {status}): {what}",
                         "then run `mentor config test` to check the endpoint")

    def _describe(self, exc: BaseException) -> str:
        status = getattr(exc, "status_code", None)
        msg = summarise_error(_error_text(exc))
        if isinstance(exc, openai.APITimeoutError):
            return "the endpoint did not answer in time"
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__
            return f"connection error: {cause or msg}"
        return f"HTTP {status}: {msg}" if status else msg

    def _redact(self, text: str | None) -> str | None:
        key = self.profile.api_key()
        if text and key and len(key) >= 4:
            text = text.replace(key, "***")
        return text


def _delta_texts(delta: Any) -> list[tuple[str, str, str]]:
    """(kind, field name, text) pieces of one delta: reasoning first, then content."""
    out: list[tuple[str, str, str]] = []
    extra = getattr(delta, "model_extra", None) or {}
    for name in REASONING_FIELDS:
        val = getattr(delta, name, None)
        if val is None:
            val = extra.get(name)
        if isinstance(val, str) and val:
            out.append(("reasoning", name, val))
            break
    content = getattr(delta, "content", None)
    if isinstance(content, str) and content:
        out.append(("content", "content", content))
    return out


def _usage(u: Any) -> Usage:
    def num(obj: Any, name: str) -> int | None:
        if obj is None:
            return None
        val = getattr(obj, name, None)
        if val is None:
            val = (getattr(obj, "model_extra", None) or {}).get(name) if not isinstance(obj, dict) else obj.get(name)
        return int(val) if isinstance(val, (int, float)) else None

    cached = num(getattr(u, "prompt_tokens_details", None), "cached_tokens")
    if cached is None:
        cached = num(u, "prompt_cache_hit_tokens")
    return Usage(prompt_tokens=num(u, "prompt_tokens"), cached_tokens=cached,
                 completion_tokens=num(u, "completion_tokens"),
                 reasoning_tokens=num(getattr(u, "completion_tokens_details", None), "reasoning_tokens"))


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIConnectionError):  # includes timeouts
        return True
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and status >= 500 and names_response_format(exc):
        return False  # e.g. llama-cpp-python's 500 for json_schema: retrying cannot help, the next mode can
    return isinstance(status, int) and (status == 429 or status >= 500 or status == 408)


def _error_text(exc: BaseException) -> str:
    """The server's own error message (the SDK keeps the parsed `error` object in .body), else the exception's."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    return getattr(exc, "message", None) or str(exc) or type(exc).__name__


def summarise_error(text: str, limit: int = 240) -> str:
    """One line for the screen from a server's error body: a Python traceback becomes its exception line.
    (The full body stays in the exception and the session's log.)"""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    if not lines:
        return ""
    if any(ln.startswith("Traceback (most recent call last)") for ln in lines):
        exc_lines = [ln for ln in lines if re.match(r"^[\w.]+(Error|Exception|Exit)\b.*:", ln)]
        pick = exc_lines[-1] if exc_lines else lines[-1]
    else:
        pick = lines[0]
    return pick if len(pick) <= limit else pick[: limit - 1] + "…"


def names_response_format(exc: BaseException | str | None) -> bool:
    """Whether an error (or its text) is about the request's response_format / schema support."""
    text = exc if isinstance(exc, str) else (str(getattr(exc, "message", "") or "") + " " + str(getattr(exc, "body", "") or "")
                                            if exc is not None else "")
    low = text.lower()
    return any(k in low for k in ("response_format", "json_schema", "json_object", "response format", "grammar"))


def _retry_after_s(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    try:
        if ms is not None:
            return max(0.0, float(ms) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None
