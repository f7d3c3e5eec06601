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
