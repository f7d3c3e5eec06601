"""`mentor config test`: one tiny streamed call, then which structured-output modes work.

The first call measures latency and time to first token, and notes whether the stream carried
usage and a reasoning field. Then each structured-output mode is tried once with a one-field
schema: json_schema and json_object via response_format, none via a fenced ```json block.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel

from mentor.errors import MentorError
from mentor.llm.client import LLMClient, Reply
from mentor.llm.profiles import STRUCTURED_MODES, Profile
from mentor.llm.structured import instruction, parse, rejected_mode, response_format, with_instruction

PING = [{"role": "user", "content": "This is a connection test. Reply with the single word: ok"}]


class _Ping(BaseModel):
    ok: bool


@dataclass
class ProbeResult:
    profile: Profile
    reply: Reply
    modes: dict[str, str] = field(default_factory=dict)  # mode -> "ok" | why not
    context_tokens: int | None = None  # the context window the server reports, when it reports one
    context_source: str = ""

    @property
    def usage_in_stream(self) -> bool:
        return self.reply.usage is not None

    @property
    def best_mode(self) -> str | None:
        return next((m for m in STRUCTURED_MODES if self.modes.get(m) == "ok"), None)


def probe(profile: Profile, *, deadline_s: float = 60.0, structured: bool = True) -> ProbeResult:
    """Run the test calls; raises AuthError / MentorError when the endpoint cannot be used at all."""
    client = LLMClient(profile, deadline_s=deadline_s, max_retries=1, backoff_s=0.5)
    reply = client.stream_chat(PING, max_tokens=16)
    if reply.status == "failed":
        raise MentorError(f"{profile.name} at {profile.base_url} failed: {reply.error}",
                          "check the URL and model (`mentor config show`); is the server running?")
    result = ProbeResult(profile=profile, reply=reply)
    result.context_tokens, result.context_source = server_context(profile)
    if structured:
        for mode in STRUCTURED_MODES:
            result.modes[mode] = _try_mode(client, mode)
    return result


def _try_mode(client: LLMClient, mode: str) -> str:
    msgs = with_instruction([{"role": "user", "content": 'Answer with {"ok": true}.'}], instruction(_Ping, mode))
    fmt = response_format(_Ping, mode)
    reply = client.stream_chat(msgs, max_tokens=64, **({"response_format": fmt} if fmt else {}))
    if reply.status != "complete":
        why = f"HTTP {reply.http_status}" if reply.http_status else (reply.error or "failed")
        return f"rejected ({why})" if rejected_mode(reply) else f"failed: {why}"
    try:
        parse(reply.content, _Ping)
    except ValueError as e:
        return f"invalid reply: {str(e)[:80]}"
    return "ok"


def server_context(profile: Profile, timeout_s: float = 5.0) -> tuple[int | None, str]:
    """The context window the server itself reports (best effort, no tokens spent): llama.cpp's /props
    (n_ctx), vLLM's /v1/models (max_model_len), Ollama's /api/show (num_ctx when the model sets it)."""
    import json
    import urllib.error
    import urllib.request

    base = profile.base_url.rstrip("/")
    root = base[:-3] if base.endswith("/v1") else base
    headers = {"Authorization": f"Bearer {profile.api_key()}"} if profile.api_key() else {}

    def get(url: str, method: str = "GET", body: dict | None = None) -> dict | None:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={**headers, **({"Content-Type": "application/json"} if data else {})})
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as r:  # noqa: S310 (the user's own endpoint)
                return json.loads(r.read().decode("utf-8", "replace")) if r.status == 200 else None
        except (urllib.error.URLError, OSError, ValueError):
            return None

    props = get(f"{root}/props")
    n = ((props or {}).get("default_generation_settings") or {}).get("n_ctx") if isinstance(props, dict) else None
    if isinstance(n, int) and n > 0:
        return n, "the server's /props (n_ctx)"
    models = get(f"{base}/models")
    for m in (models or {}).get("data", []) if isinstance(models, dict) else []:
        if isinstance(m, dict) and m.get("id") == profile.model and isinstance(m.get("max_model_len"), int):
            return m["max_model_len"], "the server's /models (max_model_len)"
    show = get(f"{root}/api/show", "POST", {"model": profile.model})
    params = (show or {}).get("parameters", "") if isinstance(show, dict) else ""
    for line in str(params).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "num_ctx" and parts[1].isdigit():
            return int(parts[1]), "Ollama's model parameters (num_ctx)"
    return None, ""
