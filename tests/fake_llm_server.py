"""A real, scripted OpenAI-compatible HTTP server on 127.0.0.1 for tests (stdlib only).

Implements POST /v1/chat/completions (streamed as SSE with chunked encoding, or not) and
GET /v1/models. Each chat request takes the next scenario from a queue (the first whose optional
`match` substring occurs in the request body); when the queue is empty the `default` scenario
answers. Every request (method, path, headers with lower-case names, JSON body) is recorded
in `requests`; the --log file gets the same with the Authorization value redacted.

A scenario is a dict; every key is optional:

    content          list of content deltas (a str is one delta)        default ["ok"]
    reasoning        list of reasoning deltas, sent before the content
    reasoning_field  "reasoning_content" (default) or "reasoning"
    usage            dict sent as a final chunk with empty choices when the request asks for
                     stream_options.include_usage; absent: computed; null: never sent
    keepalive        number of ": keep-alive" SSE comments before every data event
    delay_s          sleep before every event (comments included): a slow drip
    hang_s           sleep before sending anything at all (a silent server)
    disconnect_after drop the connection after this many content deltas (no finish, no [DONE])
    finish_reason    default "stop"
    status           HTTP status (default 200); != 200 sends {"error": {...}} with `error` as message
    headers          extra response headers, e.g. {"Retry-After": "1"}
    match            only serve requests whose body contains this substring

    endless          stream content deltas ("word ") until the request's max_tokens (finish "length"),
                     or until MAX_HANDLER_S without one: a model that never stops

Server options (faults seen on real local servers):
- `accept_formats`: response_format types accepted ("json_object+schema" is llama-cpp-python's
  {"type": "json_object", "schema": ...}); others get `reject_status` (default 400; llama-cpp-python
  answers json_schema with a 500 and a Python traceback, `reject_body`) without consuming a scenario.
- `alternating_roles`: two messages of the same role in a row get an empty 200 stream (Gemma-family
  chat templates).
- `context_tokens`: a request whose prompt (chars / 4) plus max_tokens exceeds it gets an empty 200
  stream, as llama.cpp servers answer "Requested tokens exceed context window".
Loops are bounded (MAX_HANDLER_S) and stop when the server stops.

From another process (e.g. to drive `mentor start` in a pty):

    python tests/fake_llm_server.py --script scenario.json --port-file F [--log requests.jsonl]

where scenario.json is a list of scenarios or {"scenarios": [...], "default": {...},
"accept_formats": [...]}; the port is written to F once the server listens, requests are
appended to the log as JSON lines, and the server exits on SIGTERM/SIGINT or after --lifetime s.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MAX_HANDLER_S = 60.0
MAX_EVENTS = 10_000


class FakeLLMServer:
    """Context manager: `with FakeLLMServer([...]) as srv: srv.base_url, srv.requests, srv.push(...)`."""

    def __init__(self, scenarios: list[dict] | None = None, *, default: dict | None = None,
                 accept_formats: list[str] | None = None, log_path: str | os.PathLike | None = None,
                 port: int = 0, reject_status: int = 400, reject_body: str | None = None,
                 alternating_roles: bool = False, context_tokens: int | None = None) -> None:
        self.reject_status, self.reject_body = reject_status, reject_body
        self.alternating_roles, self.context_tokens = alternating_roles, context_tokens
        self.scenarios: list[dict] = list(scenarios or [])
        self.default: dict = default if default is not None else {"content": ["ok"]}
        self.accept_formats = accept_formats
        self.requests: list[dict] = []
        self.log_path = Path(log_path) if log_path else None
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", port), _Handler)
        self._httpd.fake = self
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def push(self, *scenarios: dict) -> None:
        with self.lock:
            self.scenarios.extend(scenarios)

    def start(self) -> "FakeLLMServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "FakeLLMServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def chat_requests(self) -> list[dict]:
        """Bodies of the chat-completion requests, in order."""
        return [r["body"] for r in self.requests if r["path"].endswith("/chat/completions")]

    # -- used by the handler -------------------------------------------------------------
    def record(self, entry: dict) -> None:
        with self.lock:
            self.requests.append(entry)
            if self.log_path:  # the on-disk log never holds the Authorization value
                headers = {k: ("(redacted)" if k.lower() == "authorization" else v) for k, v in entry["headers"].items()}
                with self.log_path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps({**entry, "headers": headers}) + "\n")

    def next_scenario(self, raw_body: str) -> dict:
        with self.lock:
            for i, sc in enumerate(self.scenarios):
                if not sc.get("match") or sc["match"] in raw_body:
                    return self.scenarios.pop(i)
            return dict(self.default)

    def sleep(self, seconds: float) -> bool:
        """Sleep unless the server stops; False when stopping."""
        return not self.stopping.wait(max(0.0, min(seconds, MAX_HANDLER_S)))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeLLMServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # -- routes ------------------------------------------------------------------------------
    def do_GET(self) -> None:
        fake = self.server.fake
        fake.record({"method": "GET", "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": None})
        if self.path.rstrip("/").endswith("/props") and fake.context_tokens:  # llama.cpp's server reports n_ctx here
            self._json(200, {"default_generation_settings": {"n_ctx": fake.context_tokens}})
        elif self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [{"id": "fake-model", "object": "model", "owned_by": "fake"}]})
        else:
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        try:
            body = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            body = {"_unparsed": raw}
        fake.record({"method": "POST", "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
        if not self.path.rstrip("/").endswith("/chat/completions"):
            return self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
        rf = body.get("response_format") if isinstance(body.get("response_format"), dict) else {}
        fmt = rf.get("type")
        key = f"{fmt}+schema" if fmt == "json_object" and "schema" in rf else fmt
        if fmt and fake.accept_formats is not None and fmt not in fake.accept_formats and key not in fake.accept_formats:
            msg = fake.reject_body or f"response_format type {fmt} is not supported"
            return self._json(fake.reject_status, {"error": {"message": msg, "type": "invalid_request_error",
                                                             "param": "response_format"}})
        msgs = body.get("messages") or []
        same_role = any(a.get("role") == b.get("role") for a, b in zip(msgs, msgs[1:]))
        prompt_tokens = sum(len(str(m.get("content", ""))) for m in msgs) // 4
        overflow = fake.context_tokens is not None and prompt_tokens + int(body.get("max_tokens") or 0) > fake.context_tokens
        if body.get("stream") and ((fake.alternating_roles and same_role) or overflow):
            return self._stream(body, {"content": [], "usage": None, "finish_reason": "stop"})
        sc = fake.next_scenario(raw)
        if sc.get("hang_s") and not fake.sleep(float(sc["hang_s"])):
            return
        status = int(sc.get("status", 200))
        if status != 200:
            return self._json(status, {"error": {"message": sc.get("error", f"scripted HTTP {status}"),
                                                 "type": "scripted_error"}}, sc.get("headers"))
        if body.get("stream"):
            self._stream(body, sc)
        else:
            self._complete(body, sc)

    # -- responses ---------------------------------------------------------------------------
    def _json(self, status: int, payload: dict, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        self.wfile.write(data)

    def _complete(self, body: dict, sc: dict) -> None:
        content = "".join(_as_list(sc.get("content", ["ok"])))
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if sc.get("reasoning"):
            message[sc.get("reasoning_field", "reasoning_content")] = "".join(_as_list(sc["reasoning"]))
        usage = sc.get("usage", "auto")
        payload = {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                   "model": body.get("model", "fake-model"),
                   "choices": [{"index": 0, "message": message, "finish_reason": sc.get("finish_reason", "stop")}]}
        if usage is not None:
            payload["usage"] = _auto_usage(body, sc) if usage == "auto" else usage
        self._json(200, payload, sc.get("headers"))

    def _stream(self, body: dict, sc: dict) -> None:
        started = time.monotonic()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for k, v in (sc.get("headers") or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        model = body.get("model", "fake-model")
        delay, keepalive = float(sc.get("delay_s", 0)), int(sc.get("keepalive", 0))
        events: list[dict | str] = []
        field = sc.get("reasoning_field", "reasoning_content")
        events += [_chunk(model, {field: t}) for t in _as_list(sc.get("reasoning", []))]
        content = _as_list(sc.get("content", ["ok"]))
        finish = sc.get("finish_reason", "stop")
        if sc.get("endless"):
            limit = int(body.get("max_tokens") or MAX_EVENTS)
            content, finish = ["word "] * min(limit, MAX_EVENTS - 10), "length"
        cut = sc.get("disconnect_after")
        for i, t in enumerate(content):
            if cut is not None and i >= int(cut):
                events.append("DISCONNECT")
                break
            events.append(_chunk(model, {"content": t}))
        else:
            events.append(_chunk(model, {}, finish))
            usage = sc.get("usage", "auto")
            if usage is not None and (body.get("stream_options") or {}).get("include_usage"):
                events.append({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                               "model": model, "choices": [],
                               "usage": _auto_usage(body, sc) if usage == "auto" else usage})
            events.append("[DONE]")
        try:
            for ev in events[:MAX_EVENTS]:
                for _ in range(keepalive):
                    if not self._pause(delay, started):
                        return self._abort()
                    self._write_chunk(b": keep-alive\n\n")
                if not self._pause(delay, started):
                    return self._abort()
                if ev == "DISCONNECT":
                    return self._abort()
                data = "[DONE]" if ev == "[DONE]" else json.dumps(ev)
                self._write_chunk(f"data: {data}\n\n".encode())
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True

    def _pause(self, delay: float, started: float) -> bool:
        if time.monotonic() - started > MAX_HANDLER_S:
            return False
        return self.server.fake.sleep(delay) if delay > 0 else not self.server.fake.stopping.is_set()

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _abort(self) -> None:
        """Drop the connection mid-body: the client sees an incomplete chunked response."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _as_list(v: Any) -> list[str]:
    return [v] if isinstance(v, str) else [str(x) for x in v]


