"""Structured output: get a reply that validates against a pydantic model, whatever the endpoint supports.

Modes, tried from the profile's `structured_output` downwards when the endpoint rejects one with
HTTP 400/422: `json_schema` (response_format with the model's JSON schema) -> `json_object`
(response_format {"type": "json_object"}) -> `none` (ask for a fenced ```json block and extract it).
Every mode also appends one user message with the schema and the instruction, so the prefix of
`messages` (and the provider's prompt cache) is untouched. A reply that does not parse or validate
gets one repair retry with the error sent back; still invalid -> MentorError.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from mentor.errors import MentorError

if TYPE_CHECKING:
    from mentor.llm.client import LLMClient, Reply

_CHAIN = {"json_schema": ["json_schema", "json_object", "none"], "json_object": ["json_object", "none"], "none": ["none"]}
_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


def mode_chain(mode: str) -> list[str]:
    """The modes to try, best first, starting from the profile's mode."""
    return list(_CHAIN.get(mode, _CHAIN["none"]))


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
    if mode == "json_object":
        return {"type": "json_object"}
    return None


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
        msgs = list(messages) + [{"role": "user", "content": instruction(model_cls, mode)}]
        extra: dict[str, Any] = {}
        fmt = response_format(model_cls, mode)
        if fmt is not None:
            extra["response_format"] = fmt
        reply = client.stream_chat(msgs, **extra)
        client.last_replies.append(reply)
        if reply.status != "complete" and reply.http_status in (400, 422) and fmt is not None:
            continue  # the endpoint rejected this response_format: try the next mode
        if reply.status != "complete":
            raise MentorError(f"the {client.profile.name} endpoint failed: {reply.error}", "run `mentor config test`")
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
