"""Structured output: get a reply that validates against a pydantic model, whatever the endpoint supports.

Modes, tried from the profile's `structured_output` downwards when the endpoint rejects one:
`json_schema` (response_format with the model's JSON schema) -> `json_object_schema`
(llama-cpp-python's {"type": "json_object", "schema": ...}) -> `json_object` (response_format
{"type": "json_object"}) -> `none` (ask for a fenced ```json block and extract it). A rejection is an
HTTP 400/422, any 4xx/5xx whose body names the response format, or an empty stream (templates and
grammars that cannot handle the request answer with nothing). The mode that worked is remembered on
the profile for the rest of the process.

The schema instruction goes INSIDE the last user message (a copy; the caller's list is untouched):
chat templates that require alternating roles (Gemma-family) answer two user messages in a row with an
empty stream, so two same-role messages are never sent. A reply that does not parse or validate gets
one repair retry with the error sent back; still invalid -> MentorError.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from mentor.errors import MentorError

if TYPE_CHECKING:
    from mentor.llm.client import LLMClient, Reply

_ORDER = ["json_schema", "json_object_schema", "json_object", "none"]
_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


def mode_chain(mode: str) -> list[str]:
    """The modes to try, best first, starting from the profile's mode."""
    return _ORDER[_ORDER.index(mode):] if mode in _ORDER else ["none"]


def instruction(model_cls: type[BaseModel], mode: str) -> str:
    """The user message that asks for JSON matching the model's schema."""
    schema = json.dumps(model_cls.model_json_schema(), separators=(",", ":"))
    if mode == "none":
        return ("Reply with one JSON object that matches this JSON schema, inside a single ```json fenced block, "
                f"and nothing else.\nSchema: {schema}")
    return f"Reply with only a JSON object (no prose, no code fence) that matches this JSON schema.\nSchema: {schema}"


def response_format(model_cls: type[BaseModel], mode: str) -> dict[str, Any] | None:
    """The `response_format` request field for a mode (None for `none`)."""
    if mode == "json_schema":
        name = re.sub(r"[^A-Za-z0-9_-]", "_", model_cls.__name__)[:64] or "reply"
        return {"type": "json_schema", "json_schema": {"name": name, "schema": model_cls.model_json_schema(), "strict": False}}
    if mode == "json_object_schema":
        return {"type": "json_object", "schema": model_cls.model_json_schema()}
    if mode == "json_object":
        return {"type": "json_object"}
    return None


def with_instruction(messages: list[dict], text: str) -> list[dict]:
    """`messages` with `text` appended to the last user message (or as a new user message after an assistant
    or system one), so that roles keep alternating. The caller's dicts are not modified."""
    msgs = [dict(m) for m in messages]
    if msgs and msgs[-1].get("role") == "user" and isinstance(msgs[-1].get("content"), str):
        msgs[-1]["content"] = msgs[-1]["content"].rstrip() + "\n\n" + text
    else:
        msgs.append({"role": "user", "content": text})
    return msgs


def rejected_mode(reply: "Reply") -> bool:
    """Did the endpoint refuse this structured-output mode (so the next mode may work)?"""
    from mentor.llm.client import EMPTY_STREAM, names_response_format

    if reply.status == "complete":
        return False
    if reply.error == EMPTY_STREAM:
        return True
    status = reply.http_status
    return status in (400, 422) or (isinstance(status, int) and status >= 400
                                    and names_response_format(reply.error_detail or reply.error))


def extract_json(text: str) -> Any:
    """Parse the JSON in a reply: a fenced block, else the whole text, else the outermost {...}."""
    candidates: list[str] = [m.group(1) for m in _FENCE.finditer(text)]
    candidates.append(text.strip())
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start:end + 1])
    last: Exception | None = None
    for c in candidates:
        try:
            return json.loads(c)
        except json.JSONDecodeError as e:
            last = e
    raise ValueError(f"no JSON object found in the reply ({last})" if last else "empty reply")


def parse(text: str, model_cls: type[BaseModel]) -> BaseModel:
    """Extract and validate; raises ValueError with a short, model-readable message."""
    data = extract_json(text)
    try:
        return model_cls.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in e.errors()[:8])
        raise ValueError(f"the JSON does not match the schema: {problems}") from None


def complete_json(client: "LLMClient", messages: list[dict], model_cls: type[BaseModel]) -> BaseModel:
    """See the module docstring. Every Reply is kept in client.last_replies (usage, cost)."""
    client.last_replies = []
    reply: Reply | None = None
    for mode in mode_chain(client.profile.structured_output):
        msgs = with_instruction(messages, instruction(model_cls, mode))
        extra: dict[str, Any] = {}
        fmt = response_format(model_cls, mode)
        if fmt is not None:
            extra["response_format"] = fmt
        reply = client.stream_chat(msgs, **extra)
        client.last_replies.append(reply)
        if rejected_mode(reply) and mode != "none":
            continue  # the endpoint cannot do this mode: try the next one
        if reply.status != "complete":
            raise MentorError(f"the {client.profile.name} endpoint failed: {reply.error}", "run `mentor config test`")
        if mode != client.profile.structured_output:
            from mentor.llm.config import remember

            client.profile.structured_output = mode  # for the rest of this process, and in config.toml
            remember(client.profile, "structured_output", mode)
        try:
            return parse(reply.content, model_cls)
        except ValueError as first:
            repair = msgs + [
                {"role": "assistant", "content": reply.content},
                {"role": "user", "content": f"That reply was invalid: {first}. Reply again with only the corrected JSON."},
            ]
            reply = client.stream_chat(repair, **extra)
            client.last_replies.append(reply)
            if reply.status != "complete":
                raise MentorError(f"the {client.profile.name} endpoint failed: {reply.error}", "run `mentor config test`")
            try:
                return parse(reply.content, model_cls)
            except ValueError as second:
                raise MentorError(f"{client.profile.model} did not produce a valid {model_cls.__name__}: {second}",
                                  "try again, or another model (`mentor config set PROFILE.model ...`)") from None
    err = reply.error if reply is not None else "no structured-output mode available"
    raise MentorError(f"the {client.profile.name} endpoint rejected every structured-output mode: {err}",
                      "run `mentor config test`")