def _chunk(model: str, delta: dict, finish: str | None = None) -> dict:
    return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def _auto_usage(body: dict, sc: dict) -> dict:
    prompt = sum(len(str(m.get("content", ""))) // 4 + 1 for m in body.get("messages", []))
    completion = sum(len(t) // 4 + 1 for t in _as_list(sc.get("content", ["ok"])) + _as_list(sc.get("reasoning", [])))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--script", help="JSON file: a list of scenarios or {scenarios, default, accept_formats}")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", help="write the port here once listening")
    ap.add_argument("--log", help="append every request as a JSON line to this file")
    ap.add_argument("--lifetime", type=float, default=3600.0, help="exit after this many seconds")
    args = ap.parse_args(argv)
    script: Any = json.loads(Path(args.script).read_text()) if args.script else {}
    if isinstance(script, list):
        script = {"scenarios": script}
    srv = FakeLLMServer(script.get("scenarios"), default=script.get("default"),
                        accept_formats=script.get("accept_formats"), log_path=args.log, port=args.port,
                        reject_status=script.get("reject_status", 400), reject_body=script.get("reject_body"),
                        alternating_roles=script.get("alternating_roles", False),
                        context_tokens=script.get("context_tokens"))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    with srv:
        if args.port_file:
            tmp = Path(args.port_file + ".tmp")
            tmp.write_text(str(srv.port))
            tmp.replace(args.port_file)
        print(f"fake LLM server on {srv.base_url}", file=sys.stderr, flush=True)
        done.wait(args.lifetime)
    return 0


if __name__ == "__main__":
    sys.exit(main())
